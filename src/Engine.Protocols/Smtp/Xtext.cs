using System.Text;

namespace Engine.Protocols.Smtp;

/// <summary>xtext of RFC 3461 section 4: printable ASCII, with "+" and "=" and controls as "+XX".</summary>
public static class Xtext
{
    public static bool TryDecode(string text, out string decoded)
    {
        var sb = new StringBuilder(text.Length);
        decoded = "";
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (c == '+')
            {
                if (i + 2 >= text.Length || !char.IsAsciiHexDigitUpper(text[i + 1]) || !char.IsAsciiHexDigitUpper(text[i + 2]))
                    return false;
                sb.Append((char)Convert.ToByte(text.Substring(i + 1, 2), 16));
                i += 2;
            }
            else if (c is < '!' or > '~' or '=')
            {
                // RFC 6533 lets SMTPUTF8 sessions carry UTF-8 here; keep it as is.
                if (c < 128)
                    return false;
                sb.Append(c);
            }
            else
            {
                sb.Append(c);
            }
        }
        decoded = sb.ToString();
        return true;
    }

    public static string Encode(string text)
    {
        var sb = new StringBuilder(text.Length);
        foreach (var c in text)
        {
            if (c is < '!' or > '~' or '+' or '=')
                sb.Append('+').Append(((int)c).ToString("X2"));
            else
                sb.Append(c);
        }
        return sb.ToString();
    }
}
