using System.Globalization;
using Engine.Messages;
using Engine.Primitives;
using MimeKit;
using MimeKit.Utils;

namespace Engine.Queue.Bounces;

/// <summary>
/// What a DSN reports: recipients that failed for good, recipients still being retried (a delay warning), or recipients
/// reached, for those whose NOTIFY asked for SUCCESS (delivered here, relayed to a next hop that does not report, or
/// expanded by an alias).
/// </summary>
public enum DsnKind { Failure, Delay, Success }

/// <summary>
/// One recipient a DSN reports on, with the reply that decided it. <paramref name="Action"/> is RFC 3464's (failed,
/// delayed, delivered, relayed, expanded); when null, that of the DSN's kind.
/// </summary>
public sealed record ReportedRecipient(string Address, string? Original, string Status, string Diagnostic, string? OriginalType = null,
    string? Action = null);

/// <summary>
/// A delivery status notification (RFC 3464) for recipients that failed: multipart/report with a human
/// part, a message/delivery-status part (per-message and per-recipient fields, ENVID and ORCPT as the
/// client gave them) and the returned message — whole, or only its headers when the sender asked RET=HDRS
/// (RFC 3461 section 4.3), or when it is larger than the size limit (Postfix's bounce_size_limit). Built with
/// MimeKit's MultipartReport. A delay warning (Action: delayed) says until
/// when the message will be retried and returns only the headers, as Postfix's does. A success report returns only
/// the headers too: RET=FULL asks for the whole message in a "failed" DSN only (RFC 3461 section 4.3).
/// </summary>
public static class DsnBuilder
{
    public static MimeMessage Build(string hostname, QueueId id, Envelope envelope, IReadOnlyList<ReportedRecipient> failed, Stream original,
        DateTimeOffset now, DsnKind kind = DsnKind.Failure, DateTimeOffset? retryUntil = null, string? to = null, long sizeLimit = long.MaxValue)
    {
        var whole = original.CanSeek && original.Length <= sizeLimit;
        var returned = MimeMessage.Load(original);
        var report = new MultipartReport("delivery-status");
        string[] intro = kind switch
        {
            DsnKind.Failure =>
            [
                "I'm sorry to have to inform you that your message could not",
                "be delivered to one or more recipients. It's attached below.",
            ],
            DsnKind.Success =>
            [
                "Your message reached the recipients listed below, as you asked to be told.",
                "Where it was delivered to a mailbox, you will hear nothing more. Where it",
                "was passed on to a system that does not report delivery, or expanded by",
                "an alias, you may still hear of errors from elsewhere.",
            ],
            _ =>
            [
                "####################################################################",
                "# THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND YOUR MESSAGE. #",
                "####################################################################",
                "",
                $"Your message could not be delivered for {(now - envelope.ArrivedAt).TotalHours:0.#} hours.",
                $"It will be retried until {DateUtils.FormatDate(retryUntil ?? now)}.",
            ],
        };
        var human = string.Join("\r\n",
        [
            $"This is the mail system at host {hostname}.",
            "",
            .. intro,
            "",
            .. failed.Select(f => $"<{f.Address}>: {f.Diagnostic}"),
            "",
        ]);
        report.Add(new TextPart("plain") { Text = human });

        var status = new MessageDeliveryStatus();
        var perMessage = new HeaderList
        {
            { "Reporting-MTA", $"dns; {hostname}" },
            { "X-Engine-Queue-ID", id.Value },
            { "Arrival-Date", DateUtils.FormatDate(envelope.ArrivedAt) },
        };
        if (envelope.EnvId is { } envId)
            perMessage.Insert(0, new Header("Original-Envelope-Id", envId));
        status.StatusGroups.Add(perMessage);
        foreach (var f in failed)
        {
            var group = new HeaderList();
            if (f.Original is { } orcpt)
                group.Add("Original-Recipient", $"{f.OriginalType ?? "rfc822"}; {orcpt}");
            group.Add("Final-Recipient", $"rfc822; {f.Address}");
            group.Add("Action", f.Action ?? kind switch { DsnKind.Failure => "failed", DsnKind.Delay => "delayed", _ => "delivered" });
            group.Add("Status", f.Status);
            group.Add("Diagnostic-Code", $"smtp; {f.Diagnostic}");
            group.Add("Last-Attempt-Date", DateUtils.FormatDate(now));
            if (kind == DsnKind.Delay && retryUntil is { } until)
                group.Add("Will-Retry-Until", DateUtils.FormatDate(until));
            status.StatusGroups.Add(group);
        }
        report.Add(status);

        if (envelope.Ret == DsnReturn.Headers || kind != DsnKind.Failure || !whole)
        {
            var headers = new MemoryStream();
            returned.Headers.WriteTo(headers);
            headers.Position = 0;
            report.Add(new MimePart("text", "rfc822-headers") { Content = new MimeContent(headers) });
        }
        else
        {
            report.Add(new MessagePart { Message = returned });
        }

        var dsn = new MimeMessage();
        dsn.From.Add(new MailboxAddress("Mail Delivery System", $"MAILER-DAEMON@{hostname}"));
        dsn.To.Add(MailboxAddress.Parse(to ?? envelope.Sender));
        dsn.Subject = kind switch
        {
            DsnKind.Failure => "Undelivered Mail Returned to Sender",
            DsnKind.Success => "Successful Mail Delivery Report",
            _ => "Delayed Mail (still being retried)",
        };
        dsn.Date = now;
        dsn.MessageId = $"{id.Value}.{now.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture)}.{kind switch { DsnKind.Failure => "bounce", DsnKind.Success => "success", _ => "delay" }}@{hostname}";
        dsn.Headers.Add("Auto-Submitted", "auto-replied"); // RFC 3834: no automatic reply to this
        dsn.Body = report;
        return dsn;
    }

    /// <summary>
    /// The status code of a reply text ("550 5.1.1 ..." → "5.1.1"; a temporary one, as a recipient that expired
    /// or is delayed has, stays 4.x.x as in Postfix's DSNs), else X.0.0 from the reply code.
    /// </summary>
    public static string StatusOf(string reply)
    {
        var parts = reply.Split(' ');
        if (parts.Length > 1 && parts[1].Length >= 5 && parts[1][0] is '4' or '5' && parts[1][1] == '.')
            return parts[1];
        return reply.StartsWith('4') ? "4.0.0" : "5.0.0";
    }
}
