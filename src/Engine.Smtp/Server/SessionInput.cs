using System.Buffers;
using Engine.Primitives;
using Engine.Protocols.Smtp;

namespace Engine.Smtp.Server;

/// <summary>What the connection's I/O loop tells its <see cref="SmtpSession"/> actor. Local only.</summary>
internal static class SessionInput
{
    /// <param name="Followed">More input had already arrived behind the command (the client did not wait for its reply).</param>
    public sealed record Command(SmtpCommand Value, bool Followed = false);

    public sealed record Refused(SmtpSyntaxError Error, string? Detail);

    /// <summary>DATA has been read to its end; the body is committed unless <paramref name="Rejection"/> or <paramref name="Error"/>.</summary>
    public sealed record DataRead(long Size, SmtpReply? Rejection, Exception? Error);

    /// <summary>One BDAT chunk has been read (and, for the last, committed).</summary>
    public sealed record ChunkRead(long ChunkSize, bool Last, SmtpReply? Rejection, Exception? Error);

    /// <summary>The client closed the connection, or it broke.</summary>
    public sealed record Closed(Exception? Error);

    /// <summary>No complete line arrived in time.</summary>
    public sealed record TimedOut;

    /// <summary>The line a client sent in answer to a 334 challenge (base64, or "*" to cancel).</summary>
    public sealed record SaslResponse(string Line);

    /// <summary>The TLS handshake after STARTTLS is done: "TLSv1.3 with cipher ...".</summary>
    public sealed record TlsStarted(string Description);
}

/// <summary>
/// Where the I/O loop puts the octets of a message: the session makes it when it accepts DATA or the
/// first BDAT, and keeps it across BDAT chunks.
/// </summary>
internal sealed class BodyTarget(Storage.Blobs.IBlobWriter writer, ReadOnlyMemory<byte> prefix, BodyDecoder decoder,
    Filtering.Content.ContentScanner? scanner = null)
{
    /// <summary>The content checks the text passes through on its way to the spool, when any are configured.</summary>
    public Filtering.Content.ContentScanner? Scanner { get; } = scanner;

    public Storage.Blobs.IBlobWriter Writer { get; } = writer;
    public BodyDecoder Decoder { get; } = decoder;
    public ReadOnlyMemory<byte> Prefix { get; private set; } = prefix;

    /// <summary>Puts the Received: header in front of the message text, once.</summary>
    public void TakePrefix(IBufferWriter<byte> output)
    {
        if (Prefix.IsEmpty)
            return;
        Decoder.AddPrefix(Prefix.Length);
        output.Write(Prefix.Span);
        Prefix = ReadOnlyMemory<byte>.Empty;
    }
}
