using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Akka.Actor;
using Engine.Messages.Mailbox;
using Engine.Primitives;
using Engine.Protocols.Imap;

namespace Engine.Mailbox.Imap;

/// <summary>The commands on folders: LIST (with LIST-EXTENDED, LIST-STATUS, SPECIAL-USE), LSUB, STATUS, CREATE, DELETE, RENAME, SUBSCRIBE, APPEND, COPY, MOVE.</summary>
internal sealed partial class ImapConnection
{
    private static readonly string[] StatusItems = ["MESSAGES", "UIDNEXT", "UIDVALIDITY", "UNSEEN", "RECENT", "HIGHESTMODSEQ", "SIZE"];

    /// <summary>A mailbox name as the client sent it: modified UTF-7 (RFC 3501) unless UTF8=ACCEPT is enabled; INBOX in any case is INBOX.</summary>
    private string? FolderName(ImapToken token)
    {
        if (token.Text is not { } text)
            return null;
        if (!_utf8 && !ModifiedUtf7.TryDecode(text, out text))
            return null;
        return MailboxState.Normalize(text);
    }

    /// <summary>A mailbox name for the client: quoted, in modified UTF-7 unless UTF8=ACCEPT is enabled.</summary>
    private string Quoted(string folder) => ImapString.Of(_utf8 ? folder : ModifiedUtf7.Encode(folder));

    private async Task<MailboxReplies.FolderList> FoldersAsync() =>
        await mailboxes.Ask<MailboxReplies.FolderList>(new MailboxCommands.Folders(_account), AskTimeout).ConfigureAwait(false);

    /// <summary>
    /// LIST [(selection options)] reference pattern [RETURN (options)] (RFC 5258, RFC 5819, RFC 6154), and LSUB.
    /// Children are marked \HasChildren or \HasNoChildren; special folders carry their use.
    /// </summary>
    private async Task<bool> ListAsync(string tag, string command, IReadOnlyList<ImapToken> args)
    {
        var at = 0;
        var selection = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        if (command == "LIST" && args.Count > 0 && args[0] is ImapToken.List selectOptions)
        {
            foreach (var option in selectOptions.Items)
                selection.Add(option.Text ?? "");
            at = 1;
        }
        if (args.Count < at + 2 || args[at].Text is not { } reference)
            return Bad(tag, $"{command} takes a reference and a mailbox pattern");
        var patterns = args[at + 1] is ImapToken.List many ? many.Items.Select(p => p.Text ?? "").ToArray() : [args[at + 1].Text ?? ""];
        var returns = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        string[] status = [];
        if (args.Count > at + 2)
        {
            if (args.Count != at + 4 || !string.Equals(args[at + 2].Text, "RETURN", StringComparison.OrdinalIgnoreCase) || args[at + 3] is not ImapToken.List options)
                return Bad(tag, "Invalid LIST options");
            for (var i = 0; i < options.Items.Count; i++)
            {
                var option = options.Items[i].Text?.ToUpperInvariant() ?? "";
                returns.Add(option);
                if (option == "STATUS")
                {
                    if (i + 1 >= options.Items.Count || options.Items[i + 1] is not ImapToken.List items)
                        return Bad(tag, "STATUS takes a list of items");
                    status = items.Items.Select(s => s.Text?.ToUpperInvariant() ?? "").ToArray();
                    if (status.Any(s => !StatusItems.Contains(s)))
                        return Bad(tag, "Unknown STATUS item");
                    i++;
                }
            }
        }
        if (patterns.Length == 1 && patterns[0].Length == 0)
            return Done(tag, $"* {command} (\\Noselect) \"/\" \"\"");
        var decoded = new List<string>();
        foreach (var pattern in patterns)
        {
            var full = reference + pattern;
            if (!_utf8 && !ModifiedUtf7.TryDecode(full, out full))
                return Bad(tag, "Invalid modified UTF-7 in the pattern");
            decoded.Add(full);
        }
        var matchers = decoded.Select(Matcher).ToArray();
        var folders = (await FoldersAsync().ConfigureAwait(false)).Folders;
        var subscribedOnly = command == "LSUB" || selection.Contains("SUBSCRIBED");
        var specialOnly = selection.Contains("SPECIAL-USE");
        foreach (var folder in folders)
        {
            if (!matchers.Any(m => m.IsMatch(folder.Name)) || (subscribedOnly && !folder.Subscribed) || (specialOnly && folder.SpecialUse is null))
                continue;
            var attributes = new List<string>
            {
                folders.Any(f => f.Name.StartsWith(folder.Name + "/", StringComparison.Ordinal)) ? "\\HasChildren" : "\\HasNoChildren",
            };
            if (folder.Subscribed && command == "LIST" && (returns.Contains("SUBSCRIBED") || selection.Contains("SUBSCRIBED")))
                attributes.Add("\\Subscribed");
            if (folder.SpecialUse is { } use && command == "LIST")
                attributes.Add(use);
            Line($"* {command} ({string.Join(' ', attributes)}) \"/\" {Quoted(folder.Name)}");
            if (status.Length > 0)
                Line($"* STATUS {Quoted(folder.Name)} ({StatusValues(folder, status)})");
        }
        return Done(tag, null);
    }

    /// <summary>A LIST pattern as a regular expression: "*" anything, "%" anything but the separator; INBOX without regard to case.</summary>
    private static Regex Matcher(string pattern)
    {
        var text = new StringBuilder("^");
        var previous = '\0';
        foreach (var c in pattern)
        {
            if (c == '*' && previous == '*')
                continue; // "***" is "*"
            text.Append(c switch { '*' => ".*", '%' => "[^/]*", _ => Regex.Escape(c.ToString()) });
            previous = c;
        }
        var regex = text.Append('$').ToString();
        if (pattern.StartsWith("INBOX", StringComparison.OrdinalIgnoreCase))
            regex = "^(?i:INBOX)" + regex[(1 + Regex.Escape("INBOX").Length)..];
        // No backtracking: a pattern of many wildcards costs time linear in the name, never exponential.
        return new Regex(regex, RegexOptions.CultureInvariant | RegexOptions.NonBacktracking);
    }

    private static string StatusValues(FolderInfo folder, IEnumerable<string> items) =>
        string.Join(' ', items.Select(item => item + " " + (item switch
        {
            "MESSAGES" => folder.Messages,
            "UIDNEXT" => folder.UidNext,
            "UIDVALIDITY" => folder.UidValidity,
            "UNSEEN" => folder.Unseen,
            "HIGHESTMODSEQ" => folder.HighestModSeq,
            "SIZE" => folder.Size,
            _ => 0,
        }).ToString(CultureInfo.InvariantCulture)));

    private async Task<bool> StatusAsync(string tag, IReadOnlyList<ImapToken> args)
    {
        if (args.Count != 2 || FolderName(args[0]) is not { } name || args[1] is not ImapToken.List items)
            return Bad(tag, "STATUS takes a mailbox and a list of items");
        var wanted = items.Items.Select(i => i.Text?.ToUpperInvariant() ?? "").ToArray();
        if (wanted.Length == 0 || wanted.Any(w => !StatusItems.Contains(w)))
            return Bad(tag, "Unknown STATUS item");
        var folder = (await FoldersAsync().ConfigureAwait(false)).Folders.FirstOrDefault(f => f.Name == name);
        if (folder is null)
            return No(tag, "[NONEXISTENT] Mailbox doesn't exist.");
        return Done(tag, $"* STATUS {Quoted(folder.Name)} ({StatusValues(folder, wanted)})");
    }

    /// <summary>CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE: one request to the mailbox entity each.</summary>
    private async Task<bool> FolderCommandAsync(string tag, string command, IReadOnlyList<ImapToken> args)
    {
        if (args.Count < 1 || FolderName(args[0]) is not { } name)
            return Bad(tag, $"{command} takes a valid mailbox name");
        IMailboxMessage request;
        switch (command)
        {
            case "CREATE":
                string? use = null;
                if (args.Count == 2 && args[1] is ImapToken.List { Items: [ImapToken.Atom { Value: var kind }, ImapToken.List { Items: [var flag] }] }
                                    && kind.Equals("USE", StringComparison.OrdinalIgnoreCase))
                {
                    use = flag.Text;
                    if (use is not ("\\Drafts" or "\\Sent" or "\\Trash" or "\\Junk" or "\\Archive" or "\\All" or "\\Flagged"))
                        return No(tag, "[USEATTR] Unsupported special use.");
                }
                request = new MailboxCommands.CreateFolder(_account, name, use);
                break;
            case "DELETE":
                request = new MailboxCommands.DeleteFolder(_account, name);
                break;
            case "RENAME":
                if (args.Count != 2 || FolderName(args[1]) is not { } to)
                    return Bad(tag, "RENAME takes two mailbox names");
                if (name == MailboxState.InboxName)
                    return await RenameInboxAsync(tag, to).ConfigureAwait(false);
                request = new MailboxCommands.RenameFolder(_account, name, to);
                break;
            default:
                request = new MailboxCommands.Subscribe(_account, name, command == "SUBSCRIBE");
                break;
        }
        var done = await mailboxes.Ask<MailboxReplies.FolderDone>(request, AskTimeout).ConfigureAwait(false);
        if (done.Error is { } error)
            return No(tag, error);
        if (command is "DELETE" or "RENAME" && _selected is not null && MailboxState.IsSelfOrChild(_selectedName, name))
        {
            Close(); // this session's own selected folder is gone or renamed: unselected, and told so
            Line("* OK [CLOSED] Mailbox closed.");
        }
        return Done(tag, null);
    }

    /// <summary>
    /// RENAME INBOX (RFC 3501 section 6.3.5): its messages move to a new folder of that name; INBOX stays, empty,
    /// with its children. A message delivered meanwhile stays in INBOX.
    /// </summary>
    private async Task<bool> RenameInboxAsync(string tag, string to)
    {
        var created = await mailboxes.Ask<MailboxReplies.FolderDone>(new MailboxCommands.CreateFolder(_account, to, null), AskTimeout).ConfigureAwait(false);
        if (created.Error is { } error)
            return No(tag, error);
        var inbox = await mailboxes.Ask<MailboxReplies.Listing>(new MailboxCommands.List(_account, MailboxState.InboxName), AskTimeout).ConfigureAwait(false);
        if (inbox.Messages.Count > 0)
        {
            var moved = await mailboxes.Ask<object>(new MailboxCommands.Copy(_account, MailboxState.InboxName, inbox.Messages.Select(m => m.Uid).ToArray(), to,
                Move: true), AskTimeout).ConfigureAwait(false);
            if (moved is not MailboxReplies.Copied)
                return No(tag, (moved as MailboxReplies.FolderDone)?.Error ?? "[SERVERBUG] Rename failed.");
        }
        return Done(tag, null, allowExpunge: true);
    }

    /// <summary>
    /// APPEND mailbox [(flags)] [date-time] literal, and with MULTIAPPEND (RFC 3502) more messages after it, each with
    /// its own flags and date: the octets go to the spool first (the entity reads them from there, as it reads
    /// deliveries), then the entity writes the file and answers APPENDUID with every new UID. All or none: when one
    /// message fails, those appended before it in the command are expunged again.
    /// </summary>
    private async Task<bool> AppendAsync(string tag, IReadOnlyList<ImapToken> args)
    {
        if (args.Count < 2 || FolderName(args[0]) is not { } name || args[^1] is not ImapToken.Literal)
            return Bad(tag, "APPEND takes a mailbox and, for each message, optional flags and date and a literal");
        var messages = new List<(IReadOnlyList<string> Flags, DateTimeOffset Date, byte[] Octets)>();
        IReadOnlyList<string>? flags = null;
        DateTimeOffset? date = null;
        foreach (var option in args.Skip(1))
        {
            if (option is ImapToken.Literal literal)
            {
                messages.Add((flags ?? [], date ?? DateTimeOffset.UtcNow, literal.Octets));
                (flags, date) = (null, null);
            }
            else if (flags is null && date is null && option is ImapToken.List && TryParseFlags(option, out var parsed))
            {
                flags = parsed;
            }
            else if (date is null && option.Text is { } text && ImapString.TryParseDateTime(text, out var parsedDate))
            {
                date = parsedDate;
            }
            else
            {
                return Bad(tag, "Invalid APPEND flags or date");
            }
        }
        if (messages.Any(m => m.Octets.Length == 0))
            return No(tag, "Can't save an empty message.");
        var uids = new List<long>();
        long uidValidity = 0;
        foreach (var (messageFlags, messageDate, octets) in messages)
        {
            var reply = await AppendOneAsync(name, messageFlags, messageDate, octets).ConfigureAwait(false);
            if (reply is MailboxReplies.Appended appended)
            {
                uids.Add(appended.Uid);
                uidValidity = appended.UidValidity;
                continue;
            }
            if (uids.Count > 0)
                await TakeBackAsync(name, uids).ConfigureAwait(false);
            return No(tag, (reply as MailboxReplies.FolderDone)?.Error ?? "[SERVERBUG] Append failed.");
        }
        await HearOwnAsync(name, uids).ConfigureAwait(false);
        AnnounceNow(allowExpunge: true);
        Line(string.Create(CultureInfo.InvariantCulture, $"{tag} OK [APPENDUID {uidValidity} {SequenceSet.Format(uids)}] Append completed."));
        return true;
    }

    private async Task<object> AppendOneAsync(string folder, IReadOnlyList<string> flags, DateTimeOffset date, byte[] octets)
    {
        var blob = blobs.Create(QueueId.New());
        try
        {
            await blob.WriteAsync(octets).ConfigureAwait(false);
            await blob.CommitAsync().ConfigureAwait(false);
            var quota = directory.Current.FindUser(_account)?.QuotaBytes ?? 0;
            return await mailboxes.Ask<object>(new MailboxCommands.Append(_account, folder, blob.Ref, flags, date.ToUnixTimeSeconds(), quota), AskTimeout)
                .ConfigureAwait(false);
        }
        finally
        {
            await blob.DisposeAsync().ConfigureAwait(false);
            blobs.Delete(blob.Ref);
        }
    }

    /// <summary>A MULTIAPPEND that failed part-way: the messages it did append leave the folder again.</summary>
    private async Task TakeBackAsync(string folder, IReadOnlyList<long> uids)
    {
        try
        {
            await mailboxes.Ask<object>(new MailboxCommands.Expunge(_account, uids, folder), AskTimeout).ConfigureAwait(false);
        }
        catch (AskTimeoutException)
        {
            ImapLog.Failed(log, _account, $"taking back the messages {string.Join(',', uids)} of a failed MULTIAPPEND to {folder}", "no answer in time");
        }
    }

    /// <summary>Messages this session put in its selected folder are announced (EXISTS) in the reply to the command that put them there.</summary>
    private Task HearOwnAsync(string folder, IReadOnlyList<long> uids) =>
        _selected is { } selected && uids.Count > 0 && MailboxState.Normalize(folder) == _selectedName
            ? selected.HearAsync(uids.Max(), TimeSpan.FromSeconds(2))
            : Task.CompletedTask;

    /// <summary>COPY and MOVE (RFC 6851): COPYUID (RFC 4315); a MOVE's messages leave this session's view with EXPUNGE responses.</summary>
    private async Task<bool> CopyAsync(string tag, IReadOnlyList<ImapToken> args, bool uid, bool move)
    {
        var selected = _selected!;
        if (args.Count != 2 || args[0].Text is not { } setText || !SequenceSet.TryParse(setText, out var set) || FolderName(args[1]) is not { } target)
            return Bad(tag, $"{(move ? "MOVE" : "COPY")} takes a sequence set and a mailbox");
        if (move && selected.ReadOnly)
            return No(tag, "[READ-ONLY] Mailbox is read-only.");
        var named = selected.Resolve(set, uid);
        if (!uid && named.Count == 0)
            return Bad(tag, "Invalid message sequence set");
        var reply = await mailboxes.Ask<object>(new MailboxCommands.Copy(_account, _selectedName, named.Select(n => n.Uid).ToArray(), target, move), AskTimeout)
            .ConfigureAwait(false);
        if (reply is not MailboxReplies.Copied copied)
            return No(tag, (reply as MailboxReplies.FolderDone)?.Error ?? "[SERVERBUG] Copy failed.");
        var code = copied.From.Count == 0
            ? ""
            : string.Create(CultureInfo.InvariantCulture, $"[COPYUID {copied.UidValidity} {string.Join(',', copied.From)} {string.Join(',', copied.To)}] ");
        if (!move)
        {
            await HearOwnAsync(target, copied.To).ConfigureAwait(false);
            AnnounceNow(allowExpunge: uid);
            Line($"{tag} OK {code}Copy completed.");
            return true;
        }
        if (code.Length > 0)
            Line($"* OK {code}Moved.");
        foreach (var line in selected.Remove(copied.From, _qresync))
            Line(line);
        return Done(tag, null, allowExpunge: true);
    }
}
