using Engine.Host;
using Engine.Host.Cli;
using Engine.Host.Configuration;
using Microsoft.Extensions.Hosting;

// engine [--config FILE] [--set key=value]... [COMMAND ...]
// With no command: runs a node (a cluster of one on the embedded defaults: SMTP on 127.0.0.1:2525, data in
// ./data). With a command (domain, user, alias): manages the directory and exits.
string? file = null;
var settings = new List<string>();
var i = 0;
for (; i < args.Length && args[i].StartsWith('-'); i++)
{
    switch (args[i])
    {
        case "--config" when i + 1 < args.Length:
            file = args[++i];
            break;
        case "--set" when i + 1 < args.Length:
            settings.Add(args[++i]);
            break;
        case "-h" or "--help":
            Console.Write(AccountCommands.Usage + MailboxCommands.Usage);
            return 0;
        default:
            Console.Error.WriteLine($"engine: unknown argument '{args[i]}' (try --help)");
            return 2;
    }
}

Akka.Configuration.Config config;
IReadOnlyDictionary<string, int> lines;
try
{
    (config, lines) = EngineConfig.Read(file, settings);
}
catch (Akka.Configuration.ConfigurationException e)
{
    Console.Error.WriteLine($"engine: {e.Message}");
    return 78; // EX_CONFIG
}
if (i < args.Length)
{
    if (args[i] == "mailbox")
        return MailboxCommands.Run(config, args[i..], Console.Out, Console.Error);
    if (!AccountCommands.Handles(args[i]))
    {
        Console.Error.Write(AccountCommands.Usage + MailboxCommands.Usage);
        return 2;
    }
    return AccountCommands.Run(config, args[i..], Console.In, Console.Out, Console.Error);
}

try
{
    var batch = CpuScheduling.BatchWanted(config);
    if (batch)
        CpuScheduling.ApplyBatch();
    using var host = EngineHost.Build(config, source: new ConfigSource(file, settings));
    await host.StartAsync();
    if (batch)
        CpuScheduling.Log(host, CpuScheduling.ApplyBatch()); // and the threads the start made
    await host.WaitForShutdownAsync();
    return 0;
}
catch (Exception e) when ((e as Akka.Configuration.ConfigurationException ?? e.InnerException as Akka.Configuration.ConfigurationException) is { } wrong)
{
    // A value the engine refuses (found while building the node): where it was written, and why.
    Console.Error.WriteLine($"engine: {EngineConfig.Locate(wrong.Message, file, lines)}");
    return 78;
}
