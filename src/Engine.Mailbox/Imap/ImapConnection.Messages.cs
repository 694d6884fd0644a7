using System.Globalization;
using Akka.Actor;
using Engine.Messages.Mailbox;
using Engine.Protocols.Imap;
using Engine.Storage.Maildir;
using MimeKit;

namespace Engine.Mailbox.Imap;

/// <summary>FETCH, STORE and SEARCH: the commands on the messages of the selected mailbox.</summary>
internal sealed partial class ImapConnection
{
    private async Task<bool> FetchAsync(string tag, IReadOnlyList<ImapToken> args, bool uid)
    {
        var selected = _selected!;
        if (args.Count is < 2 or > 3 || args[0].Text is not { } setText || !SequenceSet.TryParse(setText, out var set))
            return Bad(tag, "FETCH takes a sequence set and data items");
        if (!FetchRequest.TryParse(args[1], out var items, out var error))
            return Bad(tag, error);
        long? changedSince = null;
        var vanished = false;
        if (args.Count == 3)
        {
            if (args[2] is not ImapToken.List { Items: { Count: 2 or 3 } modifiers }
                || !string.Equals(modifiers[0].Text, "CHANGEDSINCE", StringComparison.OrdinalIgnoreCase)
                || !long.TryParse(modifiers[1].Text, NumberStyles.None, CultureInfo.InvariantCulture, out var since)
                || (modifiers.Count == 3 && !string.Equals(modifiers[2].Text, "VANISHED", StringComparison.OrdinalIgnoreCase)))
                return Bad(tag, "Unknown FETCH modifier");
            changedSince = since;
            _condstore = true;
            vanished = modifiers.Count == 3;
            if (vanished && (!uid || !_qresync))
                return Bad(tag, "VANISHED needs UID FETCH and QRESYNC enabled");
        }
        if (vanished)
        {
            // RFC 7162 section 3.2.6: the UIDs of the set expunged since CHANGEDSINCE, from the mailbox's record.
            var listing = await mailboxes.Ask<MailboxReplies.Listing>(new MailboxCommands.List(_account, _selectedName), AskTimeout).ConfigureAwait(false);
            var gone = Vanished(listing.Expunged, changedSince!.Value, set, selected.UidNext);
            if (gone.Length > 0)
                Line("* VANISHED (EARLIER) " + gone);
        }
        var wanted = items.ToList();
        if (uid && !wanted.Any(i => i is FetchItem.Uid))
            wanted.Insert(0, new FetchItem.Uid());
        if ((_condstore && changedSince is not null) && !wanted.Any(i => i is FetchItem.ModSeq))
            wanted.Add(new FetchItem.ModSeq());
        var named = selected.Resolve(set, uid);
        if (!uid && named.Count == 0)
            return Bad(tag, "Invalid message sequence set"); // no such message numbers ("1:*" on an empty mailbox), as Dovecot
        var targets = named.Where(t => changedSince is null || selected[t.Uid].ModSeq > changedSince).ToArray();

        // Reading a section without PEEK sets \Seen (not in a read-only mailbox): stored first, so the FETCH shows it.
        var seen = !selected.ReadOnly && wanted.Any(i => i is FetchItem.Section { Peek: false })
            ? targets.Select(t => t.Uid).Where(u => !selected[u].FlagList.Contains("\\Seen", StringComparer.OrdinalIgnoreCase)).ToHashSet()
            : [];
        if (seen.Count > 0)
        {
            var stored = await mailboxes.Ask<MailboxReplies.Stored>(new MailboxCommands.Store(_account, seen.ToArray(), FlagChange.Add, ["\\Seen"], Folder: _selectedName), AskTimeout)
                .ConfigureAwait(false);
            foreach (var m in stored.Changed)
                selected.Update(m);
        }
        var missing = false;
        var needsOctets = wanted.Any(i => i is FetchItem.Section or FetchItem.BinarySize);
        var needsStructure = wanted.Any(i => i is FetchItem.Envelope or FetchItem.Structure);
        using var structures = new StructureFile.Reader(maildir.PathOf(_account, _selectedName));
        foreach (var (seq, messageUid) in targets)
        {
            var message = selected[messageUid];
            MessageStructure? structure = null;
            var cached = needsStructure && message.Cache is { } offset ? structures.Read(offset, messageUid) : null;
            if (needsOctets || (cached is null && needsStructure))
            {
                if (ReadMessage(message) is not { } octets)
                {
                    missing = true; // expunged by another session, not yet announced here
                    continue;
                }
                structure = MessageStructure.Of(octets);
                if (cached is null && needsStructure)
                    cached = Structures.Of(structure); // a message without a record (its file could not be parsed at delivery)
            }
            Text(string.Create(CultureInfo.InvariantCulture, $"* {seq} FETCH ("));
            var first = true;
            IEnumerable<FetchItem> items2 = wanted;
            if (seen.Contains(messageUid))
            {
                // the implicit \Seen is reported (RFC 9051 section 6.4.5), with UID and MODSEQ under CONDSTORE (RFC 7162 section 3.2)
                if (!wanted.Any(i => i is FetchItem.Flags))
                    items2 = items2.Append(new FetchItem.Flags());
                if (_condstore && !wanted.Any(i => i is FetchItem.Uid))
                    items2 = items2.Append(new FetchItem.Uid());
                if (_condstore && !wanted.Any(i => i is FetchItem.ModSeq))
                    items2 = items2.Append(new FetchItem.ModSeq());
            }
            foreach (var item in items2)
            {
                if (!first)
                    Text(" ");
                first = false;
                WriteItem(item, message, structure, cached);
            }
            Line(")");
            if (_out.WrittenCount > 256 * 1024)
                await FlushAsync().ConfigureAwait(false);
        }
        AnnounceNow(allowExpunge: uid);
        Line(missing ? $"{tag} NO [EXPUNGEISSUED] Some messages were expunged." : $"{tag} OK Fetch completed.");
        return true;
    }

    /// <summary>One FETCH item; ENVELOPE and BODYSTRUCTURE from the folder's structure file, sections from the parsed octets.</summary>
    private void WriteItem(FetchItem item, MailMessage message, MessageStructure? structure, StructureFile.Entry? cached)
    {
        switch (item)
        {
            case FetchItem.Uid:
                Text(string.Create(CultureInfo.InvariantCulture, $"UID {message.Uid}"));
                break;
            case FetchItem.Flags:
                Text("FLAGS " + ImapString.Flags(message.FlagList));
                break;
            case FetchItem.InternalDate:
                Text("INTERNALDATE " + ImapString.Date(InternalDate(message)));
                break;
            case FetchItem.Size:
                Text(string.Create(CultureInfo.InvariantCulture, $"RFC822.SIZE {message.Size}"));
                break;
            case FetchItem.ModSeq:
                Text(string.Create(CultureInfo.InvariantCulture, $"MODSEQ ({message.ModSeq})"));
                break;
            case FetchItem.Envelope:
                Text("ENVELOPE " + cached!.Envelope);
                break;
            case FetchItem.Structure s:
                Text(s.Extensible ? "BODYSTRUCTURE " + cached!.BodyStructure : "BODY " + cached!.Body);
                break;
            case FetchItem.BinarySize b:
                var decoded = structure!.Binary(b.Body);
                Text(b.Name + " " + (decoded is { } d ? d.Length.ToString(CultureInfo.InvariantCulture) : "NIL"));
                break;
            case FetchItem.Section s:
                var octets = s.Binary ? structure!.Binary(s.Body) : structure!.Section(s.Body);
                if (octets is not { } bytes)
                {
                    Text(s.Name + " NIL");
                    break;
                }
                if (s.Start is { } start)
                {
                    var from = (int)Math.Min(start, bytes.Length);
                    bytes = bytes.Slice(from, (int)Math.Min(s.Length ?? long.MaxValue, bytes.Length - from));
                }
                Text(string.Create(CultureInfo.InvariantCulture, $"{s.Name} {(s.Binary ? "~" : "")}{{{bytes.Length}}}\r\n"));
                Octets(bytes.Span);
                break;
        }
    }

    private async Task<bool> StoreAsync(string tag, IReadOnlyList<ImapToken> args, bool uid)
    {
        var selected = _selected!;
        var at = 1;
        long? unchangedSince = null;
        if (args.Count > 1 && args[1] is ImapToken.List { Items: [ImapToken.Atom { Value: var modifier }, ImapToken.Atom { Value: var number }] })
        {
            if (!modifier.Equals("UNCHANGEDSINCE", StringComparison.OrdinalIgnoreCase)
                || !long.TryParse(number, NumberStyles.None, CultureInfo.InvariantCulture, out var since))
                return Bad(tag, "Unknown STORE modifier");
            unchangedSince = since;
            _condstore = true;
            at = 2;
        }
        if (args.Count != at + 2 || args[0].Text is not { } setText || !SequenceSet.TryParse(setText, out var set)
            || args[at].Text?.ToUpperInvariant() is not { } item)
            return Bad(tag, "STORE takes a sequence set, FLAGS, +FLAGS or -FLAGS, and flags");
        var silent = item.EndsWith(".SILENT", StringComparison.Ordinal);
        FlagChange? change = (silent ? item[..^7] : item) switch
        {
            "FLAGS" => FlagChange.Replace,
            "+FLAGS" => FlagChange.Add,
            "-FLAGS" => FlagChange.Remove,
            _ => null,
        };
        if (change is null || !TryParseFlags(args[at + 1], out var flags))
            return Bad(tag, "Invalid STORE item or flags");
        if (selected.ReadOnly)
            return No(tag, "[READ-ONLY] Mailbox is read-only.");
        var targets = selected.Resolve(set, uid);
        var stored = await mailboxes.Ask<MailboxReplies.Stored>(
            new MailboxCommands.Store(_account, targets.Select(t => t.Uid).ToArray(), change.Value, flags, unchangedSince, _selectedName), AskTimeout).ConfigureAwait(false);
        foreach (var m in stored.Changed)
            selected.Update(m);
        var modified = stored.Modified.ToHashSet();
        // The client is told the new flags (RFC 9051 section 6.4.6); with .SILENT and CONDSTORE, still the new MODSEQ (RFC 7162 section 3.1.3).
        foreach (var (_, messageUid) in targets.Where(t => !modified.Contains(t.Uid)))
        {
            var message = selected[messageUid];
            if (!silent)
                Line(selected.FlagsLine(message, _condstore));
            else if (_condstore && stored.Changed.Any(m => m.Uid == messageUid))
                Line(string.Create(CultureInfo.InvariantCulture, $"* {selected.SequenceOf(messageUid)} FETCH (UID {messageUid} MODSEQ ({message.ModSeq}))"));
        }
        AnnounceNow(allowExpunge: uid);
        if (modified.Count > 0)
        {
            var numbers = uid ? modified.Order() : modified.Select(selected.SequenceOf).Order();
            Line($"{tag} OK [MODIFIED {string.Join(',', numbers)}] Conditional store failed for some.");
            return true;
        }
        Line($"{tag} OK Store completed.");
        return true;
    }

    /// <summary>A message as SEARCH sees it; its file is read only when a key needs the text.</summary>
    private sealed class Searchable(ImapConnection session, long sequence, MailMessage message) : ISearchable
    {
        private MimeMessage? _parsed;

        public long Sequence => sequence;

        public long Uid => message.Uid;

        public IReadOnlyList<string> Flags => message.FlagList;

        public long Size => message.Size;

        public DateTimeOffset InternalDate => ImapConnection.InternalDate(message);

        public long ModSeq => message.ModSeq;

        public MimeMessage Message()
        {
            if (_parsed is not null)
                return _parsed;
            var octets = session.ReadMessage(message) ?? [];
            using var stream = new MemoryStream(octets, writable: false);
            try
            {
                _parsed = MimeMessage.Load(stream);
            }
            catch (FormatException)
            {
                _parsed = new MimeMessage();
            }
            return _parsed;
        }
    }

    private bool Search(string tag, IReadOnlyList<ImapToken> args, bool uid)
    {
        var selected = _selected!;
        var at = 0;
        string[]? returns = null;
        if (args.Count > 1 && args[0].Text?.ToUpperInvariant() == "RETURN" && args[1] is ImapToken.List options)
        {
            returns = options.Items.Select(o => o.Text?.ToUpperInvariant() ?? "").ToArray();
            if (returns.Any(r => r is not ("MIN" or "MAX" or "COUNT" or "ALL")))
                return Bad(tag, "Unknown SEARCH RETURN option");
            if (returns.Length == 0)
                returns = ["ALL"];
            at = 2;
        }
        if (returns is null && _rev2)
            returns = ["ALL"]; // IMAP4rev2 answers every SEARCH with ESEARCH (RFC 9051 section 7.3.4)
        if (args.Count > at + 1 && args[at].Text?.ToUpperInvariant() == "CHARSET")
        {
            var charset = args[at + 1].Text?.ToUpperInvariant();
            if (charset is not ("UTF-8" or "US-ASCII"))
                return No(tag, "[BADCHARSET (UTF-8 US-ASCII)] Unsupported charset.");
            at += 2;
        }
        if (!SearchQuery.TryParse(args.Skip(at).ToArray(), out var key, out var error))
            return Bad(tag, error);
        var maxUid = selected.Count > 0 ? selected.Uids[^1] : 0;
        var found = new List<(long Seq, long Uid, long ModSeq)>();
        for (var i = 0; i < selected.Count; i++)
        {
            var message = selected[selected.Uids[i]];
            if (SearchQuery.Matches(key, new Searchable(this, i + 1, message), selected.Count, maxUid))
                found.Add((i + 1, message.Uid, message.ModSeq));
        }
        var numbers = found.Select(f => uid ? f.Uid : f.Seq).ToArray();
        var highest = UsesModSeq(key) && found.Count > 0 ? found.Max(f => f.ModSeq) : (long?)null;
        if (returns is null)
        {
            Line("* SEARCH" + string.Concat(numbers.Select(n => " " + n.ToString(CultureInfo.InvariantCulture)))
                 + (highest is { } m ? string.Create(CultureInfo.InvariantCulture, $" (MODSEQ {m})") : ""));
        }
        else
        {
            var parts = new List<string> { $"* ESEARCH (TAG \"{tag}\")" };
            if (uid)
                parts.Add("UID");
            if (numbers.Length > 0 && returns.Contains("MIN"))
                parts.Add("MIN " + numbers[0].ToString(CultureInfo.InvariantCulture));
            if (numbers.Length > 0 && returns.Contains("MAX"))
                parts.Add("MAX " + numbers[^1].ToString(CultureInfo.InvariantCulture));
            if (returns.Contains("COUNT"))
                parts.Add("COUNT " + numbers.Length.ToString(CultureInfo.InvariantCulture));
            if (numbers.Length > 0 && returns.Contains("ALL"))
                parts.Add("ALL " + SequenceSet.Format(numbers));
            if (highest is { } m)
                parts.Add(string.Create(CultureInfo.InvariantCulture, $"MODSEQ {m}")); // RFC 7162 section 3.1.5: no parentheses in ESEARCH
            Line(string.Join(' ', parts));
        }
        AnnounceNow(allowExpunge: uid);
        Line($"{tag} OK Search completed.");
        return true;
    }

    private static bool UsesModSeq(SearchKey key) => key switch
    {
        SearchKey.ModSeq => true,
        SearchKey.Not n => UsesModSeq(n.Key),
        SearchKey.Or o => UsesModSeq(o.Left) || UsesModSeq(o.Right),
        SearchKey.And a => a.Keys.Any(UsesModSeq),
        _ => false,
    };
}
