using System.Text;

namespace Engine.Primitives;

/// <summary>
/// IMAP's modified UTF-7 for mailbox names (RFC 3501 section 5.1.3): printable ASCII as itself ("&amp;" as
/// "&amp;-"), everything else as "&amp;" + modified base64 of UTF-16 ("," for "/") + "-". Dovecot also names
/// Maildir++ folders this way on disk.
/// </summary>
public static class ModifiedUtf7
{
    public static string Encode(string text)
    {
        var output = new StringBuilder();
        var pending = new StringBuilder();
        void Flush()
        {
            if (pending.Length == 0)
                return;
            var bytes = Encoding.BigEndianUnicode.GetBytes(pending.ToString());
            output.Append('&').Append(Convert.ToBase64String(bytes).TrimEnd('=').Replace('/', ',')).Append('-');
            pending.Clear();
        }
        foreach (var c in text)
        {
            if (c is >= ' ' and <= '~')
            {
                Flush();
                output.Append(c == '&' ? "&-" : c.ToString());
            }
            else
            {
                pending.Append(c);
            }
        }
        Flush();
        return output.ToString();
    }

    /// <summary>The name a client sent; false when it is not valid modified UTF-7.</summary>
    public static bool TryDecode(string text, out string decoded)
    {
        var output = new StringBuilder();
        decoded = text;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (c is < ' ' or > '~')
                return false;
            if (c != '&')
            {
                output.Append(c);
                continue;
            }
            var end = text.IndexOf('-', i + 1);
            if (end < 0)
                return false;
            if (end == i + 1)
            {
                output.Append('&');
                i = end;
                continue;
            }
            var base64 = text[(i + 1)..end].Replace(',', '/');
            base64 = base64.PadRight(base64.Length + (4 - base64.Length % 4) % 4, '=');
            try
            {
                var bytes = Convert.FromBase64String(base64);
                if (bytes.Length % 2 != 0)
                    return false;
                output.Append(Encoding.BigEndianUnicode.GetString(bytes));
            }
            catch (FormatException)
            {
                return false;
            }
            i = end;
        }
        decoded = output.ToString();
        return true;
    }
}
