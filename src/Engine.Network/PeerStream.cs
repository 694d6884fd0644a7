using System.Net.Sockets;

namespace Engine.Network;

/// <summary>
/// The stream of a client's connection, where the client resetting the connection (RST) ends the input
/// as a close does, and <see cref="PeerReset"/> says so. Many clients reset rather than close once they
/// have their last reply (Postfix's smtp-source does, after QUIT): through a plain <see cref="NetworkStream"/>
/// each of those is an exception, thrown again at every asynchronous frame between the socket and the read
/// loop, several per connection. Here it is caught where the socket raises it, once. Only the
/// <see cref="Memory{T}"/> overload of ReadAsync is changed, the one <c>PipeReader</c> and <c>SslStream</c> call; the
/// others still throw on a reset.
/// </summary>
public sealed class PeerStream(Socket socket, bool ownsSocket) : NetworkStream(socket, ownsSocket)
{
    /// <summary>The input ended because the peer reset the connection.</summary>
    public bool PeerReset { get; private set; }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var read = Socket.ReceiveAsync(buffer, SocketFlags.None, cancellationToken);
        return read.IsCompletedSuccessfully ? read : Completed(read);
    }

    private async ValueTask<int> Completed(ValueTask<int> read)
    {
        try
        {
            return await read.ConfigureAwait(false);
        }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionReset or SocketError.ConnectionAborted)
        {
            PeerReset = true;
            return 0;
        }
        catch (SocketException e)
        {
            // What NetworkStream would throw, so callers see the same exception either way.
            throw new IOException($"Unable to read data from the transport connection: {e.Message}.", e);
        }
    }
}
