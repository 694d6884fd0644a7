using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Engine.Cli.Admin;

namespace Engine.Cli;

/// <summary>enginectl's commands: the verbs, their options, and what each prints (a table, or JSON with --json).</summary>
public static class Commands
{
    private static readonly Option<string?> Url = new("--url")
    {
        Description = "The admin API of any node (default: $ENGINE_URL, else http://127.0.0.1:8080)",
        Recursive = true,
    };

    private static readonly Option<string?> Token = new("--token")
    {
        Description = "The bearer token (default: $ENGINE_TOKEN, else read from --token-file)",
        Recursive = true,
    };

    private static readonly Option<string?> TokenFile = new("--token-file")
    {
        Description = "The file with the token (default: $ENGINE_TOKEN_FILE, else ./data/admin.token, else /var/lib/engine/admin.token)",
        Recursive = true,
    };

    private static readonly Option<bool> Json = new("--json") { Description = "Print JSON for scripts instead of tables", Recursive = true };

    public static async Task<int> RunAsync(string[] args)
    {
        var root = new RootCommand("enginectl: manage an Engine mail cluster (exit codes: 0 ok, 1 refused or failed, 2 usage, 3 engine unreachable or no token, 4 not found)");
        root.Options.Add(Url);
        root.Options.Add(Token);
        root.Options.Add(TokenFile);
        root.Options.Add(Json);
        root.Subcommands.Add(QueueCommands.Build());
        root.Subcommands.Add(QueueCommands.Mailq());
        root.Subcommands.Add(ClusterCommands.Build());
        var parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            foreach (var error in parsed.Errors)
                await Console.Error.WriteLineAsync("enginectl: " + error.Message).ConfigureAwait(false);
            return ExitCodes.Usage;
        }
        return await parsed.InvokeAsync().ConfigureAwait(false);
    }

    /// <summary>Runs a verb with a client: a <see cref="CliException"/> is printed and becomes its exit code.</summary>
    public static Func<ParseResult, CancellationToken, Task<int>> Action(Func<ParseResult, AdminClient, CancellationToken, Task> run) =>
        async (parsed, cancel) =>
        {
            try
            {
                await run(parsed, Connect(parsed), cancel).ConfigureAwait(false);
                return ExitCodes.Ok;
            }
            catch (CliException e)
            {
                await Console.Error.WriteLineAsync("enginectl: " + e.Message).ConfigureAwait(false);
                return e.ExitCode;
            }
        };

    public static bool IsJson(ParseResult parsed) => parsed.GetValue(Json);

    /// <summary>Prints an answer as indented JSON (the same names and shapes the API sends).</summary>
    public static void Print<T>(T value, JsonTypeInfo<T> type) =>
        Console.Out.WriteLine(JsonSerializer.Serialize(value, (JsonTypeInfo<T>)Indented.GetTypeInfo(type.Type)!));

    private static readonly AdminJson Indented = new(new JsonSerializerOptions(AdminJson.Default.Options) { WriteIndented = true });

    private static AdminClient Connect(ParseResult parsed)
    {
        var url = parsed.GetValue(Url) ?? Environment.GetEnvironmentVariable("ENGINE_URL") ?? "http://127.0.0.1:8080";
        var token = parsed.GetValue(Token) ?? Environment.GetEnvironmentVariable("ENGINE_TOKEN");
        if (string.IsNullOrEmpty(token))
        {
            string[] candidates = parsed.GetValue(TokenFile) is { } file ? [file]
                : Environment.GetEnvironmentVariable("ENGINE_TOKEN_FILE") is { Length: > 0 } env ? [env]
                : [Path.Combine("data", "admin.token"), "/var/lib/engine/admin.token"];
            var found = candidates.FirstOrDefault(File.Exists)
                        ?? throw new CliException(ExitCodes.Unavailable, $"no admin token: give --token or --token-file (looked in {string.Join(", ", candidates)})");
            try
            {
                token = File.ReadAllText(found).Trim();
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new CliException(ExitCodes.Unavailable, $"cannot read the admin token: {e.Message}");
            }
        }
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
            throw new CliException(ExitCodes.Usage, $"'{url}' is not an http(s) URL");
        return AdminClient.Create(url, token);
    }
}
