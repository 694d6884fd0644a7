using System.Globalization;
using Engine.Primitives;
using Engine.Storage.Blobs;

namespace Engine.Storage.Maildir;

/// <summary>
/// Mailboxes as Maildir (the layout of D. J. Bernstein's maildir(5), as Dovecot reads it with
/// <c>mail_location = maildir:ROOT/%d/%n</c>): <c>ROOT/domain/local/{tmp,new,cur}</c>. A delivery writes the
/// message under <c>tmp/</c>, makes it durable, moves it to <c>new/</c> and makes the move durable, so a message is
/// either wholly in the mailbox or not at all, and a reader never sees half of one. Durable by an fsync of the file
/// and of <c>new/</c> (<see cref="Write"/>), or, with <paramref name="shareSyncs"/>, by syncs of the file system shared
/// with every delivery written meanwhile (<see cref="WriteAsync"/>).
/// </summary>
public sealed class MaildirStore(string root, bool fsync = true, bool shareSyncs = false)
{
    private static long _sequence;
    private readonly string _host = SafeHost(Environment.MachineName);

    public string Root { get; } = Path.GetFullPath(root);

    /// <summary>The Maildir of an account ("jane@campus.example" → ROOT/campus.example/jane).</summary>
    public string PathOf(string account)
    {
        var at = account.LastIndexOf('@');
        if (at <= 0 || at == account.Length - 1)
            throw new ArgumentException($"not an account address: '{account}'", nameof(account));
        var local = account[..at].ToLowerInvariant();
        var domain = account[(at + 1)..].ToLowerInvariant();
        // Names come from the directory, but a path must never leave the root whatever they hold.
        if (local.Contains('/') || domain.Contains('/') || local is "." or ".." || domain is "." or "..")
            throw new ArgumentException($"account name not usable as a path: '{account}'", nameof(account));
        return Path.Combine(Root, domain, local);
    }

    /// <summary>
    /// The Maildir of a folder: INBOX is the account's Maildir; "Work/2026" is its Maildir++ folder
    /// ".Work.2026", in modified UTF-7 as Dovecot names them. Folder names hold no '.' (the separator on disk).
    /// </summary>
    public string PathOf(string account, string folder) =>
        folder == Inbox ? PathOf(account) : Path.Combine(PathOf(account), "." + ModifiedUtf7.Encode(folder).Replace('/', '.'));

    public const string Inbox = "INBOX";

    /// <summary>Creates tmp/, new/ and cur/ when missing.</summary>
    public string Ensure(string account, string folder = Inbox)
    {
        var maildir = PathOf(account, folder);
        foreach (var sub in (string[])["tmp", "new", "cur"])
            System.IO.Directory.CreateDirectory(Path.Combine(maildir, sub));
        return maildir;
    }

    /// <summary>
    /// A new unique file name per the Maildir rules: time, microseconds, pid, a counter and the host,
    /// with Dovecot's ",S=size" (the size must be known before the file is written). The time leads the name
    /// and is the message's INTERNALDATE: now, or the one an APPEND gives.
    /// </summary>
    public string NewName(long size, DateTimeOffset? time = null)
    {
        var now = DateTimeOffset.UtcNow;
        return string.Create(CultureInfo.InvariantCulture,
            $"{(time ?? now).ToUnixTimeSeconds()}.M{now.Ticks / 10 % 1_000_000}P{Environment.ProcessId}Q{Interlocked.Increment(ref _sequence)}.{_host},S={size}");
    }

    /// <summary>The time that leads a Maildir name (its delivery time, IMAP's INTERNALDATE); the epoch when it has none.</summary>
    public static DateTimeOffset TimeOf(string name)
    {
        var dot = name.IndexOf('.', StringComparison.Ordinal);
        return dot > 0 && long.TryParse(name.AsSpan(0, dot), NumberStyles.None, CultureInfo.InvariantCulture, out var seconds)
            ? DateTimeOffset.FromUnixTimeSeconds(seconds)
            : DateTimeOffset.UnixEpoch;
    }

    /// <summary>
    /// The one name a delivery can have, made from what identifies it (the queue id's time, the queue id and
    /// a hash of the delivery key), so that a delivery asked again after a crash finds its file by name:
    /// "time.Qid.Khash.engine,S=size". The host part is fixed, so any node of a farm finds it.
    /// </summary>
    public static string NameFor(DateTimeOffset time, string id, string key, long size)
    {
        var hash = 2166136261u; // FNV-1a over the key's UTF-8
        foreach (var b in System.Text.Encoding.UTF8.GetBytes(key))
            hash = (hash ^ b) * 16777619u;
        return string.Create(CultureInfo.InvariantCulture, $"{time.ToUnixTimeSeconds()}.Q{id}K{hash:x8}.engine,S={size}");
    }

    /// <summary>Delivers under a new name; returns it.</summary>
    public string Deliver(string account, ReadOnlySpan<byte> prefix, Stream body)
    {
        var name = NewName(prefix.Length + body.Length);
        Write(account, name, prefix, body);
        return name;
    }

    /// <summary>
    /// Writes <paramref name="prefix"/> (trace headers such as Delivered-To) and the body to tmp/NAME,
    /// fsyncs it, moves it to new/NAME and fsyncs new/; returns where the file is. The Maildir's folders are
    /// made only when missing (a first delivery), not looked for on every write.
    /// </summary>
    public string Write(string account, string name, ReadOnlySpan<byte> prefix, Stream body, string folder = Inbox, string? flagged = null)
    {
        var (tmp, target) = WriteTemporary(account, name, prefix, body, folder, flagged, fsync);
        Publish(account, folder, tmp, target);
        if (fsync)
            DirectorySync.Fsync(Path.GetDirectoryName(target)!);
        return target;
    }

    /// <summary>
    /// As <see cref="Write"/>, with the file system's group sync (<see cref="FileSystemSync"/>) in place of the file's and the
    /// folder's fsyncs: the file is written, a sync shared with every other write meanwhile makes it durable, it is
    /// moved, and a second shared sync makes the move durable. The same order as the fsyncs (the content on disk before
    /// its name in new/, the name before the caller goes on), with one device flush for many deliveries instead of two
    /// each. Where syncfs is not to be had, <see cref="Write"/>.
    /// </summary>
    public async Task<string> WriteAsync(string account, string name, byte[] prefix, Stream body, string folder = Inbox, string? flagged = null)
    {
        if (!fsync || !shareSyncs || !FileSystemSync.Supported)
            return Write(account, name, prefix, body, folder, flagged);
        var (tmp, target) = WriteTemporary(account, name, prefix, body, folder, flagged, flushToDisk: false);
        await FileSystemSync.SyncAsync(Path.GetDirectoryName(tmp)!).ConfigureAwait(false);
        Publish(account, folder, tmp, target);
        await FileSystemSync.SyncAsync(Path.GetDirectoryName(target)!).ConfigureAwait(false);
        return target;
    }

    /// <summary>The message in tmp/ under a name of this attempt's own; that name and the one it is to have.</summary>
    private (string Tmp, string Target) WriteTemporary(string account, string name, ReadOnlySpan<byte> prefix, Stream body, string folder,
        string? flagged, bool flushToDisk)
    {
        var maildir = PathOf(account, folder);
        // tmp/ gets a name of this attempt's own: two writes of one delivery at once (a repeat racing the first) must
        // not share a file there; both end as the same file in new/.
        var tmp = Path.Combine(maildir, "tmp", $"{name}.{Guid.NewGuid():N}");
        FileStream file;
        try
        {
            file = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None, 0);
        }
        catch (IOException e) when (FolderMissing(e))
        {
            Ensure(account, folder);
            file = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None, 0);
        }
        using (file)
        {
            file.Write(prefix);
            body.CopyTo(file, 64 * 1024);
            if (flushToDisk)
                file.Flush(flushToDisk: true);
        }
        // A message appended with flags goes to cur/ with them in its name (flagged is that name).
        return (tmp, flagged is null ? Path.Combine(maildir, "new", name) : Path.Combine(maildir, "cur", flagged));
    }

    private void Publish(string account, string folder, string tmp, string target)
    {
        try
        {
            File.Move(tmp, target, overwrite: true);
        }
        catch (IOException e) when (FolderMissing(e))
        {
            Ensure(account, folder);
            File.Move(tmp, target, overwrite: true);
        }
    }

    /// <summary>
    /// Whether an error is ENOENT for a folder not made yet. .NET reports it as DirectoryNotFoundException, or as
    /// FileNotFoundException when another write made the folder before .NET looked for it (the first deliveries to a
    /// new mailbox, many at once); either way the folders are made and the call tried once more.
    /// </summary>
    private static bool FolderMissing(IOException e) => e is DirectoryNotFoundException or FileNotFoundException;

    /// <summary>The names (without their ":2," info) of the files in a folder's new/ and cur/: one listing of each.</summary>
    public HashSet<string> Names(string account, string folder = Inbox)
    {
        var maildir = PathOf(account, folder);
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var sub in (string[])["new", "cur"])
        {
            var dir = Path.Combine(maildir, sub);
            if (System.IO.Directory.Exists(dir))
                names.UnionWith(System.IO.Directory.EnumerateFiles(dir).Select(f => DovecotMaildir.BaseName(Path.GetFileName(f))));
        }
        return names;
    }

    /// <summary>The path of a message by the name it was delivered under: in new/, or in cur/ with its flags (":2,...").</summary>
    public string? Find(string account, string name, string folder = Inbox)
    {
        var maildir = PathOf(account, folder);
        var fresh = Path.Combine(maildir, "new", name);
        if (File.Exists(fresh))
            return fresh;
        var cur = Path.Combine(maildir, "cur");
        if (!System.IO.Directory.Exists(cur))
            return null;
        var plain = Path.Combine(cur, name);
        return File.Exists(plain) ? plain : System.IO.Directory.EnumerateFiles(cur, name + ":*").FirstOrDefault();
    }

    /// <summary>
    /// Where a message's file should be: new/NAME until its flags first change, then cur/NAME:2,LETTERS with
    /// the system flags as maildir(5) and Dovecot spell them (D draft, F flagged, R answered, S seen, T deleted,
    /// in that order). When it is not there (another program renamed it), wherever <see cref="Find"/> finds it.
    /// </summary>
    public string? Locate(string account, string name, bool cur, IEnumerable<string> flags, string folder = Inbox)
    {
        var expected = Path.Combine(PathOf(account, folder), cur ? "cur" : "new", cur ? name + Suffix(account, folder, flags, assign: false) : name);
        return File.Exists(expected) ? expected : Find(account, name, folder);
    }

    /// <summary>Renames a message's file to cur/NAME:2,LETTERS for these flags; false when the file is not there.</summary>
    public bool SetFlags(string account, string name, bool cur, IEnumerable<string> oldFlags, IEnumerable<string> newFlags, string folder = Inbox)
    {
        if (Locate(account, name, cur, oldFlags, folder) is not { } from)
            return false;
        var to = Path.Combine(PathOf(account, folder), "cur", name + FlagSuffix(account, folder, newFlags));
        if (from != to)
            File.Move(from, to, overwrite: true);
        return true;
    }

    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, KeywordLetters> _keywords = new();

    /// <summary>
    /// The info part of a Maildir name for these IMAP flags: ":2," and the letters in ASCII order, the system flags
    /// (D draft, F flagged, R answered, S seen, T deleted) then the folder's keywords (a..z, given in dovecot-keywords).
    /// </summary>
    public string FlagSuffix(string account, string folder, IEnumerable<string> flags) => Suffix(account, folder, flags, assign: true);

    private string Suffix(string account, string folder, IEnumerable<string> flags, bool assign)
    {
        KeywordLetters? keywords = null;
        var letters = flags.Select(f => f.ToUpperInvariant() switch
        {
            "\\DRAFT" => 'D',
            "\\FLAGGED" => 'F',
            "\\ANSWERED" => 'R',
            "\\SEEN" => 'S',
            "\\DELETED" => 'T',
            _ when f.StartsWith('\\') => '\0', // \Recent and other system flags have no letter
            _ => (keywords ??= _keywords.GetOrAdd(PathOf(account, folder), d => new KeywordLetters(Path.Combine(d, "dovecot-keywords"))))
                .LetterOf(f, assign) ?? '\0',
        }).Where(c => c != '\0').Distinct().Order();
        return ":2," + string.Concat(letters);
    }

    /// <summary>Deletes a message (wherever it is); false when it was not there.</summary>
    public bool Delete(string account, string name, bool cur = false, IEnumerable<string>? flags = null, string folder = Inbox)
    {
        if (Locate(account, name, cur, flags ?? [], folder) is not { } path)
            return false;
        File.Delete(path);
        return true;
    }

    /// <summary>Every message file of an account, in new/ and cur/ of INBOX and of every folder.</summary>
    public IEnumerable<string> Messages(string account)
    {
        var maildir = PathOf(account);
        var folders = System.IO.Directory.Exists(maildir) ? System.IO.Directory.EnumerateDirectories(maildir, ".*") : [];
        return folders.Prepend(maildir)
            .SelectMany(dir => ((string[])["new", "cur"]).Select(sub => Path.Combine(dir, sub)))
            .Where(System.IO.Directory.Exists)
            .SelectMany(System.IO.Directory.EnumerateFiles);
    }

    /// <summary>
    /// Copies a message file into another folder under a new name (cur/, with its flags): a hard link when the
    /// file system allows, as Dovecot does, else a copy. The source stays.
    /// </summary>
    public void Copy(string fromPath, string account, string folder, string flaggedName)
    {
        var target = Path.Combine(Ensure(account, folder), "cur", flaggedName);
        if (!HardLink.TryCreate(fromPath, target))
            File.Copy(fromPath, target, overwrite: true);
        if (fsync)
            DirectorySync.Fsync(Path.GetDirectoryName(target)!);
    }

    /// <summary>Links (or copies) a file from another Maildir into a folder: new/NAME, or cur/NAME:2,FLAGS when it has flags.</summary>
    public void Import(string fromPath, string account, string folder, string name, IReadOnlyList<string> flags)
    {
        var dir = Ensure(account, folder);
        var target = flags.Count == 0 ? Path.Combine(dir, "new", name) : Path.Combine(dir, "cur", name + FlagSuffix(account, folder, flags));
        if (!File.Exists(target) && !HardLink.TryCreate(fromPath, target))
            File.Copy(fromPath, target);
    }

    /// <summary>Removes a folder's Maildir with its messages (not its children: they are folders of their own).</summary>
    public void DeleteFolder(string account, string folder)
    {
        var path = PathOf(account, folder);
        _keywords.TryRemove(path, out _);
        if (System.IO.Directory.Exists(path))
            System.IO.Directory.Delete(path, recursive: true);
    }

    /// <summary>Renames a folder's Maildir; false when it had none yet.</summary>
    public bool RenameFolder(string account, string from, string to)
    {
        var source = PathOf(account, from);
        _keywords.TryRemove(source, out _);
        _keywords.TryRemove(PathOf(account, to), out _);
        if (!System.IO.Directory.Exists(source))
            return false;
        System.IO.Directory.Move(source, PathOf(account, to));
        return true;
    }

    /// <summary>
    /// The bytes an account's messages take, read from the ",S=size" of their names (Dovecot's way), or
    /// from the file where a name has none.
    /// </summary>
    public long Usage(string account) => Messages(account).Sum(file => SizeOf(Path.GetFileName(file)) ?? new FileInfo(file).Length);

    /// <summary>The size a Maildir name carries (",S=1234"), if it carries one.</summary>
    public static long? SizeOf(string name)
    {
        var s = name.IndexOf(",S=", StringComparison.Ordinal);
        if (s < 0)
            return null;
        var digits = name.AsSpan(s + 3);
        var end = digits.IndexOfAny(',', ':');
        return long.TryParse(end < 0 ? digits : digits[..end], NumberStyles.None, CultureInfo.InvariantCulture, out var size) ? size : null;
    }

    /// <summary>Maildir names may not hold '/' or ':'; Dovecot writes them as \057 and \072.</summary>
    private static string SafeHost(string host) => host.Replace("/", "\\057", StringComparison.Ordinal).Replace(":", "\\072", StringComparison.Ordinal);

}
