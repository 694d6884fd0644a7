using System.Text;

namespace Engine.Cli;

/// <summary>Text from mail, made safe for a terminal: control characters (escape sequences) shown as '?', lines and tabs kept.</summary>
public static class Text
{
    public static string Safe(string text)
    {
        if (!text.Any(IsControl))
            return text;
        var sb = new StringBuilder(text.Length);
        foreach (var c in text)
            sb.Append(IsControl(c) ? '?' : c);
        return sb.ToString();
    }

    private static bool IsControl(char c) => char.IsControl(c) && c is not ('\n' or '\t');
}
