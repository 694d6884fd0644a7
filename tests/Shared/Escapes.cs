using System.Text;

namespace Engine.Tests.Shared;

/// <summary>The escapes of the transcript files, shared by both test projects.</summary>
public static class Escapes
{
    /// <summary>Client octets from a transcript line: \r \n \t \\ and \xHH; everything else as UTF-8 (the inverse of SmtpWireHarness.Escape).</summary>
    public static byte[] Unescape(string text)
    {
        var bytes = new List<byte>();
        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] != '\\' || i + 1 >= text.Length)
            {
                bytes.AddRange(Encoding.UTF8.GetBytes(text[i].ToString()));
                continue;
            }
            var c = text[++i];
            switch (c)
            {
                case 'r': bytes.Add((byte)'\r'); break;
                case 'n': bytes.Add((byte)'\n'); break;
                case 't': bytes.Add((byte)'\t'); break;
                case '\\': bytes.Add((byte)'\\'); break;
                case 'x':
                    bytes.Add(Convert.ToByte(text.Substring(i + 1, 2), 16));
                    i += 2;
                    break;
                default: throw new FormatException($"bad escape \\{c}");
            }
        }
        return bytes.ToArray();
    }
}
