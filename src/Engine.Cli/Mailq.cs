using System.Globalization;
using System.Text;
using Engine.Cli.Admin;

namespace Engine.Cli;

/// <summary>
/// The queue in the shape of Postfix's mailq (postqueue -p): a line per message (queue id, '*' when active, '!'
/// when held; size; arrival time; sender, MAILER-DAEMON for the null sender), the reason a recipient was
/// deferred in parentheses, the recipients not yet done indented, and the total.
/// </summary>
public static class Mailq
{
    public static string Format(IReadOnlyList<QueueEntry> messages, TimeZoneInfo? zone = null)
    {
        if (messages.Count == 0)
            return "Mail queue is empty\n";
        zone ??= TimeZoneInfo.Local;
        var idWidth = Math.Max(10, messages.Max(m => m.Id.Length));
        var sb = new StringBuilder();
        sb.Append("-Queue ID-".PadRight(idWidth + 2)).Append("--Size-- ----Arrival Time---- -Sender/Recipient-------\n");
        long total = 0;
        for (var i = 0; i < messages.Count; i++)
        {
            var m = messages[i];
            if (i > 0)
                sb.Append('\n');
            total += m.Size;
            var flag = m.Queue switch { "active" => '*', "hold" => '!', _ => ' ' };
            var arrival = TimeZoneInfo.ConvertTime(m.Arrival, zone).ToString("ddd MMM d HH:mm:ss", CultureInfo.InvariantCulture);
            sb.Append(m.Id.PadRight(idWidth)).Append(flag).Append(' ')
                .Append(m.Size.ToString(CultureInfo.InvariantCulture).PadLeft(8)).Append(' ')
                .Append(arrival.PadLeft(20)).Append("  ")
                .Append(m.Sender.Length == 0 ? "MAILER-DAEMON" : m.Sender).Append('\n');
            foreach (var group in m.Recipients.Where(r => r.Status is "pending" or "deferred").GroupBy(r => r.Reason))
            {
                if (group.Key is { Length: > 0 } reason)
                    sb.Append('(').Append(reason).Append(")\n");
                foreach (var r in group)
                    sb.Append(' ', idWidth + 31).Append(r.Address).Append('\n'); // column 41 for Postfix's 10-character ids
            }
        }
        sb.Append("\n-- ").Append((total / 1024).ToString(CultureInfo.InvariantCulture)).Append(" Kbytes in ")
            .Append(messages.Count.ToString(CultureInfo.InvariantCulture)).Append(messages.Count == 1 ? " Request.\n" : " Requests.\n");
        return sb.ToString();
    }
}
