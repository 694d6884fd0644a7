using Engine.Host;
using Microsoft.Extensions.Hosting;

// engine [--config FILE] [--set key=value]...
// Runs a node. With no arguments: a cluster of one on the embedded defaults (SMTP on 127.0.0.1:2525, data in ./data).
string? file = null;
var settings = new List<string>();
for (var i = 0; i < args.Length; i++)
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
            Console.WriteLine("usage: engine [--config FILE] [--set key=value]...");
            return 0;
        default:
            Console.Error.WriteLine($"engine: unknown argument '{args[i]}' (try --help)");
            return 2;
    }
}

using var host = EngineHost.Build(EngineConfig.Load(file, settings));
await host.RunAsync();
return 0;
