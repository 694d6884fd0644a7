using Engine.Integration.Tests.Support;

namespace Engine.Integration.Tests;

/// <summary>The directory managed with `engine domain|user|alias` as a process, and RCPT checked against it.</summary>
public sealed class DirectorySpecs
{
    private static async Task<Processes.Result> EngineCommandAsync(string dataDir, string? stdin, params string[] args) =>
        await Processes.RunAsync("dotnet",
            [Path.Combine(AppContext.BaseDirectory, "engine.dll"), "--set", $"engine.data-dir = \"{dataDir}\"", .. args],
            TimeSpan.FromMinutes(1), stdin);

    [Fact]
    public async Task Operators_manage_the_directory_and_rcpt_follows_it()
    {
        var dataDir = TempDir.Create("directory");
        Assert.Equal(0, (await EngineCommandAsync(dataDir, null, "domain", "add", "campus.test")).ExitCode);
        Assert.Equal(0, (await EngineCommandAsync(dataDir, "s3cret\n", "user", "add", "jane@campus.test", "--name", "Jane Doe", "--password-stdin")).ExitCode);
        Assert.Equal(0, (await EngineCommandAsync(dataDir, null, "alias", "add", "staff@campus.test", "jane@campus.test", "ext@elsewhere.example")).ExitCode);
        var csv = Path.Combine(dataDir, "users.csv");
        await File.WriteAllTextAsync(csv, "address,display_name,quota,password_hash\nbob@campus.test,Bob,0,\ncarol@dept.test,Carol,5000,\n",
            TestContext.Current.CancellationToken);
        var import = await EngineCommandAsync(dataDir, null, "user", "import", csv);
        Assert.Equal(0, import.ExitCode);
        Assert.Contains("imported 2 users", import.Output);

        var again = await EngineCommandAsync(dataDir, null, "user", "add", "jane@campus.test");
        Assert.Equal(1, again.ExitCode);
        Assert.Contains("already exists", again.Error);
        Assert.Equal(2, (await EngineCommandAsync(dataDir, null, "user", "frobnicate")).ExitCode);
        var list = await EngineCommandAsync(dataDir, null, "user", "list", "campus.test");
        Assert.Equal(["bob@campus.test", "jane@campus.test"], list.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split('\t')[0]));
        Assert.DoesNotContain("s3cret", list.Output);

        await using var engine = await EngineInstance.StartInAsync(dataDir, "engine.directory.refresh = 1s");
        await using (var smtp = await RawSmtp.GreetedAsync(engine.Port))
        {
            await smtp.CommandAsync("EHLO client.test");
            await smtp.CommandAsync("MAIL FROM:<a@client.test>");
            Assert.Equal(250, (await smtp.CommandAsync("RCPT TO:<jane@campus.test>")).Code);
            Assert.Equal(250, (await smtp.CommandAsync("RCPT TO:<Jane+news@CAMPUS.test>")).Code);
            Assert.Equal(250, (await smtp.CommandAsync("RCPT TO:<staff@campus.test>")).Code);
            Assert.Equal(250, (await smtp.CommandAsync("RCPT TO:<carol@dept.test>")).Code);
            var unknown = await smtp.CommandAsync("RCPT TO:<nobody@campus.test>");
            Assert.Equal(550, unknown.Code);
            Assert.Equal("5.1.1", unknown.Enhanced);
        }

        // A change made while the node runs shows within the refresh period.
        Assert.Equal(0, (await EngineCommandAsync(dataDir, null, "user", "add", "new@campus.test")).ExitCode);
        Assert.Equal(0, (await EngineCommandAsync(dataDir, null, "user", "disable", "bob@campus.test")).ExitCode);
        var deadline = DateTime.UtcNow.AddSeconds(15);
        int code;
        do
        {
            await Task.Delay(300, TestContext.Current.CancellationToken);
            await using var smtp = await RawSmtp.GreetedAsync(engine.Port);
            await smtp.CommandAsync("EHLO client.test");
            await smtp.CommandAsync("MAIL FROM:<a@client.test>");
            code = (await smtp.CommandAsync("RCPT TO:<new@campus.test>")).Code;
            if (code == 250)
            {
                var disabled = await smtp.CommandAsync("RCPT TO:<bob@campus.test>");
                Assert.Equal(550, disabled.Code);
                Assert.Equal("5.2.1", disabled.Enhanced);
            }
        }
        while (code != 250 && DateTime.UtcNow < deadline);
        Assert.Equal(250, code);
    }
}
