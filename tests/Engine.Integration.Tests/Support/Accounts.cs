using Engine.Host;
using Engine.Storage.Accounts;

namespace Engine.Integration.Tests.Support;

/// <summary>Data folders with directory entries made before the engine starts, and their Maildirs read back.</summary>
public static class Accounts
{
    /// <summary>The directory of an engine data folder (made if missing).</summary>
    public static SqlDirectory DirectoryOf(string dataDir) =>
        EngineHost.OpenDirectory(EngineConfig.Load(null, [$"engine.data-dir = \"{dataDir}\""]));

    /// <summary>A new data folder whose directory has campus.test with jane@campus.test (a local sender, for DSNs).</summary>
    public static string WithJane(string name)
    {
        var dataDir = TempDir.Create(name);
        var directory = DirectoryOf(dataDir);
        directory.AddDomain("campus.test");
        directory.AddUser("jane@campus.test", "Jane", "{LOCKED}", 0);
        return dataDir;
    }

    /// <summary>The files in an account's new/ once there are at least <paramref name="count"/> (or after 15 s).</summary>
    public static async Task<string[]> WaitForNewAsync(string dataDir, string account, int count)
    {
        var at = account.LastIndexOf('@');
        var inbox = Path.Combine(dataDir, "mail", account[(at + 1)..], account[..at], "new");
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (true)
        {
            var files = Directory.Exists(inbox) ? Directory.GetFiles(inbox) : [];
            if (files.Length >= count || DateTime.UtcNow > deadline)
                return files;
            await Task.Delay(50, TestContext.Current.CancellationToken);
        }
    }
}
