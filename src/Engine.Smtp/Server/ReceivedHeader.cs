using System.Globalization;
using System.Text;
using Engine.Primitives;

namespace Engine.Smtp.Server;

/// <summary>
/// The trace header of RFC 5321 section 4.4, in the shape Postfix writes:
/// <code>
/// Received: from helo (name [address])
///         by hostname (Engine) with ESMTP id QUEUEID
///         for &lt;rcpt&gt;; date
/// </code>
/// The "for" clause is written only for a single recipient, so a message to many does not disclose them.
/// Over TLS a line says how, as Postfix's smtpd_tls_received_header: "(using TLSv1.3 with cipher ...)".
/// </summary>
public static class ReceivedHeader
{
    public static string Format(string helo, string clientName, string clientAddress, string hostname, string protocol,
        QueueId id, IReadOnlyList<string> recipients, DateTimeOffset when, string? tls = null)
    {
        var sb = new StringBuilder(256);
        sb.Append("Received: from ").Append(helo.Length > 0 ? helo : clientName)
            .Append(" (").Append(clientName).Append(" [").Append(clientAddress).Append("])\r\n");
        if (tls is not null)
            sb.Append("\t(using ").Append(tls).Append(")\r\n");
        sb.Append("\tby ").Append(hostname).Append(" (Engine) with ").Append(protocol).Append(" id ").Append(id.Value);
        if (recipients.Count == 1)
            sb.Append("\r\n\tfor <").Append(recipients[0]).Append('>');
        sb.Append("; ").Append(FormatDate(when)).Append("\r\n");
        return sb.ToString();
    }

    /// <summary>RFC 5322 section 3.3 date-time, e.g. "Sat, 28 Nov 2026 09:00:00 +0000".</summary>
    public static string FormatDate(DateTimeOffset when)
    {
        var offset = when.Offset;
        var sign = offset < TimeSpan.Zero ? '-' : '+';
        offset = offset.Duration();
        return when.ToString("ddd, d MMM yyyy HH:mm:ss ", CultureInfo.InvariantCulture)
               + sign + offset.Hours.ToString("00", CultureInfo.InvariantCulture) + offset.Minutes.ToString("00", CultureInfo.InvariantCulture);
    }
}
