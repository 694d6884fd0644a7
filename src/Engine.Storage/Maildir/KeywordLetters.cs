using System.Globalization;

namespace Engine.Storage.Maildir;

/// <summary>
/// A folder's keywords as Dovecot spells them in Maildir file names: <c>dovecot-keywords</c> in the folder holds
/// "N keyword" lines, and keyword N is the letter 'a' + N after the system flags (":2,Sab"). At most 26 keywords
/// per folder have a letter; the others live in the index only, as in Dovecot. A keyword gets its letter the first
/// time a message carries it, and keeps it: the file only grows, written whole to a temporary name and renamed.
/// </summary>
internal sealed class KeywordLetters(string file)
{
    private readonly Lock _lock = new();
    private List<string>? _names;

    /// <summary>The letter of <paramref name="keyword"/>, given now when <paramref name="assign"/> and one is free; null when none.</summary>
    public char? LetterOf(string keyword, bool assign)
    {
        lock (_lock)
        {
            _names ??= Load();
            var index = _names.FindIndex(n => string.Equals(n, keyword, StringComparison.OrdinalIgnoreCase));
            if (index >= 0)
                return (char)('a' + index);
            if (!assign || _names.Count >= 26)
                return null;
            _names.Add(keyword);
            try
            {
                Save();
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                _names.RemoveAt(_names.Count - 1); // no letter then: the keyword stays in the index only
                return null;
            }
            return (char)('a' + _names.Count - 1);
        }
    }

    /// <summary>What the file says, Dovecot's letters kept; gaps (a letter Dovecot freed) are filled with names no keyword has.</summary>
    private List<string> Load()
    {
        var read = DovecotMaildir.ReadKeywords(file);
        var names = new List<string>();
        for (var c = 'a'; c <= 'z' && read.Count > 0 && c <= read.Keys.Max(); c++)
            names.Add(read.GetValueOrDefault(c) ?? "\0unused" + c);
        return names;
    }

    private void Save()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(file)!);
        var tmp = file + ".tmp";
        File.WriteAllLines(tmp, _names!.Select((n, i) => (n, i)).Where(x => !x.n.StartsWith('\0'))
            .Select(x => string.Create(CultureInfo.InvariantCulture, $"{x.i} {x.n}")));
        File.Move(tmp, file, overwrite: true);
    }
}
