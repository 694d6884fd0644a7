using System.CommandLine;
using System.Globalization;
using Engine.Cli.Admin;
using Spectre.Console;

namespace Engine.Cli;

/// <summary>domain, user and alias add|del|list (and user passwd): the directory every node reads, through the admin API.</summary>
public static class DirectoryCommands
{
    private static readonly Argument<string> Name = new("name") { Description = "The domain" };
    private static readonly Argument<string> Address = new("address") { Description = "The user's address" };
    private static readonly Argument<string> Source = new("source") { Description = "The alias address" };
    private static readonly Argument<string[]> Targets = new("targets") { Arity = ArgumentArity.OneOrMore, Description = "Where the alias delivers" };
    private static readonly Argument<string?> OfDomain = new("domain") { Arity = ArgumentArity.ZeroOrOne, Description = "Only users of this domain" };
    private static readonly Option<string?> CatchAll = new("--catch-all") { Description = "Where mail to unknown users of the domain goes" };
    private static readonly Option<string?> DisplayName = new("--name") { Description = "The user's display name" };
    private static readonly Option<long?> Quota = new("--quota") { Description = "The mailbox quota in bytes (0: none)" };
    private static readonly Option<bool> PasswordStdin = new("--password-stdin") { Description = "Read the password from standard input (else the account is locked)" };

    public static IEnumerable<Command> Build()
    {
        var domain = new Command("domain", "Virtual domains");
        domain.Subcommands.Add(Verb("add", "Add a domain", [Name, CatchAll], async (p, c, ct) =>
            await Post(c, "api/domains", new DomainInfo(p.GetValue(Name)!, p.GetValue(CatchAll)), AdminJson.Default.DomainInfo, ct).ConfigureAwait(false)));
        domain.Subcommands.Add(Verb("del", "Delete a domain (it must have no users)", [Name], (p, c, ct) =>
            c.DeleteAsync($"api/domains/{Uri.EscapeDataString(p.GetValue(Name)!)}", ct)));
        domain.Subcommands.Add(List("list", "List the domains", [], async (p, c, ct) =>
        {
            var domains = await c.GetAsync("api/domains", AdminJson.Default.IReadOnlyListDomainInfo, ct).ConfigureAwait(false);
            return (() => Commands.Print(domains, AdminJson.Default.IReadOnlyListDomainInfo),
                Table(["Domain", "Catch-all"], domains.Select(d => new[] { d.Name, d.CatchAll ?? "" })));
        }));

        var user = new Command("user", "Virtual users");
        user.Subcommands.Add(Verb("add", "Add a user", [Address, DisplayName, Quota, PasswordStdin], async (p, c, ct) =>
            await Post(c, "api/users", new NewUser(p.GetValue(Address)!, p.GetValue(DisplayName), p.GetValue(Quota),
                p.GetValue(PasswordStdin) ? await ReadPasswordAsync().ConfigureAwait(false) : null), AdminJson.Default.NewUser, ct).ConfigureAwait(false)));
        user.Subcommands.Add(Verb("del", "Delete a user (the mailbox stays on disk)", [Address], (p, c, ct) =>
            c.DeleteAsync($"api/users/{Uri.EscapeDataString(p.GetValue(Address)!)}", ct)));
        user.Subcommands.Add(Verb("passwd", "Set a user's password, read from standard input", [Address], async (p, c, ct) =>
            await Post(c, $"api/users/{Uri.EscapeDataString(p.GetValue(Address)!)}/password", new PasswordChange(await ReadPasswordAsync().ConfigureAwait(false)),
                AdminJson.Default.PasswordChange, ct).ConfigureAwait(false)));
        user.Subcommands.Add(List("list", "List the users", [OfDomain], async (p, c, ct) =>
        {
            var of = p.GetValue(OfDomain) is { } d ? "?domain=" + Uri.EscapeDataString(d) : "";
            var users = await c.GetAsync("api/users" + of, AdminJson.Default.IReadOnlyListUserInfo, ct).ConfigureAwait(false);
            return (() => Commands.Print(users, AdminJson.Default.IReadOnlyListUserInfo),
                Table(["Address", "Name", "Quota", "State"], users.Select(u => new[]
                    { u.Address, u.DisplayName, u.QuotaBytes.ToString(CultureInfo.InvariantCulture), u.Enabled ? "enabled" : "disabled" })));
        }));

        var alias = new Command("alias", "Aliases (one address to many)");
        alias.Subcommands.Add(Verb("add", "Add an alias, or targets to one", [Source, Targets], async (p, c, ct) =>
            await Post(c, "api/aliases", new AliasInfo(p.GetValue(Source)!, p.GetValue(Targets)!), AdminJson.Default.AliasInfo, ct).ConfigureAwait(false)));
        alias.Subcommands.Add(Verb("del", "Delete an alias", [Source], (p, c, ct) =>
            c.DeleteAsync($"api/aliases/{Uri.EscapeDataString(p.GetValue(Source)!)}", ct)));
        alias.Subcommands.Add(List("list", "List the aliases", [], async (p, c, ct) =>
        {
            var aliases = await c.GetAsync("api/aliases", AdminJson.Default.IReadOnlyListAliasInfo, ct).ConfigureAwait(false);
            return (() => Commands.Print(aliases, AdminJson.Default.IReadOnlyListAliasInfo),
                Table(["Alias", "Targets"], aliases.Select(a => new[] { a.Source, string.Join(", ", a.Targets) })));
        }));
        return [domain, user, alias];
    }

    private static Task Post<T>(AdminClient client, string path, T body, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type, CancellationToken cancel) =>
        client.PostAsync(path, body, type, AdminJson.Default.Changed, cancel);

    /// <summary>A change: silent on success (as Postfix's tools), {"count":1} with --json.</summary>
    private static Command Verb(string name, string description, Symbol[] symbols, Func<ParseResult, AdminClient, CancellationToken, Task> run)
    {
        var command = new Command(name, description);
        Add(command, symbols);
        command.SetAction(Commands.Action(async (parsed, connect, cancel) =>
        {
            await run(parsed, connect(), cancel).ConfigureAwait(false);
            if (Commands.IsJson(parsed))
                Commands.Print(new Changed(1), AdminJson.Default.Changed);
        }));
        return command;
    }

    private static Command List(string name, string description, Symbol[] symbols,
        Func<ParseResult, AdminClient, CancellationToken, Task<(Action Json, Table Human)>> run)
    {
        var command = new Command(name, description);
        Add(command, symbols);
        command.SetAction(Commands.Action(async (parsed, connect, cancel) =>
        {
            var (json, human) = await run(parsed, connect(), cancel).ConfigureAwait(false);
            if (Commands.IsJson(parsed))
                json();
            else
                AnsiConsole.Write(human);
        }));
        return command;
    }

    private static void Add(Command command, Symbol[] symbols)
    {
        foreach (var symbol in symbols)
        {
            if (symbol is Argument argument)
                command.Arguments.Add(argument);
            else if (symbol is Option option)
                command.Options.Add(option);
        }
    }

    private static Table Table(string[] columns, IEnumerable<string[]> rows)
    {
        var table = new Table().AddColumns(columns);
        foreach (var row in rows)
            table.AddRow(row.Select(Markup.Escape).ToArray());
        return table;
    }

    /// <summary>The password is the first line of standard input (never an argument: it would show in ps).</summary>
    private static async Task<string> ReadPasswordAsync()
    {
        var line = await Console.In.ReadLineAsync().ConfigureAwait(false);
        return line is { Length: > 0 } ? line : throw new CliException(ExitCodes.Usage, "no password on standard input");
    }
}
