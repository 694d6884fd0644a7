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
        Description = "The file with the token (default: $ENGINE_TOKEN_FILE, else ./data/admin.token, else /var/lib/engine/data/admin.token)",
        Recursive = true,
    };

    private static readonly Option<string?> Cert = new("--cert")
    {
        Description = "A PEM client certificate that authenticates you instead of the token (engine.web.client-ca; default: $ENGINE_CERT)",
        Recursive = true,
    };

    private static readonly Option<string?> Key = new("--key") { Description = "The PEM key of --cert (default: $ENGINE_KEY)", Recursive = true };

    private static readonly Option<string?> Ca = new("--ca")
    {
        Description = "A PEM CA that the engine's certificate must chain to, for an https URL (default: $ENGINE_CA, else the system's)",
        Recursive = true,
    };

    private static readonly Option<bool> Json = new("--json") { Description = "Print JSON for scripts instead of tables", Recursive = true };

    public static async Task<int> RunAsync(string[] args)
    {
        var root = new RootCommand("enginectl: manage an Engine mail cluster (exit codes: 0 ok, 1 refused or failed, 2 usage, 3 engine unreachable or no token, 4 not found)");
        root.Options.Add(Url);
        root.Options.Add(Token);
        root.Options.Add(TokenFile);
        root.Options.Add(Cert);
        root.Options.Add(Key);
        root.Options.Add(Ca);
        root.Options.Add(Json);
        root.Subcommands.Add(QueueCommands.Build());
        root.Subcommands.Add(QueueCommands.Mailq());
        root.Subcommands.Add(QueueCommands.Log());
        root.Subcommands.Add(ClusterCommands.Build());
        root.Subcommands.Add(ConfigCommands.Config());
        root.Subcommands.Add(ConfigCommands.Stats());
        root.Subcommands.Add(SendmailCommand.Build());
        var newaliases = new Command("newaliases", "Nothing to rebuild: aliases live in the directory (enginectl alias ...)");
        newaliases.SetAction(_ => 0);
        root.Subcommands.Add(newaliases);
        if (args is ["sendmail", .. var rest])
            args = ["sendmail", .. SendmailCommand.Normalize(rest)];
        foreach (var command in DirectoryCommands.Build())
            root.Subcommands.Add(command);
        // No response files: "@campus.test" is a filter value (every address at a domain), not a file to read.
        var parsed = root.Parse(args, new ParserConfiguration { ResponseFileTokenReplacer = null });
        if (parsed.Errors.Count > 0)
        {
            foreach (var error in parsed.Errors)
                await Console.Error.WriteLineAsync("enginectl: " + error.Message).ConfigureAwait(false);
            return ExitCodes.Usage;
        }
        return await parsed.InvokeAsync().ConfigureAwait(false);
    }

    /// <summary>
    /// Runs a verb; its client is made when first asked for (so usage errors come before a missing token). A
    /// <see cref="CliException"/> is printed and becomes the exit code.
    /// </summary>
    public static Func<ParseResult, CancellationToken, Task<int>> Action(Func<ParseResult, Func<AdminClient>, CancellationToken, Task> run) =>
        async (parsed, cancel) =>
        {
            AdminClient? client = null;
            try
            {
                await run(parsed, () => client ??= Connect(parsed), cancel).ConfigureAwait(false);
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

    /// <summary>
    /// The URL and how to authenticate: options first, then the environment, then the token files a node writes. With a
    /// client certificate no token is needed (one given or found is sent as well).
    /// </summary>
    private static AdminClient Connect(ParseResult parsed)
    {
        var url = parsed.GetValue(Url) ?? Environment.GetEnvironmentVariable("ENGINE_URL") ?? "http://127.0.0.1:8080";
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
            throw new CliException(ExitCodes.Usage, $"'{url}' is not an http(s) URL");
        var certFile = parsed.GetValue(Cert) ?? Setting("ENGINE_CERT");
        var keyFile = parsed.GetValue(Key) ?? Setting("ENGINE_KEY");
        var caFile = parsed.GetValue(Ca) ?? Setting("ENGINE_CA");
        if ((certFile ?? caFile) is not null && uri.Scheme != "https")
            throw new CliException(ExitCodes.Usage, "--cert and --ca need an https URL (engine.web.tls = on)");
        if (certFile is not null && keyFile is null)
            throw new CliException(ExitCodes.Usage, "--cert needs --key");
        var token = parsed.GetValue(Token);
        if (token is null && parsed.GetValue(TokenFile) is { } file)
            token = ReadToken(file);
        token ??= Setting("ENGINE_TOKEN");
        if (token is null)
        {
            string[] candidates = Setting("ENGINE_TOKEN_FILE") is { } envFile ? [envFile] : [Path.Combine("data", "admin.token"), "/var/lib/engine/data/admin.token"];
            var found = candidates.FirstOrDefault(File.Exists);
            if (found is not null)
                token = ReadToken(found);
            else if (certFile is null)
                throw new CliException(ExitCodes.Unavailable, $"no admin token: give --token-file or --token, or --cert (looked in {string.Join(", ", candidates)})");
        }
        return AdminClient.Create(url, token, Certificates.Client(certFile, keyFile), Certificates.Authority(caFile));
    }

    private static string? Setting(string variable) => Environment.GetEnvironmentVariable(variable) is { Length: > 0 } value ? value : null;

    private static string ReadToken(string file)
    {
        try
        {
            return File.ReadAllText(file).Trim();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CliException(ExitCodes.Unavailable, $"cannot read the admin token: {e.Message}");
        }
    }
}
