using System.Globalization;
using System.Text;

namespace Engine.Protocols.Imap;

/// <summary>Strings in server responses (RFC 9051 section 4.3): NIL, quoted when that is safe, else a literal.</summary>
public static class ImapString
{
    /// <summary>A string as nstring: NIL for null, "quoted" for short printable text, {n}\r\n... otherwise.</summary>
    public static string Of(string? value)
    {
        if (value is null)
            return "NIL";
        if (value.Length <= 1024 && value.All(c => c is >= ' ' and < (char)0x7F))
            return "\"" + value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal) + "\"";
        var octets = Encoding.UTF8.GetByteCount(value);
        return string.Create(CultureInfo.InvariantCulture, $"{{{octets}}}\r\n{value}");
    }

    /// <summary>A flag list: (\Seen $Label1).</summary>
    public static string Flags(IEnumerable<string> flags) => "(" + string.Join(' ', flags) + ")";

    /// <summary>INTERNALDATE's form: "17-Jul-1996 02:44:25 +0000".</summary>
    public static string Date(DateTimeOffset time) =>
        "\"" + time.ToString("dd-MMM-yyyy HH:mm:ss ", CultureInfo.InvariantCulture) + (time.Offset < TimeSpan.Zero ? "-" : "+")
        + time.Offset.Duration().ToString("hhmm", CultureInfo.InvariantCulture) + "\"";

    /// <summary>APPEND's date-time: "17-Jul-1996 02:44:25 -0700" (the day may be " 7").</summary>
    public static bool TryParseDateTime(string text, out DateTimeOffset time) =>
        DateTimeOffset.TryParseExact(text.Trim(), ["d-MMM-yyyy HH:mm:ss zzz", "dd-MMM-yyyy HH:mm:ss zzz"], CultureInfo.InvariantCulture,
            DateTimeStyles.None, out time) || TryParseNumericZone(text.Trim(), out time);

    private static bool TryParseNumericZone(string text, out DateTimeOffset time)
    {
        time = default;
        var space = text.LastIndexOf(' ');
        if (space < 0 || text.Length - space != 6)
            return false;
        var zone = text[(space + 1)..];
        return DateTimeOffset.TryParseExact(text[..space] + " " + zone[..3] + ":" + zone[3..], ["d-MMM-yyyy HH:mm:ss zzz", "dd-MMM-yyyy HH:mm:ss zzz"],
            CultureInfo.InvariantCulture, DateTimeStyles.None, out time);
    }

    /// <summary>A search or APPEND date ("1-Feb-1994"), as the client writes it.</summary>
    public static bool TryParseDate(string text, out DateOnly date) =>
        DateOnly.TryParseExact(text, ["d-MMM-yyyy", "dd-MMM-yyyy"], CultureInfo.InvariantCulture, DateTimeStyles.None, out date);
}
