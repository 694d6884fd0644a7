using System.Globalization;
using Engine.Messages.Mailbox;
using Engine.Protocols.Imap;

namespace Engine.Mailbox.Imap;

/// <summary>
/// A session's view of its selected mailbox: the messages in sequence order as this client knows them. Changes
/// made elsewhere (deliveries, other sessions) wait in <see cref="Pending"/> until they may be announced:
/// EXISTS and FETCH FLAGS at the end of any command, EXPUNGE only when no FETCH, STORE or SEARCH is answered
/// (RFC 9051 section 7.5.1), so sequence numbers never shift under a command.
/// </summary>
internal sealed class SelectedMailbox(MailboxReplies.Listing listing, bool readOnly)
{
    private readonly List<long> _uids = listing.Messages.Select(m => m.Uid).ToList();
    private readonly Dictionary<long, MailMessage> _messages = listing.Messages.ToDictionary(m => m.Uid);

    public bool ReadOnly { get; } = readOnly;

    public long UidValidity { get; } = listing.UidValidity;

    public long UidNext { get; private set; } = Math.Max(listing.NextUid, listing.Messages.Count > 0 ? listing.Messages[^1].Uid + 1 : 1);

    public long HighestModSeq { get; private set; } = listing.HighestModSeq;

    public List<MailboxReplies.Changed> Pending { get; } = [];

    public IReadOnlyList<long> Uids => _uids;

    public int Count => _uids.Count;

    public MailMessage this[long uid] => _messages[uid];

    public long SequenceOf(long uid)
    {
        var i = _uids.BinarySearch(uid);
        return i < 0 ? 0 : i + 1;
    }

    /// <summary>The (sequence, uid) pairs a set names: message numbers, or UIDs with <paramref name="byUid"/>.</summary>
    public IReadOnlyList<(long Seq, long Uid)> Resolve(SequenceSet set, bool byUid)
    {
        if (byUid)
            return set.Select(_uids).Select(uid => (SequenceOf(uid), uid)).ToArray();
        var numbers = Enumerable.Range(1, _uids.Count).Select(i => (long)i).ToArray();
        return set.Select(numbers).Select(seq => (seq, _uids[(int)seq - 1])).ToArray();
    }

    /// <summary>A message whose flags this session changed itself: the view takes them now.</summary>
    public void Update(MailMessage message)
    {
        if (_messages.TryGetValue(message.Uid, out var known) && known.ModSeq <= message.ModSeq)
            _messages[message.Uid] = message;
        HighestModSeq = Math.Max(HighestModSeq, message.ModSeq);
    }

    /// <summary>Messages this session expunged itself: "* n EXPUNGE" lines, highest first so that each number is still right.</summary>
    public IEnumerable<string> Remove(IEnumerable<long> uids)
    {
        foreach (var uid in uids.Where(_messages.ContainsKey).OrderDescending())
        {
            var seq = SequenceOf(uid);
            _uids.RemoveAt((int)seq - 1);
            _messages.Remove(uid);
            yield return string.Create(CultureInfo.InvariantCulture, $"* {seq} EXPUNGE");
        }
    }

    /// <summary>
    /// The untagged responses for what is pending and may be said now. Changes stay pending from the first one
    /// with expunges when <paramref name="allowExpunge"/> is false.
    /// </summary>
    public List<string> Announce(bool allowExpunge, bool condstore)
    {
        var lines = new List<string>();
        var before = _uids.Count;
        var done = 0;
        foreach (var change in Pending)
        {
            var expunged = change.Expunged.Where(_messages.ContainsKey).ToArray();
            if (expunged.Length > 0 && !allowExpunge)
                break;
            done++;
            if (expunged.Length > 0)
            {
                if (_uids.Count > before)
                    lines.Add(string.Create(CultureInfo.InvariantCulture, $"* {_uids.Count} EXISTS"));
                lines.AddRange(Remove(expunged));
                before = _uids.Count;
            }
            foreach (var appended in change.Appended.Where(m => !_messages.ContainsKey(m.Uid) && (_uids.Count == 0 || m.Uid > _uids[^1])))
            {
                _uids.Add(appended.Uid);
                _messages[appended.Uid] = appended;
                UidNext = Math.Max(UidNext, appended.Uid + 1);
            }
            foreach (var message in change.FlagsChanged)
            {
                if (!_messages.TryGetValue(message.Uid, out var known) || known.ModSeq >= message.ModSeq)
                    continue;
                _messages[message.Uid] = message;
                lines.Add(FlagsLine(message, condstore));
            }
            HighestModSeq = Math.Max(HighestModSeq, change.HighestModSeq);
        }
        Pending.RemoveRange(0, done);
        if (_uids.Count != before)
            lines.Add(string.Create(CultureInfo.InvariantCulture, $"* {_uids.Count} EXISTS"));
        return lines;
    }

    /// <summary>"* n FETCH (UID u FLAGS (...) [MODSEQ (m)])".</summary>
    public string FlagsLine(MailMessage message, bool condstore) =>
        string.Create(CultureInfo.InvariantCulture, $"* {SequenceOf(message.Uid)} FETCH (UID {message.Uid} FLAGS {ImapString.Flags(message.FlagList)}")
        + (condstore ? string.Create(CultureInfo.InvariantCulture, $" MODSEQ ({message.ModSeq}))") : ")");
}
