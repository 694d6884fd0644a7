using System.Text.Json;

namespace Engine.Integration.Tests.Support;

/// <summary>enginectl as operators run it: the built program, as a process, against an engine's admin API.</summary>
public static class Enginectl
{
    /// <summary>The apphost next to the build of src/Engine.Cli in the same configuration as these tests.</summary>
    public static string Program
    {
        get
        {
            var here = AppContext.BaseDirectory; // .../tests/Engine.Integration.Tests/bin/<Configuration>/net10.0/
            var configuration = new DirectoryInfo(here).Parent!.Name;
            var program = Path.Combine(Repository.Root, "src", "Engine.Cli", "bin", configuration, "net10.0", "enginectl");
            return File.Exists(program) ? program : throw new FileNotFoundException("enginectl is not built (dotnet build Engine.sln)", program);
        }
    }

    public static Task<Processes.Result> RunAsync(EngineInstance engine, params string[] args) => RunWithInputAsync(engine, null, args);

    public static Task<Processes.Result> RunWithInputAsync(EngineInstance engine, string? stdin, params string[] args) =>
        Processes.RunAsync(Program, ["--url", $"http://127.0.0.1:{engine.AdminPort}", "--token-file", engine.AdminTokenFile, .. args], TimeSpan.FromMinutes(1), stdin);

    /// <summary>enginectl --json against the admin API at <paramref name="url"/> (a node run as a process), parsed.</summary>
    public static async Task<JsonElement> JsonAsync(string url, string tokenFile, params string[] args)
    {
        var run = await Processes.RunAsync(Program, ["--url", url, "--token-file", tokenFile, .. args, "--json"], TimeSpan.FromMinutes(1));
        Assert.True(run.ExitCode == 0, $"enginectl {string.Join(' ', args)} exited with {run.ExitCode}: {run.Output}{run.Error}");
        return JsonDocument.Parse(run.Output).RootElement.Clone();
    }

    /// <summary>Runs with --json, checks the exit code is 0, and parses what it printed.</summary>
    public static Task<JsonElement> JsonAsync(EngineInstance engine, params string[] args) => JsonWithInputAsync(engine, null, args);

    /// <summary>As <see cref="JsonAsync"/>, with <paramref name="stdin"/> as the standard input (passwords).</summary>
    public static async Task<JsonElement> JsonWithInputAsync(EngineInstance engine, string? stdin, params string[] args)
    {
        var run = await RunWithInputAsync(engine, stdin, [.. args, "--json"]);
        Assert.True(run.ExitCode == 0, $"enginectl {string.Join(' ', args)} exited with {run.ExitCode}: {run.Output}{run.Error}");
        return JsonDocument.Parse(run.Output).RootElement.Clone();
    }
}
