using System.Text;

namespace Engine.Protocols.Policy;

/// <summary>
/// Postfix's SMTPD policy delegation protocol (SMTPD_POLICY_README): a request is "name=value" lines ended by an
/// empty line; the answer is "action=..." and an empty line. Sans I/O: <see cref="Format"/> writes a block,
/// <see cref="Reader"/> takes lines and says when a block is whole.
/// </summary>
public static class PolicyAttributes
{
    /// <summary>The longest line taken, and the most attributes in a block: a peer that sends more is cut off.</summary>
    public const int MaxLine = 4096;

    public const int MaxAttributes = 100;

    public static string Format(IEnumerable<KeyValuePair<string, string>> attributes)
    {
        var sb = new StringBuilder();
        foreach (var (name, value) in attributes)
            sb.Append(name).Append('=').Append(Clean(value)).Append('\n');
        return sb.Append('\n').ToString();
    }

    /// <summary>A value on one line: CR and LF (which would end the attribute, or the block) become spaces.</summary>
    private static string Clean(string value) => value.IndexOfAny(['\r', '\n']) < 0 ? value : value.Replace('\r', ' ').Replace('\n', ' ');

    /// <summary>
    /// One line from a peer, without its newline; null at the end of the stream. A line longer than
    /// <see cref="MaxLine"/> is a FormatException as soon as it passes the limit, so a peer that never sends a
    /// newline cannot make the reader hold more.
    /// </summary>
    public static async Task<string?> ReadLineAsync(TextReader reader, StringBuilder line, CancellationToken cancel)
    {
        line.Clear();
        var one = new char[1];
        while (true)
        {
            if (await reader.ReadAsync(one.AsMemory(), cancel).ConfigureAwait(false) == 0)
                return line.Length == 0 ? null : line.ToString();
            if (one[0] == '\n')
                return line.ToString();
            if (line.Length >= MaxLine)
                throw new FormatException("a line too long");
            line.Append(one[0]);
        }
    }

    /// <summary>Collects one block's attributes, line by line.</summary>
    public sealed class Reader
    {
        private readonly Dictionary<string, string> _attributes = new(StringComparer.Ordinal);

        /// <summary>Takes a line (without its newline): the whole block at the empty line, else null; FormatException for a bad line or block.</summary>
        public IReadOnlyDictionary<string, string>? Take(string line)
        {
            line = line.TrimEnd('\r');
            if (line.Length == 0)
            {
                var block = new Dictionary<string, string>(_attributes, StringComparer.Ordinal);
                _attributes.Clear();
                return block;
            }
            var equals = line.IndexOf('=');
            if (equals <= 0)
                throw new FormatException("not name=value");
            if (_attributes.Count >= MaxAttributes)
                throw new FormatException("too many attributes");
            _attributes[line[..equals]] = line[(equals + 1)..];
            return null;
        }
    }
}
