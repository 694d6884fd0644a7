using System.CommandLine;
using System.Globalization;
using Engine.Cli.Admin;
using Spectre.Console;

namespace Engine.Cli;

/// <summary>
/// queue list|show|flush|hold|release|requeue|delete and mailq: Postfix's postqueue and postsuper, for every
/// partition on every node. Bulk commands take ids, a filter, or --all, and show a progress bar on a terminal.
/// </summary>
public static class QueueCommands
{
    private const int Chunk = 200;

    private static readonly Option<string?> Queue = new("--queue") { Description = "Only this queue: incoming, active, deferred, hold, corrupt" };
    private static readonly Option<string?> Sender = new("--sender") { Description = "Only mail from this address (or @domain)" };
    private static readonly Option<string?> Recipient = new("--recipient") { Description = "Only mail to this address (or @domain)" };
    private static readonly Option<string?> Domain = new("--domain") { Description = "Only mail with a recipient at this domain" };
    private static readonly Option<string?> MinAge = new("--min-age") { Description = "Only mail at least this old: 90s, 15m, 2h, 3d" };
    private static readonly Option<int> Limit = new("--limit") { Description = "The most messages to list", DefaultValueFactory = _ => 1000 };
    private static readonly Option<int> Offset = new("--offset") { Description = "Skip this many of the matching messages" };
    private static readonly Option<bool> All = new("--all") { Description = "Every message in the queue" };
    private static readonly Option<string?> Site = new("--site") { Description = "Deferred mail for this destination domain (postqueue -s)" };
    private static readonly Option<string?> Reason = new("--reason") { Description = "Why the messages are held (logged)" };
    private static readonly Argument<string[]> Ids = new("ids") { Arity = ArgumentArity.ZeroOrMore, Description = "Queue ids" };
    private static readonly Argument<string> Id = new("id") { Description = "A queue id" };

    private static readonly Option[] Filters = [Queue, Sender, Recipient, Domain, MinAge];

    public static Command Build()
    {
        var queue = new Command("queue", "The mail queue of the whole cluster");
        queue.Subcommands.Add(ListCommand());
        queue.Subcommands.Add(ShowCommand());
        queue.Subcommands.Add(Bulk("flush", "Try deferred mail now: the ids, those matching a filter, --site, or all (postqueue -f, -i, -s)", "Flushed", flush: true));
        queue.Subcommands.Add(Bulk("hold", "Put messages on hold (postsuper -h)", "Placed on hold", reason: true));
        queue.Subcommands.Add(Bulk("release", "Release held messages (postsuper -H)", "Released from hold"));
        queue.Subcommands.Add(Bulk("requeue", "Requeue messages: failures forgotten, recipients resolved again, tried now (postsuper -r)", "Requeued"));
        queue.Subcommands.Add(Bulk("delete", "Delete messages (postsuper -d)", "Deleted"));
        return queue;
    }

    /// <summary>mailq: the queue in Postfix's shape (postqueue -p).</summary>
    public static Command Mailq()
    {
        var command = new Command("mailq", "The queue in the shape of Postfix's mailq");
        foreach (var option in Filters)
            command.Options.Add(option);
        command.SetAction(Commands.Action(async (parsed, connect, cancel) =>
        {
            var listing = await ListAllAsync(parsed, connect(), cancel).ConfigureAwait(false);
            if (Commands.IsJson(parsed))
                Commands.Print(listing, AdminJson.Default.QueueListing);
            else
                Console.Out.Write(Text.Safe(Cli.Mailq.Format(listing.Messages)));
        }));
        return command;
    }

    private static Command ListCommand()
    {
        var command = new Command("list", "List queued messages");
        foreach (var option in Filters)
            command.Options.Add(option);
        command.Options.Add(Limit);
        command.Options.Add(Offset);
        command.SetAction(Commands.Action(async (parsed, connect, cancel) =>
        {
            var listing = await ListAsync(parsed, connect(), parsed.GetValue(Limit), parsed.GetValue(Offset), cancel).ConfigureAwait(false);
            if (Commands.IsJson(parsed))
            {
                Commands.Print(listing, AdminJson.Default.QueueListing);
                return;
            }
            var table = new Table().AddColumns("Queue ID", "Queue", "Size", "Arrival", "Sender", "Recipients");
            foreach (var m in listing.Messages)
            {
                table.AddRow(m.Id, m.Queue, m.Size.ToString(CultureInfo.InvariantCulture), m.Arrival.ToLocalTime().ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture),
                    Markup.Escape(m.Sender.Length == 0 ? "MAILER-DAEMON" : m.Sender),
                    Markup.Escape(string.Join("\n", m.Recipients.Select(r => r.Status == "pending" ? r.Address : $"{r.Address} ({r.Status})"))));
            }
            AnsiConsole.Write(table);
            Console.Out.WriteLine($"{listing.Messages.Count} of {listing.Total} messages");
        }));
        return command;
    }

    /// <summary>
    /// enginectl log ID: the life of one message across the nodes (received, queued, each delivery attempt, bounce,
    /// removal), from the lines each node still keeps, in time order, each with the node that logged it.
    /// </summary>
    public static Command Log()
    {
        var command = new Command("log", "The maillog lines of one message from every node, in time order (as grep ID maillog on each machine)");
        command.Arguments.Add(Id);
        command.SetAction(Commands.Action(async (parsed, connect, cancel) =>
        {
            var id = parsed.GetValue(Id)!;
            var log = await connect().GetAsync($"api/log/{Uri.EscapeDataString(id)}", AdminJson.Default.MessageLog, cancel).ConfigureAwait(false);
            if (Commands.IsJson(parsed))
            {
                Commands.Print(log, AdminJson.Default.MessageLog);
                return;
            }
            foreach (var line in log.Lines)
            {
                var node = line.Node[(line.Node.IndexOf('@') + 1)..];
                Console.Out.WriteLine($"{line.Time.ToLocalTime():yyyy-MM-dd HH:mm:ss.fff} {Text.Safe(node)} {line.Category}: {Text.Safe(line.Text)}");
            }
            foreach (var node in log.Silent)
                Console.Error.WriteLine($"{Text.Safe(node)}: no answer in time; its lines are missing");
        }));
        return command;
    }

    private static Command ShowCommand()
    {
        var command = new Command("show", "Show one message: envelope, recipients, header and text");
        command.Arguments.Add(Id);
        command.SetAction(Commands.Action(async (parsed, connect, cancel) =>
        {
            var id = parsed.GetValue(Id)!;
            var detail = await connect().GetAsync($"api/queue/{Uri.EscapeDataString(id)}", AdminJson.Default.MessageDetail, cancel).ConfigureAwait(false);
            if (Commands.IsJson(parsed))
            {
                Commands.Print(detail, AdminJson.Default.MessageDetail);
                return;
            }
            var m = detail.Entry;
            var facts = new Grid().AddColumns(2);
            void Fact(string name, string? value) => facts.AddRow(name, Markup.Escape(value ?? ""));
            Fact("Queue ID", m.Id);
            Fact("Queue", m.Queue + (m.Reason is { } why ? $" ({why})" : ""));
            Fact("Arrival", m.Arrival.ToLocalTime().ToString("yyyy-MM-dd HH:mm:ss zzz", CultureInfo.InvariantCulture));
            Fact("Size", m.Size.ToString(CultureInfo.InvariantCulture));
            Fact("Sender", m.Sender.Length == 0 ? "<>" : m.Sender);
            Fact("Client", $"{detail.ClientName}[{detail.ClientAddress}] helo={detail.Helo} proto={detail.Protocol}");
            if (m.NextAttempt is { } next)
                Fact("Next attempt", next.ToLocalTime().ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture));
            if (detail.Filter is { } filter)
                Fact("Filter", filter);
            AnsiConsole.Write(facts);
            var recipients = new Table().AddColumns("Recipient", "Status", "Attempts", "Last reply");
            foreach (var r in m.Recipients)
                recipients.AddRow(Markup.Escape(r.Address), r.Status, r.Attempts.ToString(CultureInfo.InvariantCulture), Markup.Escape(r.Reason ?? ""));
            AnsiConsole.Write(recipients);
            Console.Out.Write(Text.Safe(detail.Headers.ReplaceLineEndings("\n")));
            Console.Out.WriteLine();
            Console.Out.Write(Text.Safe(detail.Body.ReplaceLineEndings("\n")));
            if (detail.BodyTruncated)
                Console.Out.WriteLine("\n[... the text goes on]");
        }));
        return command;
    }

    private static Command Bulk(string verb, string description, string done, bool flush = false, bool reason = false)
    {
        var command = new Command(verb, description);
        command.Arguments.Add(Ids);
        foreach (var option in Filters)
            command.Options.Add(option);
        if (flush)
            command.Options.Add(Site);
        else
            command.Options.Add(All);
        if (reason)
            command.Options.Add(Reason);
        command.SetAction(Commands.Action(async (parsed, connect, cancel) =>
        {
            var ids = parsed.GetValue(Ids) ?? [];
            var filtered = Filters.Any(o => parsed.GetResult(o) is not null);
            var all = !flush && parsed.GetValue(All);
            if (ids.Length > 0 && (filtered || all || (flush && parsed.GetValue(Site) is not null)))
                throw new CliException(ExitCodes.Usage, $"queue {verb}: name queue ids, a filter or {(flush ? "--site" : "--all")}, not several");
            if (flush && filtered && parsed.GetValue(Site) is not null)
                throw new CliException(ExitCodes.Usage, "queue flush: name a filter or --site, not both");
            int count;
            if (flush && ids.Length == 0 && !filtered)
            {
                count = (await connect().PostAsync("api/queue/flush", new QueueSelection(Site: parsed.GetValue(Site)), AdminJson.Default.QueueSelection,
                    AdminJson.Default.Changed, cancel).ConfigureAwait(false)).Count;
            }
            else
            {
                if (ids.Length == 0)
                {
                    if (!filtered && !all)
                        throw new CliException(ExitCodes.Usage, $"queue {verb}: name queue ids, a filter (--queue, --sender, ...), or --all");
                    ids = (await ListAllAsync(parsed, connect(), cancel).ConfigureAwait(false)).Messages.Select(m => m.Id).ToArray();
                }
                count = await SendInChunksAsync(connect(), verb, ids, parsed.GetValue(Reason), !Commands.IsJson(parsed), cancel).ConfigureAwait(false);
            }
            if (Commands.IsJson(parsed))
                Commands.Print(new Changed(count), AdminJson.Default.Changed);
            else
                Console.Out.WriteLine($"enginectl: {done}: {count} message{(count == 1 ? "" : "s")}");
        }));
        return command;
    }

    /// <summary>The ids in chunks, with a progress bar when a person is watching.</summary>
    private static async Task<int> SendInChunksAsync(AdminClient client, string verb, string[] ids, string? reason, bool human, CancellationToken cancel)
    {
        var count = 0;
        async Task SendAll(Action<int>? advanced)
        {
            foreach (var chunk in ids.Chunk(Chunk))
            {
                count += (await client.PostAsync($"api/queue/{verb}", new QueueSelection(chunk, Reason: reason), AdminJson.Default.QueueSelection,
                    AdminJson.Default.Changed, cancel).ConfigureAwait(false)).Count;
                advanced?.Invoke(chunk.Length);
            }
        }
        if (!human || Console.IsOutputRedirected || ids.Length <= Chunk)
        {
            await SendAll(null).ConfigureAwait(false);
            return count;
        }
        await AnsiConsole.Progress().StartAsync(async progress =>
        {
            var task = progress.AddTask($"{verb} {ids.Length} messages", maxValue: ids.Length);
            await SendAll(n => task.Increment(n)).ConfigureAwait(false);
        }).ConfigureAwait(false);
        return count;
    }

    private static Task<QueueListing> ListAsync(ParseResult parsed, AdminClient client, int limit, int offset, CancellationToken cancel)
    {
        var query = new List<string> { $"limit={limit}", $"offset={offset}" };
        foreach (var (name, option) in new[] { ("queue", Queue), ("sender", Sender), ("recipient", Recipient), ("domain", Domain), ("min-age", MinAge) })
        {
            if (parsed.GetValue(option) is { } value)
                query.Add($"{name}={Uri.EscapeDataString(value)}"); // an empty value too: the engine refuses it rather than match all
        }
        return client.GetAsync("api/queue?" + string.Join('&', query), AdminJson.Default.QueueListing, cancel);
    }

    /// <summary>Every matching message, page by page (the engine answers at most 10,000 at a time).</summary>
    private static async Task<QueueListing> ListAllAsync(ParseResult parsed, AdminClient client, CancellationToken cancel)
    {
        const int page = 10_000;
        var messages = new List<QueueEntry>();
        var total = 0;
        do
        {
            var listing = await ListAsync(parsed, client, page, messages.Count, cancel).ConfigureAwait(false);
            total = listing.Total;
            if (listing.Messages.Count == 0)
                break;
            messages.AddRange(listing.Messages);
        }
        while (messages.Count < total);
        return new QueueListing(messages.Count, 0, messages);
    }
}
