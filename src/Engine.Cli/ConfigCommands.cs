using System.CommandLine;
using System.Globalization;
using Engine.Cli.Admin;
using Spectre.Console;

namespace Engine.Cli;

/// <summary>config show (postconf, and postconf -n with --changed), config reload (postfix reload, on every node) and stats.</summary>
public static class ConfigCommands
{
    private static readonly Option<bool> Changed = new("--changed", "-n") { Description = "Only the settings that differ from the defaults (postconf -n)" };

    public static Command Config()
    {
        var config = new Command("config", "The node's effective configuration");
        var show = new Command("show", "Every engine.* setting as key = value (secrets hidden)");
        show.Options.Add(Changed);
        show.SetAction(Commands.Action(async (parsed, connect, cancel) =>
        {
            var settings = await connect().GetAsync(parsed.GetValue(Changed) ? "api/config?changed=true" : "api/config",
                AdminJson.Default.IReadOnlyListSetting, cancel).ConfigureAwait(false);
            if (Commands.IsJson(parsed))
                Commands.Print(settings, AdminJson.Default.IReadOnlyListSetting);
            else
                foreach (var setting in settings)
                    Console.Out.WriteLine($"{setting.Key} = {setting.Value}");
        }));
        config.Subcommands.Add(show);
        var reload = new Command("reload", "Every node reads its configuration file again (as SIGHUP); a node refuses a wrong file and keeps running as it was");
        reload.SetAction(Commands.Action(async (parsed, connect, cancel) =>
        {
            var report = await connect().PostAsync("api/config/reload", AdminJson.Default.ReloadReport, cancel)
                .ConfigureAwait(false);
            if (Commands.IsJson(parsed))
                Commands.Print(report, AdminJson.Default.ReloadReport);
            else
                foreach (var node in report.Nodes)
                {
                    if (!node.Applied)
                        Console.Error.WriteLine($"{Text.Safe(node.Node)}: refused: {Text.Safe(node.Error ?? "")}");
                    else
                        Console.Out.WriteLine($"{Text.Safe(node.Node)}: reloaded, {node.Changed.Count} settings changed"
                            + (node.NeedRestart.Count > 0 ? $"; at the next restart: {string.Join(", ", node.NeedRestart)}" : ""));
                }
            if (report.Nodes.Any(n => !n.Applied))
                throw new CliException(ExitCodes.Failed, "the configuration was not reloaded everywhere");
        }));
        config.Subcommands.Add(reload);
        return config;
    }

    public static Command Stats()
    {
        var stats = new Command("stats", "The cluster at a glance: the queue by state, members, the directory's size");
        stats.SetAction(Commands.Action(async (parsed, connect, cancel) =>
        {
            var s = await connect().GetAsync("api/stats", AdminJson.Default.Stats, cancel).ConfigureAwait(false);
            if (Commands.IsJson(parsed))
            {
                Commands.Print(s, AdminJson.Default.Stats);
                return;
            }
            var table = new Table().AddColumns("", "");
            foreach (var (queue, count) in s.Queue)
                table.AddRow($"queue {queue}", count.ToString(CultureInfo.InvariantCulture));
            table.AddRow("members up", $"{s.MembersUp} of {s.Members}");
            table.AddRow("domains", s.Domains.ToString(CultureInfo.InvariantCulture));
            table.AddRow("users", s.Users.ToString(CultureInfo.InvariantCulture));
            table.AddRow("aliases", s.Aliases.ToString(CultureInfo.InvariantCulture));
            AnsiConsole.Write(table);
        }));
        return stats;
    }
}
