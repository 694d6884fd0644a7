namespace Engine.Protocols.Pop3;

/// <summary>What TOP sends of a message (RFC 1939 section 7): the header, the blank line, then the first lines of the body.</summary>
public static class Pop3Top
{
    /// <summary>How many bytes from the start of <paramref name="message"/> TOP with <paramref name="lines"/> body lines sends.</summary>
    public static int Length(ReadOnlySpan<byte> message, int lines)
    {
        var position = 0;
        var inHeader = true;
        var bodyLines = 0;
        while (position < message.Length)
        {
            var end = message[position..].IndexOf((byte)'\n');
            var next = end < 0 ? message.Length : position + end + 1;
            // The header ends at the first empty line (CRLF, or a bare LF from a lenient writer).
            var blank = next - position == 1 || (next - position == 2 && message[position] == '\r');
            position = next;
            if (inHeader)
            {
                if (blank)
                {
                    inHeader = false;
                    if (lines == 0)
                        return position;
                }
            }
            else if (++bodyLines >= lines)
            {
                return position;
            }
        }
        return message.Length;
    }
}
