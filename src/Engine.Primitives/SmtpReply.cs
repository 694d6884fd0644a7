using System.Text;

namespace Engine.Primitives;

/// <summary>
/// An SMTP reply: a three-digit code (RFC 5321 section 4.2), an enhanced status code (RFC 2034, RFC 3463)
/// and one or more lines of text. Rendered with "-" after the code on every line but the last.
/// </summary>
public sealed record SmtpReply(int Code, string? Enhanced, IReadOnlyList<string> Lines)
{
    public SmtpReply(int code, string? enhanced, string text) : this(code, enhanced, [text]) { }

    public bool IsPositive => Code < 400;
    public bool IsTransient => Code is >= 400 and < 500;
    public bool IsPermanent => Code >= 500;

    public string Text => string.Join(" ", Lines);

    public bool Equals(SmtpReply? other) =>
        other is not null && Code == other.Code && Enhanced == other.Enhanced && Lines.SequenceEqual(other.Lines);

    public override int GetHashCode() => HashCode.Combine(Code, Enhanced, Text);

    public string Render()
    {
        var sb = new StringBuilder();
        for (var i = 0; i < Lines.Count; i++)
        {
            sb.Append(Code).Append(i == Lines.Count - 1 ? ' ' : '-');
            if (Enhanced is not null)
                sb.Append(Enhanced).Append(' ');
            sb.Append(Lines[i]).Append("\r\n");
        }
        return sb.ToString();
    }

    /// <summary>The reply as one line, for logs: "554 5.7.1 Relay access denied".</summary>
    public override string ToString() => Enhanced is null ? $"{Code} {Text}" : $"{Code} {Enhanced} {Text}";

    /// <summary>Parses "452 4.5.3 Too many recipients" into a reply (used for configured reply texts).</summary>
    public static SmtpReply Parse(string line)
    {
        var parts = line.Split(' ', 3);
        if (parts.Length < 2 || !int.TryParse(parts[0], out var code) || code is < 200 or > 599)
            throw new FormatException($"Not an SMTP reply: '{line}'");
        if (parts[1].Length >= 5 && char.IsDigit(parts[1][0]) && parts[1][1] == '.')
            return new SmtpReply(code, parts[1], parts.Length > 2 ? parts[2] : "");
        return new SmtpReply(code, null, line[(parts[0].Length + 1)..]);
    }
}
