using System.Net;
using System.Net.Sockets;
using System.Security.Authentication;
using Engine.Messages;
using Engine.Primitives;

namespace Engine.Delivery.Smtp;

/// <summary>
/// One message to one server on a connection of its own (<see cref="SmtpClientConnection"/>), with every
/// failure turned into replies: 4.4.1 when the server could not be reached (no connection, no greeting;
/// another MX may be tried), 4.4.2 when the conversation broke after it began (the message may have
/// arrived, so no other MX now), and the server's own reply when it refused to talk.
/// </summary>
public static class OutboundSmtp
{
    public static async Task<IReadOnlyList<RecipientOutcome>> SendAsync(IPEndPoint server, string helo, Envelope envelope,
        Func<Stream> openBody, SmtpClientTimeouts timeouts, CancellationToken ct = default, bool tls = true)
    {
        SmtpClientConnection connection;
        try
        {
            connection = await SmtpClientConnection.OpenAsync(server, helo, tls, timeouts, ct).ConfigureAwait(false);
        }
        catch (SmtpSessionRefusedException refused)
        {
            return All(envelope, refused.Reply);
        }
        catch (Exception e) when (IsNetwork(e))
        {
            return All(envelope, Unreachable(server, e));
        }
        await using (connection)
            return await SendOnAsync(connection, envelope, openBody, quit: true).ConfigureAwait(false);
    }

    /// <summary>Sends on an open session; a broken conversation is 4.4.2 for every recipient.</summary>
    public static async Task<IReadOnlyList<RecipientOutcome>> SendOnAsync(SmtpClientConnection connection, Envelope envelope, Func<Stream> openBody,
        bool quit)
    {
        try
        {
            var outcomes = await connection.SendAsync(envelope, openBody).ConfigureAwait(false);
            if (quit)
                await connection.QuitAsync().ConfigureAwait(false);
            return outcomes;
        }
        catch (Exception e) when (IsNetwork(e))
        {
            var reason = e is OperationCanceledException ? "conversation timed out" : e.Message;
            return All(envelope, new SmtpReply(451, "4.4.2", $"delivery to {connection.Server} failed: {reason}"));
        }
    }

    /// <summary>Failures of the network or of the peer's manners (not of this program).</summary>
    public static bool IsNetwork(Exception e) =>
        e is SocketException or IOException or OperationCanceledException or FormatException or AuthenticationException;

    /// <summary>4.4.1: no connection, or no greeting.</summary>
    public static SmtpReply Unreachable(IPEndPoint server, Exception e) =>
        new(451, "4.4.1", $"delivery to {server} failed: {(e is OperationCanceledException ? "conversation timed out" : e.Message)}");

    public static IReadOnlyList<RecipientOutcome> All(Envelope envelope, SmtpReply reply) =>
        envelope.Recipients.Select(r => new RecipientOutcome(r.Address, reply)).ToArray();
}
