using Engine.Host;
using Engine.Storage.Accounts;

namespace Engine.Integration.Tests.Support;

/// <summary>Data folders with directory entries made before the engine starts, and their Maildirs read back.</summary>
public static class Accounts
{
    /// <summary>An Argon2id cost that keeps test logins fast (the default takes 19 MiB and two passes).</summary>
    public static readonly Argon2Cost TestCost = new(1024, 1, 1);

    /// <summary>Jane's password in <see cref="WithMailAsync"/>.</summary>
    public const string Password = "correct horse";

    /// <summary>
    /// An engine whose jane@campus.test has <see cref="Password"/> and the given messages in her INBOX, each
    /// sent over SMTP and delivered before this returns. Failed logins wait 200 ms (POP3 and IMAP).
    /// </summary>
    public static Task<EngineInstance> WithMailAsync(string name, params string[] bodies) => WithSettingsAsync(name, [], bodies);

    /// <summary>As <see cref="WithMailAsync"/>, with more <paramref name="settings"/> for the engine.</summary>
    public static async Task<EngineInstance> WithSettingsAsync(string name, IEnumerable<string> settings, params string[] bodies)
    {
        var dataDir = WithJane(name);
        DirectoryOf(dataDir).SetPassword("jane@campus.test", PasswordHasher.Hash(Password, TestCost));
        var engine = await EngineInstance.StartInAsync(dataDir,
            ["engine.pop3.auth-failure-delay = 200ms", "engine.imap.auth-failure-delay = 200ms", .. settings]);
        foreach (var body in bodies)
            await DeliverAsync(engine, body);
        return engine;
    }

    /// <summary>Sends one message to jane@campus.test over SMTP and waits until it is in her mailbox; returns the queue id.</summary>
    public static async Task<string> DeliverAsync(EngineInstance engine, string body)
    {
        await using var smtp = await RawSmtp.GreetedAsync(engine.Port);
        await smtp.CommandAsync("EHLO client.test");
        await smtp.CommandAsync("MAIL FROM:<alice@client.test>");
        await smtp.CommandAsync("RCPT TO:<jane@campus.test>");
        await smtp.CommandAsync("DATA");
        var id = (await smtp.CommandAsync(body + "\r\n.")).Last.Split(' ')[^1];
        await engine.Logs.WaitForAsync(l => l.StartsWith($"{id}: to=<jane@campus.test>", StringComparison.Ordinal));
        return id;
    }

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
