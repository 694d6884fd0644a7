using Npgsql;

namespace Engine.Integration.Tests.Support;

/// <summary>
/// PostgreSQL (Debian's package, installed by tests/run.sh) as a server of the test run's own: a cluster made with
/// initdb in a temporary folder, on a free loopback port, trusting local connections, started once for the whole
/// run and stopped when it ends. Run as the postgres user when the tests run as root (PostgreSQL refuses root).
/// Each test takes a database of its own.
/// </summary>
public sealed class PostgresServer
{
    private static readonly Lazy<Task<PostgresServer>> Shared = new(StartAsync);
    private readonly string _dir;
    private static int _databases;

    private PostgresServer(string dir, int port)
    {
        _dir = dir;
        Port = port;
    }

    public int Port { get; }

    /// <summary>A new empty database on the run's server; its connection string (no password: local trust).</summary>
    public static async Task<string> CreateDatabaseAsync()
    {
        var server = await Shared.Value;
        var name = $"engine_{Environment.ProcessId}_{Interlocked.Increment(ref _databases)}";
        await using (var connection = new NpgsqlConnection(server.ConnectionString("postgres")))
        {
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand($"CREATE DATABASE {name}", connection);
            await command.ExecuteNonQueryAsync();
        }
        return server.ConnectionString(name);
    }

    private string ConnectionString(string database) => $"Host=127.0.0.1;Port={Port};Database={database};Username=postgres;Pooling=true";

    private static string Bin(string program) =>
        Directory.GetDirectories("/usr/lib/postgresql").OrderDescending().Select(d => Path.Combine(d, "bin", program)).FirstOrDefault(File.Exists)
        ?? throw new InvalidOperationException($"PostgreSQL's {program} is missing: tests/run.sh installs postgresql");

    /// <summary>Runs a PostgreSQL program, as the postgres user when this is root.</summary>
    private static Task<Processes.Result> AsPostgresAsync(string program, params string[] args) =>
        Environment.UserName == "root"
            ? Processes.RunAsync("/usr/sbin/runuser", ["-u", "postgres", "--", Bin(program), .. args], TimeSpan.FromMinutes(2))
            : Processes.RunAsync(Bin(program), args, TimeSpan.FromMinutes(2));

    private static async Task<PostgresServer> StartAsync()
    {
        var dir = Path.Combine(Path.GetTempPath(), $"engine-postgres-{Environment.ProcessId}");
        Directory.CreateDirectory(dir);
        if (Environment.UserName == "root")
            await Processes.RunAsync("/usr/bin/chown", ["postgres:postgres", dir]);
        var data = Path.Combine(dir, "data");
        var init = await AsPostgresAsync("initdb", "-D", data, "--auth=trust", "--username=postgres", "--encoding=UTF8", "--no-sync");
        if (init.ExitCode != 0)
            throw new InvalidOperationException("initdb failed: " + init.Output + init.Error);
        var port = Loopback.FreePort();
        var start = await AsPostgresAsync("pg_ctl", "-D", data, "-l", Path.Combine(dir, "postgres.log"), "-w", "start", "-o",
            $"-p {port} -k {dir} -c listen_addresses=127.0.0.1 -c max_connections=300");
        if (start.ExitCode != 0)
            throw new InvalidOperationException("pg_ctl start failed: " + start.Output + start.Error);
        var server = new PostgresServer(dir, port);
        AppDomain.CurrentDomain.ProcessExit += (_, _) => server.Stop();
        return server;
    }

    private void Stop()
    {
        AsPostgresAsync("pg_ctl", "-D", Path.Combine(_dir, "data"), "-m", "immediate", "stop").Wait(TimeSpan.FromSeconds(30));
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
