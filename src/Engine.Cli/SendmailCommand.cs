using System.CommandLine;
using System.Net;
using System.Net.Sockets;
using MailKit;
using MailKit.Net.Smtp;
using MimeKit;

namespace Engine.Cli;

/// <summary>
/// enginectl sendmail: the /usr/sbin/sendmail that scripts and cron jobs expect, submitting by SMTP to the local
/// engine (Postfix's sendmail hands the message to its pickup daemon; ours to the MX listener, as a client in
/// mynetworks). The message comes on standard input; recipients are the arguments, and with -t the To, Cc and
/// Bcc headers too (Bcc is removed). A line of one "." ends the input unless -i or -oi. Missing From, Date and
/// Message-ID headers are added, as Postfix's cleanup adds them. -bs speaks SMTP on standard input and output.
/// Exit codes are sendmail's (sysexits.h): 0, 64 usage, 65 bad message, 69 unavailable, 75 try again later.
/// </summary>
public static class SendmailCommand
{
    private const int Usage = 64, DataError = 65, Unavailable = 69, TempFail = 75;

    public static Command Build()
    {
        var command = new Command("sendmail", "Send a message read from standard input, as /usr/sbin/sendmail does");
        var extract = new Option<bool>("-t") { Description = "Take recipients from the To, Cc and Bcc headers too" };
        var ignoreDots = new Option<bool>("-i", "-oi") { Description = "A line of one dot does not end the message" };
        var from = new Option<string?>("-f", "-r") { Description = "The envelope sender" };
        var fullName = new Option<string?>("-F") { Description = "The sender's full name, for a From header the message lacks" };
        var smtpSession = new Option<bool>("-bs") { Description = "Speak SMTP on standard input and output" };
        var server = new Option<string?>("--smtp") { Description = "The engine's SMTP listener (default: $ENGINE_SMTP, else 127.0.0.1:25)" };
        var recipients = new Argument<string[]>("recipients") { Arity = ArgumentArity.ZeroOrMore };
        foreach (var option in new Option[] { extract, ignoreDots, from, fullName, smtpSession, server })
            command.Options.Add(option);
        command.Arguments.Add(recipients);
        command.SetAction(async (parsed, cancel) =>
        {
            var endPoint = parsed.GetValue(server) ?? Environment.GetEnvironmentVariable("ENGINE_SMTP") ?? "127.0.0.1:25";
            if (!IPEndPoint.TryParse(endPoint, out var target) || target.Port == 0)
                return Fail(Usage, $"'{endPoint}' is not host:port");
            try
            {
                if (parsed.GetValue(smtpSession))
                    return await RelayAsync(target, cancel).ConfigureAwait(false);
                return await SendAsync(target, parsed.GetValue(recipients) ?? [], parsed.GetValue(extract), parsed.GetValue(ignoreDots),
                    parsed.GetValue(from), parsed.GetValue(fullName), cancel).ConfigureAwait(false);
            }
            catch (Exception e) when (e is SocketException or IOException)
            {
                return Fail(TempFail, $"cannot reach the engine at {target}: {e.Message}");
            }
        });
        return command;
    }

    /// <summary>
    /// sendmail's own spellings made plain: "-fuser@host" as "-f user@host" (also -F, -r), and the options that have
    /// no meaning here ("-odb", "-oem", "-v", "-bm" ...) left out, as Postfix ignores them.
    /// </summary>
    public static string[] Normalize(IEnumerable<string> args)
    {
        var result = new List<string>();
        foreach (var arg in args)
        {
            if (arg.Length > 2 && arg[0] == '-' && arg[1] is 'f' or 'F' or 'r')
            {
                result.Add(arg[..2]);
                result.Add(arg[2..]);
            }
            else if (arg is "-oi" or "-bs" || !(arg.StartsWith("-o", StringComparison.Ordinal) || arg is "-v" or "-bm" or "-U" or "-em" or "-ep" or "-eq"))
            {
                result.Add(arg);
            }
        }
        return result.ToArray();
    }

    private static async Task<int> SendAsync(IPEndPoint target, string[] arguments, bool extract, bool ignoreDots, string? from, string? fullName,
        CancellationToken cancel)
    {
        var input = await ReadMessageAsync(Console.OpenStandardInput(), ignoreDots, cancel).ConfigureAwait(false);
        MimeMessage message;
        try
        {
            message = await MimeMessage.LoadAsync(new MemoryStream(input), cancel).ConfigureAwait(false);
        }
        catch (FormatException e)
        {
            return Fail(DataError, $"the message cannot be read: {e.Message}");
        }
        var sender = from ?? $"{Environment.UserName}@{Dns.GetHostName()}";
        var to = new List<MailboxAddress>();
        foreach (var address in arguments)
        {
            if (!MailboxAddress.TryParse(address, out var parsed))
                return Fail(Usage, $"'{address}' is not an address");
            to.Add(parsed);
        }
        if (extract)
        {
            to.AddRange(message.To.Mailboxes.Concat(message.Cc.Mailboxes).Concat(message.Bcc.Mailboxes));
            message.Headers.RemoveAll(HeaderId.Bcc);
        }
        if (to.Count == 0)
            return Fail(Usage, "no recipients (name them, or use -t)");
        if (message.From.Count == 0)
            message.From.Add(new MailboxAddress(fullName, sender.Length == 0 ? "MAILER-DAEMON" : sender));
        if (!message.Headers.Contains(HeaderId.Date))
            message.Date = DateTimeOffset.Now;
        if (!message.Headers.Contains(HeaderId.MessageId))
            message.MessageId = MimeKit.Utils.MimeUtils.GenerateMessageId(Dns.GetHostName());

        using var smtp = new SmtpClient();
        try
        {
            await smtp.ConnectAsync(target.Address.ToString(), target.Port, MailKit.Security.SecureSocketOptions.None, cancel).ConfigureAwait(false);
            await smtp.SendAsync(message, sender.Length == 0 ? new MailboxAddress("", "") : MailboxAddress.Parse(sender),
                to.DistinctBy(a => a.Address, StringComparer.OrdinalIgnoreCase), cancel).ConfigureAwait(false);
            await smtp.DisconnectAsync(true, cancel).ConfigureAwait(false);
            return 0;
        }
        catch (SmtpCommandException e)
        {
            return Fail((int)e.StatusCode >= 500 ? Unavailable : TempFail, $"the engine refused it: {(int)e.StatusCode} {e.Message}");
        }
        catch (Exception e) when (e is SmtpProtocolException or ServiceNotConnectedException)
        {
            return Fail(TempFail, $"the SMTP session failed: {e.Message}");
        }
    }

    /// <summary>Standard input up to its end, or (without -i) up to a line of one dot, as sendmail reads it; LF becomes CRLF.</summary>
    public static async Task<byte[]> ReadMessageAsync(Stream input, bool ignoreDots, CancellationToken cancel)
    {
        using var reader = new StreamReader(input, System.Text.Encoding.Latin1);
        using var output = new MemoryStream();
        while (await reader.ReadLineAsync(cancel).ConfigureAwait(false) is { } line)
        {
            if (!ignoreDots && line == ".")
                break;
            var bytes = System.Text.Encoding.Latin1.GetBytes(line + "\r\n");
            output.Write(bytes);
        }
        return output.ToArray();
    }

    /// <summary>-bs: standard input to the engine's SMTP listener and its answers to standard output, until either side closes.</summary>
    private static async Task<int> RelayAsync(IPEndPoint target, CancellationToken cancel)
    {
        using var client = new TcpClient();
        await client.ConnectAsync(target, cancel).ConfigureAwait(false);
        var network = client.GetStream();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        var up = Task.Run(async () =>
        {
            await Console.OpenStandardInput().CopyToAsync(network, stop.Token).ConfigureAwait(false);
            client.Client.Shutdown(SocketShutdown.Send);
        }, stop.Token);
        await network.CopyToAsync(Console.OpenStandardOutput(), stop.Token).ConfigureAwait(false);
        await stop.CancelAsync().ConfigureAwait(false);
        return 0;
    }

    private static int Fail(int code, string message)
    {
        Console.Error.WriteLine("sendmail: " + message);
        return code;
    }
}
