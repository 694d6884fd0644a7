using System.Buffers;
using System.Globalization;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Engine.Messages;
using Engine.Primitives;
using Engine.Protocols.Smtp;

namespace Engine.Delivery.Smtp;

/// <summary>The outcome for one recipient: the reply that decided it (2xx sent, 4xx deferred, 5xx bounced).</summary>
public sealed record RecipientOutcome(string Address, SmtpReply Reply);

/// <summary>Per-stage limits of the SMTP client (Postfix's smtp_connect_timeout, smtp_helo_timeout, ...).</summary>
public sealed record SmtpClientTimeouts(TimeSpan Connect, TimeSpan Command, TimeSpan DataBlock, TimeSpan DataDone)
{
    public static readonly SmtpClientTimeouts Default = new(
        TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(300), TimeSpan.FromSeconds(180), TimeSpan.FromSeconds(600));
}

/// <summary>
/// The SMTP client (Postfix's smtp(8)) for one message to one next hop: EHLO (HELO if refused), MAIL with
/// SIZE, BODY, SMTPUTF8 and DSN's RET/ENVID when offered, RCPT with NOTIFY/ORCPT, DATA with the spool's
/// octets dot-stuffed as they stream (never re-serialized), QUIT. With PIPELINING, MAIL, every RCPT and
/// DATA go in one write (RFC 2920). Every recipient gets the reply that decided it. Failures to connect or
/// talk become 4xx outcomes, so the queue defers and retries.
/// </summary>
public static class OutboundSmtp
{
    public static async Task<IReadOnlyList<RecipientOutcome>> SendAsync(IPEndPoint server, string helo, Envelope envelope,
        Func<Stream> openBody, SmtpClientTimeouts timeouts, CancellationToken ct = default)
    {
        using var socket = new Socket(server.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        Conversation? conversation = null;
        try
        {
            using (var connect = CancellationTokenSource.CreateLinkedTokenSource(ct))
            {
                connect.CancelAfter(timeouts.Connect);
                await socket.ConnectAsync(server, connect.Token).ConfigureAwait(false);
            }
            await using var stream = new NetworkStream(socket, ownsSocket: false);
            conversation = new Conversation(stream, timeouts, ct);
            return await conversation.RunAsync(server, helo, envelope, openBody).ConfigureAwait(false);
        }
        catch (Exception e) when (e is SocketException or IOException or OperationCanceledException or FormatException)
        {
            // 4.4.1: the server could not be reached (no connection, no greeting): another MX may be tried.
            // 4.4.2: the conversation broke after it began: the message may have arrived, so no other MX now.
            var reason = e is OperationCanceledException ? "conversation timed out" : e.Message;
            var status = conversation?.Greeted == true ? "4.4.2" : "4.4.1";
            return envelope.Recipients.Select(r => new RecipientOutcome(r.Address,
                new SmtpReply(451, status, $"delivery to {server} failed: {reason}"))).ToArray();
        }
    }

    private sealed class Conversation(NetworkStream stream, SmtpClientTimeouts timeouts, CancellationToken ct)
    {
        private readonly PipeReader _input = PipeReader.Create(stream, new StreamPipeReaderOptions(leaveOpen: true));
        private readonly SmtpReplyReader _replies = new();

        /// <summary>True once the server's greeting has been read.</summary>
        public bool Greeted { get; private set; }

        public async Task<IReadOnlyList<RecipientOutcome>> RunAsync(IPEndPoint server, string helo, Envelope envelope, Func<Stream> openBody)
        {
            var recipients = envelope.Recipients;
            IReadOnlyList<RecipientOutcome> All(SmtpReply reply) => recipients.Select(r => new RecipientOutcome(r.Address, reply)).ToArray();

            var greeting = await ReadAsync(timeouts.Command).ConfigureAwait(false);
            Greeted = true;
            if (greeting.Code != 220)
                return All(greeting);
            var ehlo = await CommandAsync($"EHLO {helo}").ConfigureAwait(false);
            var extensions = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
            long? maxSize = null;
            if (ehlo.IsPositive)
            {
                foreach (var line in ehlo.Lines.Skip(1))
                {
                    var parts = line.Split(' ', 2);
                    extensions.Add(parts[0]);
                    if (parts[0].Equals("SIZE", StringComparison.OrdinalIgnoreCase) && parts.Length == 2 && long.TryParse(parts[1], out var n) && n > 0)
                        maxSize = n;
                }
            }
            else
            {
                var heloReply = await CommandAsync($"HELO {helo}").ConfigureAwait(false);
                if (!heloReply.IsPositive)
                    return All(heloReply);
            }
            if (maxSize is { } limit && envelope.Size > limit)
                return All(new SmtpReply(552, "5.3.4", $"message size {envelope.Size} exceeds the limit of {server}, {limit}"));
            if (envelope.SmtpUtf8 && !extensions.Contains("SMTPUTF8"))
                return All(new SmtpReply(553, "5.6.7", $"{server} does not support SMTPUTF8, which the message needs"));

            var dsn = extensions.Contains("DSN");
            var mail = new StringBuilder("MAIL FROM:<").Append(envelope.Sender).Append('>');
            if (maxSize is not null)
                mail.Append(CultureInfo.InvariantCulture, $" SIZE={envelope.Size}");
            if (envelope.Body == BodyType.EightBitMime && extensions.Contains("8BITMIME"))
                mail.Append(" BODY=8BITMIME");
            if (envelope.SmtpUtf8)
                mail.Append(" SMTPUTF8");
            if (dsn && envelope.Ret != DsnReturn.Unspecified)
                mail.Append(envelope.Ret == DsnReturn.Full ? " RET=FULL" : " RET=HDRS");
            if (dsn && envelope.EnvId is { } envId)
                mail.Append(" ENVID=").Append(Xtext.Encode(envId));
            var commands = new List<string> { mail.ToString() };
            foreach (var r in recipients)
            {
                var rcpt = new StringBuilder("RCPT TO:<").Append(r.Address).Append('>');
                if (dsn && r.Notify != DsnNotify.Unspecified)
                    rcpt.Append(" NOTIFY=").Append(NotifyText(r.Notify));
                if (dsn && r.Orcpt is { } orcpt)
                    rcpt.Append(" ORCPT=").Append(r.OrcptType ?? "rfc822").Append(';').Append(Xtext.Encode(orcpt));
                commands.Add(rcpt.ToString());
            }
            commands.Add("DATA");

            // With PIPELINING the whole group goes at once and the replies are read in order; without it,
            // one command and one reply at a time.
            var replies = new List<SmtpReply>();
            if (extensions.Contains("PIPELINING"))
            {
                await WriteAsync(string.Concat(commands.Select(c => c + "\r\n"))).ConfigureAwait(false);
                foreach (var _ in commands)
                    replies.Add(await ReadAsync(timeouts.Command).ConfigureAwait(false));
            }
            else
            {
                foreach (var command in commands)
                {
                    var reply = await CommandAsync(command).ConfigureAwait(false);
                    replies.Add(reply);
                    if (replies.Count == 1 && !reply.IsPositive)
                        break; // MAIL refused
                    if (command == "DATA" || (replies.Count == commands.Count - 1 && replies.Skip(1).All(r => !r.IsPositive)))
                        break;
                }
            }
            if (!replies[0].IsPositive)
            {
                await QuitAsync().ConfigureAwait(false);
                return All(replies[0]);
            }
            var rcptReplies = recipients.Select((r, i) => i + 1 < replies.Count ? replies[i + 1] : replies[^1]).ToArray();
            var accepted = rcptReplies.Count(r => r.IsPositive);
            var dataReply = replies.Count == commands.Count ? replies[^1] : null;
            if (accepted == 0 || dataReply is null || dataReply.Code != 354)
            {
                await QuitAsync().ConfigureAwait(false);
                var failure = accepted == 0 ? null : dataReply ?? new SmtpReply(451, "4.4.2", "no reply to DATA");
                return recipients.Select((r, i) => new RecipientOutcome(r.Address, rcptReplies[i].IsPositive ? failure! : rcptReplies[i])).ToArray();
            }

            await SendBodyAsync(openBody).ConfigureAwait(false);
            var final = await ReadAsync(timeouts.DataDone).ConfigureAwait(false);
            await QuitAsync().ConfigureAwait(false);
            return recipients.Select((r, i) => new RecipientOutcome(r.Address, rcptReplies[i].IsPositive ? final : rcptReplies[i])).ToArray();
        }

        private static string NotifyText(DsnNotify notify) =>
            notify.HasFlag(DsnNotify.Never)
                ? "NEVER"
                : string.Join(",", new[] { (DsnNotify.Success, "SUCCESS"), (DsnNotify.Failure, "FAILURE"), (DsnNotify.Delay, "DELAY") }
                    .Where(p => notify.HasFlag(p.Item1)).Select(p => p.Item2));

        private async Task SendBodyAsync(Func<Stream> openBody)
        {
            var stuffer = new DotStuffer();
            var output = new ArrayBufferWriter<byte>(64 * 1024);
            var buffer = ArrayPool<byte>.Shared.Rent(64 * 1024);
            try
            {
                await using var body = openBody();
                int read;
                while ((read = await body.ReadAsync(buffer, ct).ConfigureAwait(false)) > 0)
                {
                    stuffer.Write(buffer.AsSpan(0, read), output);
                    await WriteAsync(output.WrittenMemory, timeouts.DataBlock).ConfigureAwait(false);
                    output.ResetWrittenCount();
                }
                stuffer.Finish(output);
                await WriteAsync(output.WrittenMemory, timeouts.DataBlock).ConfigureAwait(false);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }

        private async Task QuitAsync()
        {
            try
            {
                await CommandAsync("QUIT", TimeSpan.FromSeconds(5)).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or OperationCanceledException or FormatException or SocketException)
            {
                // The message's fate is settled; a rude QUIT changes nothing.
            }
        }

        private async Task<SmtpReply> CommandAsync(string line, TimeSpan? timeout = null)
        {
            await WriteAsync(line + "\r\n").ConfigureAwait(false);
            return await ReadAsync(timeout ?? timeouts.Command).ConfigureAwait(false);
        }

        private Task WriteAsync(string text) => WriteAsync(Encoding.UTF8.GetBytes(text), timeouts.Command);

        private async Task WriteAsync(ReadOnlyMemory<byte> bytes, TimeSpan timeout)
        {
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
            deadline.CancelAfter(timeout);
            await stream.WriteAsync(bytes, deadline.Token).ConfigureAwait(false);
        }

        private async Task<SmtpReply> ReadAsync(TimeSpan timeout)
        {
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
            deadline.CancelAfter(timeout);
            while (true)
            {
                var result = await _input.ReadAsync(deadline.Token).ConfigureAwait(false);
                var buffer = result.Buffer;
                // Complete lines are taken by the reply reader even when the reply is not finished yet.
                var done = TryParse(buffer, out var reply, out var consumed);
                _input.AdvanceTo(consumed, done ? consumed : buffer.End);
                if (done)
                    return reply;
                if (result.IsCompleted)
                    throw new IOException("connection closed by the server");
            }
        }

        private bool TryParse(in ReadOnlySequence<byte> buffer, out SmtpReply reply, out SequencePosition consumed)
        {
            var reader = new SequenceReader<byte>(buffer);
            var done = _replies.TryRead(ref reader, out reply);
            consumed = reader.Position;
            return done;
        }
    }
}
