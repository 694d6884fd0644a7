using System.Globalization;
using System.Text;
using Engine.Cli.Admin;

namespace Engine.Cli;

/// <summary>
/// The queue in the shape of Postfix's mailq (postqueue -p) with long queue ids, which are 16 characters as
/// ours are: a line per message ("%-17s %8ld %19.19s %s": id with '*' when active and '!' when held, size,
/// arrival as asctime(3), sender or MAILER-DAEMON), then each recipient not yet done, with the reason it was
/// deferred right-aligned in parentheses above it whenever the reason changes, and the total.
/// </summary>
public static class Mailq
{
    private static readonly string Blank = new(' ', 17 + 1 + 8 + 1 + 19 + 1);

    public static string Format(IReadOnlyList<QueueEntry> messages, TimeZoneInfo? zone = null)
    {
        if (messages.Count == 0)
            return "Mail queue is empty\n";
        zone ??= TimeZoneInfo.Local;
        var sb = new StringBuilder();
        long total = 0;
        for (var i = 0; i < messages.Count; i++)
        {
            var m = messages[i];
            sb.Append(i == 0 ? "----Queue ID----- --Size-- ---Arrival Time---- --Sender/Recipient------\n" : "\n");
            total += m.Size;
            var id = m.Id + m.Queue switch { "active" => "*", "hold" => "!", _ => "" };
            sb.Append(id.PadRight(17)).Append(' ').Append(m.Size.ToString(CultureInfo.InvariantCulture).PadLeft(8)).Append(' ')
                .Append(AscTime(TimeZoneInfo.ConvertTime(m.Arrival, zone))).Append(' ')
                .Append(m.Sender.Length == 0 ? "MAILER-DAEMON" : m.Sender).Append('\n');
            var saved = "";
            foreach (var r in m.Recipients.Where(r => r.Status is "pending" or "deferred"))
            {
                var why = r.Reason ?? "";
                if (why != saved)
                {
                    saved = why;
                    var shown = why.Length > 0 ? why : "reason unavailable";
                    sb.Append(' ', Math.Max(0, 76 - shown.Length)).Append('(').Append(shown).Append(")\n");
                }
                sb.Append(Blank).Append(r.Address).Append('\n');
            }
        }
        sb.Append("\n-- ").Append((total / 1024).ToString(CultureInfo.InvariantCulture)).Append(" Kbytes in ")
            .Append(messages.Count.ToString(CultureInfo.InvariantCulture)).Append(messages.Count == 1 ? " Request.\n" : " Requests.\n");
        return sb.ToString();
    }

    /// <summary>asctime(3) without the year: "Sun Nov  8 09:05:07".</summary>
    private static string AscTime(DateTimeOffset t) =>
        t.ToString("ddd MMM ", CultureInfo.InvariantCulture) + t.Day.ToString(CultureInfo.InvariantCulture).PadLeft(2) + t.ToString(" HH:mm:ss", CultureInfo.InvariantCulture);
}
