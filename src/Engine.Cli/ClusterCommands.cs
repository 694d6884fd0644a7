using System.CommandLine;
using System.Globalization;
using Engine.Cli.Admin;
using Spectre.Console;

namespace Engine.Cli;

/// <summary>cluster status|leave|down: the members with their roles, where the shards live, and taking a node out.</summary>
public static class ClusterCommands
{
    private static readonly Argument<string> Address = new("address") { Description = "The member, as akka.tcp://engine@host:port" };

    public static Command Build()
    {
        var cluster = new Command("cluster", "The cluster's members and shards");
        var status = new Command("status", "Members, roles and shard counts per node");
        status.SetAction(Commands.Action(async (parsed, connect, cancel) =>
        {
            var state = await connect().GetAsync("api/cluster", AdminJson.Default.ClusterStatus, cancel).ConfigureAwait(false);
            if (Commands.IsJson(parsed))
            {
                Commands.Print(state, AdminJson.Default.ClusterStatus);
                return;
            }
            var members = new Table().AddColumns("Member", "Status", "Roles", "");
            foreach (var m in state.Members)
                members.AddRow(Markup.Escape(m.Address), m.Reachable ? m.Status : m.Status + ", unreachable", string.Join(",", m.Roles),
                    string.Join(" ", new[] { m.Leader ? "leader" : "", m.Self ? "(this node)" : "" }.Where(s => s.Length > 0)));
            AnsiConsole.Write(members);
            var shards = new Table().AddColumns("Entity type", "Member", "Shards", "Entities");
            foreach (var placement in state.Shards)
            {
                foreach (var region in placement.Regions)
                    shards.AddRow(placement.Type, Markup.Escape(region.Address), region.Shards.ToString(CultureInfo.InvariantCulture), region.Entities.ToString(CultureInfo.InvariantCulture));
            }
            AnsiConsole.Write(shards);
        }));
        cluster.Subcommands.Add(status);
        cluster.Subcommands.Add(Membership("leave", "Ask a member to leave gracefully (its shards are handed over)"));
        cluster.Subcommands.Add(Membership("down", "Mark a member down: it is gone, its shards restart elsewhere"));
        return cluster;
    }

    private static Command Membership(string verb, string description)
    {
        var command = new Command(verb, description);
        command.Arguments.Add(Address);
        command.SetAction(Commands.Action(async (parsed, connect, cancel) =>
        {
            var address = parsed.GetValue(Address)!;
            var changed = await connect().PostAsync($"api/cluster/{verb}", new MemberAddress(address), AdminJson.Default.MemberAddress, AdminJson.Default.Changed, cancel)
                .ConfigureAwait(false);
            if (Commands.IsJson(parsed))
                Commands.Print(changed, AdminJson.Default.Changed);
            else
                Console.Out.WriteLine($"enginectl: {address}: {verb} requested");
        }));
        return command;
    }
}
