using System.Globalization;
using Engine.Primitives;

namespace Engine.Storage.Maildir;

/// <summary>One message of a Maildir as Dovecot left it: its UID, its file, its size, and its flags and keywords.</summary>
public sealed record ImportedMessage(long Uid, string Path, string BaseName, long Size, IReadOnlyList<string> Flags);

/// <summary>One folder of a Maildir++ tree as Dovecot left it: its name ("INBOX", "Work/2026"), UIDVALIDITY, next UID, subscription and messages.</summary>
public sealed record ImportedFolder(string Name, long UidValidity, long NextUid, bool Subscribed, IReadOnlyList<ImportedMessage> Messages);

/// <summary>
/// Reads a Maildir++ tree written by Dovecot, for <c>engine mailbox import</c>: folders from the ".A.B"
/// directories (modified UTF-7, "." as the separator), UIDVALIDITY, next UID and each message's UID from
/// <c>dovecot-uidlist</c> ("3 V&lt;uidvalidity&gt; N&lt;nextuid&gt; ...", then "&lt;uid&gt; [fields] :&lt;base name&gt;"), flags from
/// the names (":2,FRS"), keywords from the lower-case letters through <c>dovecot-keywords</c> ("0 $Label1"),
/// subscriptions from <c>subscriptions</c>. Files the uidlist does not know get UIDs after its next UID, in
/// name order; without a uidlist every message does, and UIDVALIDITY is <paramref name="fallbackUidValidity"/>.
/// </summary>
public static class DovecotMaildir
{
    public static IReadOnlyList<ImportedFolder> Read(string root, long fallbackUidValidity)
    {
        if (!Directory.Exists(Path.Combine(root, "cur")) && !Directory.Exists(Path.Combine(root, "new")))
            throw new IOException($"{root} is not a Maildir (no cur/ or new/)");
        var subscribed = ReadSubscriptions(root);
        var folders = new List<ImportedFolder> { ReadFolder(root, "INBOX", fallbackUidValidity, true) };
        foreach (var dir in Directory.GetDirectories(root, ".*").Order(StringComparer.Ordinal))
        {
            var encoded = System.IO.Path.GetFileName(dir)[1..];
            if (encoded.Length == 0 || encoded == "." || !ModifiedUtf7.TryDecode(encoded.Replace('.', '/'), out var name))
                continue;
            folders.Add(ReadFolder(dir, name, fallbackUidValidity + folders.Count, subscribed is null || subscribed.Contains(name)));
        }
        return folders;
    }

    /// <summary>Dovecot's subscriptions file (version 2: a header line, then one tab-separated name per line); null when there is none.</summary>
    private static HashSet<string>? ReadSubscriptions(string root)
    {
        var file = Path.Combine(root, "subscriptions");
        if (!File.Exists(file))
            return null;
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var line in File.ReadLines(file))
        {
            if (line.StartsWith("V\t", StringComparison.Ordinal) || line.Length == 0)
                continue;
            var name = line.Replace('\t', '/');
            names.Add(ModifiedUtf7.TryDecode(name, out var decoded) ? decoded : name);
        }
        return names;
    }

    private static ImportedFolder ReadFolder(string dir, string name, long fallbackUidValidity, bool subscribed)
    {
        var keywords = ReadKeywords(Path.Combine(dir, "dovecot-keywords"));
        var files = ((string[])["cur", "new"]).Select(sub => Path.Combine(dir, sub)).Where(Directory.Exists)
            .SelectMany(Directory.EnumerateFiles).ToDictionary(f => BaseName(System.IO.Path.GetFileName(f)), StringComparer.Ordinal);
        var (uidValidity, nextUid, uids) = ReadUidList(Path.Combine(dir, "dovecot-uidlist"));
        var messages = new List<ImportedMessage>();
        foreach (var (uid, baseName) in uids.OrderBy(u => u.Uid))
        {
            if (files.Remove(baseName, out var path))
                messages.Add(Message(uid, path, baseName, keywords));
        }
        var next = Math.Max(nextUid, messages.Count > 0 ? messages[^1].Uid + 1 : 1);
        foreach (var (baseName, path) in files.OrderBy(f => f.Key, StringComparer.Ordinal))
            messages.Add(Message(next++, path, baseName, keywords));
        return new ImportedFolder(name, uidValidity ?? fallbackUidValidity, next, subscribed, messages);
    }

    private static ImportedMessage Message(long uid, string path, string baseName, IReadOnlyDictionary<char, string> keywords)
    {
        var fileName = System.IO.Path.GetFileName(path);
        var info = fileName.IndexOf(":2,", StringComparison.Ordinal);
        var flags = new List<string>();
        if (info >= 0)
        {
            foreach (var c in fileName[(info + 3)..])
            {
                var flag = c switch
                {
                    'D' => "\\Draft",
                    'F' => "\\Flagged",
                    'R' => "\\Answered",
                    'S' => "\\Seen",
                    'T' => "\\Deleted",
                    _ => keywords.GetValueOrDefault(c),
                };
                if (flag is not null)
                    flags.Add(flag);
            }
        }
        return new ImportedMessage(uid, path, baseName, MaildirStore.SizeOf(baseName) ?? new FileInfo(path).Length, flags);
    }

    /// <summary>A Maildir name without its info (":2,FS") part.</summary>
    public static string BaseName(string fileName)
    {
        var colon = fileName.IndexOf(':', StringComparison.Ordinal);
        return colon < 0 ? fileName : fileName[..colon];
    }

    /// <summary>dovecot-keywords: "0 $Label1" lines; keyword n is the letter 'a' + n in file names.</summary>
    public static IReadOnlyDictionary<char, string> ReadKeywords(string file)
    {
        var keywords = new Dictionary<char, string>();
        if (!File.Exists(file))
            return keywords;
        foreach (var line in File.ReadLines(file))
        {
            var space = line.IndexOf(' ', StringComparison.Ordinal);
            if (space > 0 && int.TryParse(line.AsSpan(0, space), NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n < 26)
                keywords[(char)('a' + n)] = line[(space + 1)..];
        }
        return keywords;
    }

    /// <summary>dovecot-uidlist (version 3): UIDVALIDITY, next UID, and each UID with its file's base name.</summary>
    public static (long? UidValidity, long NextUid, IReadOnlyList<(long Uid, string BaseName)> Uids) ReadUidList(string file)
    {
        var uids = new List<(long, string)>();
        if (!File.Exists(file))
            return (null, 1, uids);
        using var reader = new StreamReader(file);
        var header = reader.ReadLine() ?? "";
        long? uidValidity = null;
        long nextUid = 1;
        foreach (var field in header.Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1))
        {
            if (field[0] == 'V' && long.TryParse(field.AsSpan(1), NumberStyles.None, CultureInfo.InvariantCulture, out var v))
                uidValidity = v;
            else if (field[0] == 'N' && long.TryParse(field.AsSpan(1), NumberStyles.None, CultureInfo.InvariantCulture, out var n))
                nextUid = n;
        }
        while (reader.ReadLine() is { } line)
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            var space = line.IndexOf(' ', StringComparison.Ordinal);
            var end = space < 0 ? colon : Math.Min(space, colon < 0 ? space : colon);
            if (colon < 0 || end <= 0 || !long.TryParse(line.AsSpan(0, end), NumberStyles.None, CultureInfo.InvariantCulture, out var uid))
                continue;
            uids.Add((uid, line[(colon + 1)..]));
        }
        return (uidValidity, nextUid, uids);
    }
}
