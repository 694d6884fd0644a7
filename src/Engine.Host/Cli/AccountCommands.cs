using Akka.Configuration;
using Engine.Storage.Accounts;

namespace Engine.Host.Cli;

/// <summary>
/// The operators' first way to manage the directory, as subcommands of the engine executable. They work
/// on the engine's database directly (a running node sees the change within engine.directory.refresh).
/// Passwords are read from standard input, never from the command line (where `ps` would show them).
/// Exit codes: 0 done, 1 refused (exists, missing, bad input), 2 usage.
/// </summary>
public static class AccountCommands
{
    public const string Usage = """
        usage: engine [--config FILE] [--set key=value]... COMMAND
          domain add DOMAIN [--catch-all ADDRESS]    domain del DOMAIN    domain list
          domain catch-all DOMAIN [ADDRESS]          (no ADDRESS: remove the catch-all)
          user add ADDRESS [--name NAME] [--quota BYTES] [--password-stdin]
          user del ADDRESS    user list [DOMAIN]    user passwd ADDRESS   (password on stdin)
          user disable ADDRESS    user enable ADDRESS
          user import FILE.csv                       (address,display_name,quota,password_hash)
          alias add SOURCE TARGET...    alias del SOURCE    alias list
          relay add DOMAIN    relay del DOMAIN    relay list         (relay_domains: mail relayed for anyone)
          relay-recipient add ADDRESS...    relay-recipient del ADDRESS    relay-recipient list [DOMAIN]
          relay-recipient import FILE                (replaces the list; Postfix's relay_recipients format)
        """;

    public static bool Handles(string command) => command is "domain" or "user" or "alias" or "relay" or "relay-recipient";

    public static int Run(Config config, IReadOnlyList<string> args, TextReader stdin, TextWriter stdout, TextWriter stderr)
    {
        try
        {
            var directory = EngineHost.OpenDirectory(config);
            return Run(directory, EngineHost.KeepsCramMd5(config), args, stdin, stdout, stderr);
        }
        catch (DirectoryException e)
        {
            stderr.WriteLine($"engine: {e.Message}");
            return 1;
        }
        catch (IOException e)
        {
            stderr.WriteLine($"engine: {e.Message}");
            return 1;
        }
    }

    private static int Run(SqlDirectory directory, bool cramMd5, IReadOnlyList<string> args, TextReader stdin, TextWriter stdout, TextWriter stderr)
    {
        try
        {
            // Options that take a value; the rest of "--..." are flags; everything else is positional.
            string[] valued = ["--catch-all", "--name", "--quota"];
            var positional = new List<string>();
            var options = new Dictionary<string, string>();
            for (var k = 0; k < args.Count; k++)
            {
                if (valued.Contains(args[k]))
                    options[args[k]] = k + 1 < args.Count ? args[++k] : throw new UsageException();
                else if (args[k].StartsWith("--", StringComparison.Ordinal))
                    options[args[k]] = "";
                else
                    positional.Add(args[k]);
            }
            string Arg(int i) => i < positional.Count ? positional[i] : throw new UsageException();
            string? Option(string name) => options.GetValueOrDefault(name);

            switch (Arg(0), Arg(1))
            {
                case ("domain", "add"):
                    directory.AddDomain(Arg(2), Option("--catch-all"));
                    break;
                case ("domain", "del"):
                    directory.DeleteDomain(Arg(2));
                    break;
                case ("domain", "catch-all"):
                    directory.SetCatchAll(Arg(2), positional.Count > 3 ? positional[3] : null);
                    break;
                case ("domain", "list"):
                    foreach (var d in directory.Load().Domains.OrderBy(d => d.Name, StringComparer.Ordinal))
                        stdout.WriteLine(d.CatchAll is null ? d.Name : $"{d.Name}\tcatch-all={d.CatchAll}");
                    break;
                case ("user", "add"):
                    var hash = options.ContainsKey("--password-stdin") ? PasswordHasher.Hash(ReadPassword(stdin), cramMd5: cramMd5) : "{LOCKED}";
                    directory.AddUser(Arg(2), Option("--name") ?? "", hash, long.Parse(Option("--quota") ?? "0"));
                    break;
                case ("user", "del"):
                    directory.DeleteUser(Arg(2));
                    break;
                case ("user", "passwd"):
                    directory.SetPassword(Arg(2), PasswordHasher.Hash(ReadPassword(stdin), cramMd5: cramMd5));
                    break;
                case ("user", "disable" or "enable"):
                    directory.SetEnabled(Arg(2), Arg(1) == "enable");
                    break;
                case ("user", "list"):
                    var domain = positional.Count > 2 ? positional[2].ToLowerInvariant() : null;
                    foreach (var u in directory.Load().Users.Where(u => domain is null || u.Address.EndsWith("@" + domain, StringComparison.Ordinal))
                                 .OrderBy(u => u.Address, StringComparer.Ordinal))
                        stdout.WriteLine($"{u.Address}\t{u.DisplayName}\tquota={u.QuotaBytes}\t{(u.Enabled ? "enabled" : "disabled")}");
                    break;
                case ("user", "import"):
                    using (var file = File.OpenText(Arg(2)))
                        stdout.WriteLine($"imported {CsvImport.Import(directory, file)} users");
                    break;
                case ("alias", "add"):
                    if (positional.Count < 4)
                        throw new UsageException();
                    directory.AddAlias(positional[2], positional[3..]);
                    break;
                case ("alias", "del"):
                    directory.DeleteAlias(Arg(2));
                    break;
                case ("alias", "list"):
                    foreach (var a in directory.Load().Aliases.OrderBy(a => a.Source, StringComparer.Ordinal))
                        stdout.WriteLine($"{a.Source}\t{string.Join(",", a.Targets)}");
                    break;
                case ("relay", "add"):
                    directory.AddRelayDomain(Arg(2));
                    break;
                case ("relay", "del"):
                    directory.DeleteRelayDomain(Arg(2));
                    break;
                case ("relay", "list"):
                    foreach (var d in directory.Load().RelayDomains.Order(StringComparer.Ordinal))
                        stdout.WriteLine(d);
                    break;
                case ("relay-recipient", "add"):
                    if (positional.Count < 3)
                        throw new UsageException();
                    directory.AddRelayRecipients(positional[2..]);
                    break;
                case ("relay-recipient", "del"):
                    directory.DeleteRelayRecipient(Arg(2));
                    break;
                case ("relay-recipient", "list"):
                    var of = positional.Count > 2 ? "@" + positional[2].ToLowerInvariant() : null;
                    foreach (var r in directory.Load().RelayRecipients.Where(r => of is null || r.EndsWith(of, StringComparison.Ordinal))
                                 .Order(StringComparer.Ordinal))
                        stdout.WriteLine(r);
                    break;
                case ("relay-recipient", "import"):
                    using (var file = File.OpenText(Arg(2)))
                    {
                        var list = RelayRecipientsFile.Read(file);
                        directory.ReplaceRelayRecipients(list);
                        stdout.WriteLine($"imported {list.Count} relay recipients");
                    }
                    break;
                default:
                    throw new UsageException();
            }
            return 0;
        }
        catch (Exception e) when (e is UsageException or FormatException)
        {
            stderr.Write(Usage);
            return 2;
        }
    }

    private static string ReadPassword(TextReader stdin)
    {
        var password = stdin.ReadLine();
        if (string.IsNullOrEmpty(password))
            throw new DirectoryException("no password on standard input");
        return password;
    }

    private sealed class UsageException : Exception;
}
