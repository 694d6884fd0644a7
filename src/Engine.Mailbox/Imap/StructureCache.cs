using System.Collections.Concurrent;

namespace Engine.Mailbox.Imap;

/// <summary>
/// A node's ENVELOPE and BODYSTRUCTURE of the messages its IMAP sessions fetched: a message is parsed with
/// MimeKit once, not at every FETCH (clients ask for these for every message they list). A message's octets
/// never change under its UID, so an entry is never stale; (account, folder, UIDVALIDITY, UID) is the key.
/// At most <paramref name="capacity"/> entries: past it, an arbitrary tenth is dropped.
/// </summary>
public sealed class StructureCache(int capacity = 50_000)
{
    public sealed record Entry(string Envelope, string Body, string BodyStructure);

    private readonly ConcurrentDictionary<(string Account, string Folder, long UidValidity, long Uid), Entry> _entries = new();

    public Entry? Find(string account, string folder, long uidValidity, long uid) => _entries.GetValueOrDefault((account, folder, uidValidity, uid));

    public void Add(string account, string folder, long uidValidity, long uid, Entry entry)
    {
        if (_entries.Count >= capacity)
        {
            foreach (var key in _entries.Keys.Take(Math.Max(1, capacity / 10)).ToArray())
                _entries.TryRemove(key, out _);
        }
        _entries[(account, folder, uidValidity, uid)] = entry;
    }
}
