using System.Globalization;
using Engine.Messages.Mailbox;
using Engine.Protocols.Imap;

namespace Engine.Mailbox.Imap;

/// <summary>
/// A session's view of its selected mailbox: the messages in sequence order as this client knows them. Changes
/// made elsewhere (deliveries, other sessions) are heard (<see cref="Hear"/>) and wait until they may be announced:
/// EXISTS and FETCH FLAGS at the end of any command, EXPUNGE only when no FETCH, STORE or SEARCH is answered
/// (RFC 9051 section 7.5.1), so sequence numbers never shift under a command.
/// </summary>
internal sealed class SelectedMailbox
{
    /// <summary>The messages in UID order (which is sequence order): one reference each, shared with the listing.</summary>
    private readonly List<MailMessage> _messages;

    public SelectedMailbox(MailboxReplies.Listing listing, bool readOnly)
    {
        _messages = new List<MailMessage>(listing.Messages);
        ReadOnly = readOnly;
        UidValidity = listing.UidValidity;
        UidNext = Math.Max(listing.NextUid, listing.Messages.Count > 0 ? listing.Messages[^1].Uid + 1 : 1);
        HighestModSeq = listing.HighestModSeq;
        Uids = new UidList(_messages);
    }

    /// <summary>The message numbers 1..count, without an array of them (a set is resolved against them at every command).</summary>
    private sealed class SequenceNumbers(int count) : IReadOnlyList<long>
    {
        public long this[int index] => index + 1;

        public int Count => count;

        public IEnumerator<long> GetEnumerator() => Enumerable.Range(1, count).Select(i => (long)i).GetEnumerator();

        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
    }

    /// <summary>The UIDs of <see cref="_messages"/>, without a copy.</summary>
    private sealed class UidList(List<MailMessage> messages) : IReadOnlyList<long>
    {
        public long this[int index] => messages[index].Uid;

        public int Count => messages.Count;

        public IEnumerator<long> GetEnumerator() => messages.Select(m => m.Uid).GetEnumerator();

        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
    }

    public bool ReadOnly { get; }

    public long UidValidity { get; }

    public long UidNext { get; private set; }

    public long HighestModSeq { get; private set; }

    /// <summary>The changes the mailbox told this view of, not yet announced; locked, as they come from another thread.</summary>
    private readonly List<MailboxReplies.Changed> _pending = [];

    /// <summary>The highest UID of a message the mailbox told this view of.</summary>
    private long _heardUpTo;

    private TaskCompletionSource _heard = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>The folder was deleted or renamed by another session (or the view fell too far behind).</summary>
    public bool Gone { get; private set; }

    /// <summary>A change the mailbox told (on the watcher's thread). Past <paramref name="maxPending"/> unannounced, the view is given up.</summary>
    public void Hear(MailboxReplies.Changed changed, int maxPending)
    {
        TaskCompletionSource heard;
        lock (_pending)
        {
            if (changed.Deleted || _pending.Count >= maxPending)
                Gone = true;
            _pending.Add(changed);
            _heardUpTo = Math.Max(_heardUpTo, changed.Appended.Count > 0 ? changed.Appended.Max(m => m.Uid) : 0);
            heard = _heard;
            _heard = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        heard.TrySetResult();
    }

    /// <summary>
    /// The whole listing again, from a new incarnation of the mailbox entity (the old one's notices may have been lost):
    /// heard as one change, against what this view knows or has pending, so that new messages are announced as EXISTS,
    /// changed flags as FETCH, and messages no longer there as EXPUNGE. Another UIDVALIDITY means the folder is gone.
    /// </summary>
    public void Resync(MailboxReplies.Listing listing, int maxPending)
    {
        if (listing.UidValidity != UidValidity)
        {
            Hear(new MailboxReplies.Changed(listing.Account, [], [], [], HighestModSeq, Deleted: true), maxPending);
            return;
        }
        HashSet<long> known;
        lock (_pending)
        {
            known = _messages.Select(m => m.Uid).ToHashSet();
            foreach (var change in _pending)
            {
                known.UnionWith(change.Appended.Select(m => m.Uid));
                known.ExceptWith(change.Expunged);
            }
        }
        var present = listing.Messages.Select(m => m.Uid).ToHashSet();
        Hear(new MailboxReplies.Changed(listing.Account, listing.Messages.Where(m => !known.Contains(m.Uid)).ToArray(), listing.Messages,
            known.Where(u => !present.Contains(u)).Order().ToArray(), listing.HighestModSeq), maxPending);
    }

    /// <summary>
    /// Waits, at most <paramref name="timeout"/>, until the mailbox has told this view of the message <paramref name="uid"/>:
    /// what a command of this session put in the selected folder (APPEND, COPY) is announced in its own reply, as the
    /// mailbox's notice may come a moment after its answer.
    /// </summary>
    public async Task HearAsync(long uid, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            Task next;
            lock (_pending)
            {
                if (_heardUpTo >= uid || UidNext > uid)
                    return;
                next = _heard.Task;
            }
            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero)
                return;
            try
            {
                await next.WaitAsync(left).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                return;
            }
        }
    }

    public IReadOnlyList<long> Uids { get; }

    public int Count => _messages.Count;

    public MailMessage this[long uid] => _messages[IndexOf(uid)];

    private bool Contains(long uid) => IndexOf(uid) >= 0;

    private int IndexOf(long uid)
    {
        int lo = 0, hi = _messages.Count - 1;
        while (lo <= hi)
        {
            var mid = (lo + hi) >>> 1;
            var at = _messages[mid].Uid;
            if (at == uid)
                return mid;
            if (at < uid)
                lo = mid + 1;
            else
                hi = mid - 1;
        }
        return -1;
    }

    public long SequenceOf(long uid) => IndexOf(uid) + 1;

    /// <summary>The (sequence, uid) pairs a set names: message numbers, or UIDs with <paramref name="byUid"/>.</summary>
    public IReadOnlyList<(long Seq, long Uid)> Resolve(SequenceSet set, bool byUid)
    {
        if (byUid)
            return set.Select(Uids).Select(uid => (SequenceOf(uid), uid)).ToArray();
        return set.Select(new SequenceNumbers(_messages.Count)).Select(seq => (seq, _messages[(int)seq - 1].Uid)).ToArray();
    }

    /// <summary>A message whose flags this session changed itself: the view takes them now.</summary>
    public void Update(MailMessage message)
    {
        lock (_pending) // the list changes only under the lock, as Resync reads it from the watcher's thread
        {
            var i = IndexOf(message.Uid);
            if (i >= 0 && _messages[i].ModSeq <= message.ModSeq)
                _messages[i] = message;
            HighestModSeq = Math.Max(HighestModSeq, message.ModSeq);
        }
    }

    /// <summary>
    /// Messages that leave the view: "* n EXPUNGE" lines, highest first so that each number is still right, or
    /// with QRESYNC enabled one "* VANISHED uids" (RFC 7162 section 3.2.10).
    /// </summary>
    public List<string> Remove(IEnumerable<long> uids, bool qresync)
    {
        lock (_pending)
            return RemoveLocked(uids, qresync);
    }

    private List<string> RemoveLocked(IEnumerable<long> uids, bool qresync)
    {
        var gone = uids.Where(Contains).Distinct().OrderDescending().ToArray();
        var lines = new List<string>();
        foreach (var uid in gone)
        {
            var seq = SequenceOf(uid);
            _messages.RemoveAt((int)seq - 1);
            if (!qresync)
                lines.Add(string.Create(CultureInfo.InvariantCulture, $"* {seq} EXPUNGE"));
        }
        if (qresync && gone.Length > 0)
            lines.Add("* VANISHED " + SequenceSet.Format(gone.Reverse()));
        return lines;
    }

    /// <summary>
    /// The untagged responses for what is pending and may be said now. Changes stay pending from the first one
    /// with expunges when <paramref name="allowExpunge"/> is false.
    /// </summary>
    public List<string> Announce(bool allowExpunge, bool condstore, bool qresync = false)
    {
        lock (_pending)
            return AnnounceLocked(allowExpunge, condstore, qresync);
    }

    private List<string> AnnounceLocked(bool allowExpunge, bool condstore, bool qresync)
    {
        var lines = new List<string>();
        var before = _messages.Count;
        var done = 0;
        foreach (var change in _pending)
        {
            var expunged = change.Expunged.Where(Contains).ToArray();
            if (expunged.Length > 0 && !allowExpunge)
                break;
            done++;
            if (expunged.Length > 0)
            {
                if (_messages.Count > before)
                    lines.Add(string.Create(CultureInfo.InvariantCulture, $"* {_messages.Count} EXISTS"));
                lines.AddRange(Remove(expunged, qresync));
                before = _messages.Count;
            }
            foreach (var appended in change.Appended.Where(m => _messages.Count == 0 || m.Uid > _messages[^1].Uid))
            {
                _messages.Add(appended);
                UidNext = Math.Max(UidNext, appended.Uid + 1);
            }
            if (_messages.Count > before && change.FlagsChanged.Count > 0)
            {
                // a FETCH may name a new message: the client must know its number first
                lines.Add(string.Create(CultureInfo.InvariantCulture, $"* {_messages.Count} EXISTS"));
                before = _messages.Count;
            }
            foreach (var message in change.FlagsChanged)
            {
                var i = IndexOf(message.Uid);
                if (i < 0 || _messages[i].ModSeq >= message.ModSeq)
                    continue;
                _messages[i] = message;
                lines.Add(FlagsLine(message, condstore));
            }
            HighestModSeq = Math.Max(HighestModSeq, change.HighestModSeq);
        }
        _pending.RemoveRange(0, done);
        if (_messages.Count != before)
            lines.Add(string.Create(CultureInfo.InvariantCulture, $"* {_messages.Count} EXISTS"));
        return lines;
    }

    /// <summary>"* n FETCH (UID u FLAGS (...) [MODSEQ (m)])".</summary>
    public string FlagsLine(MailMessage message, bool condstore) =>
        string.Create(CultureInfo.InvariantCulture, $"* {SequenceOf(message.Uid)} FETCH (UID {message.Uid} FLAGS {ImapString.Flags(message.FlagList)}")
        + (condstore ? string.Create(CultureInfo.InvariantCulture, $" MODSEQ ({message.ModSeq}))") : ")");
}
