using Engine.Integration.Tests.Support;
using Engine.Storage.Accounts;

namespace Engine.Integration.Tests;

/// <summary>The directory managed with `engine domain|user|alias` as a process, and RCPT checked against it.</summary>
public sealed class DirectorySpecs
{
    private static async Task<Processes.Result> EngineCommandAsync(string dataDir, string? stdin, params string[] args) =>
        await Processes.RunAsync("dotnet",
            [Path.Combine(AppContext.BaseDirectory, "engine.dll"), "--set", $"engine.data-dir = \"{dataDir}\"", .. args],
            TimeSpan.FromMinutes(1), stdin);

    [Fact]
    public async Task Operators_list_and_delete_domains_users_and_aliases_and_change_a_password()
    {
        var dataDir = TempDir.Create("directory-verbs");
        async Task<string> OkAsync(string? stdin, params string[] args)
        {
            var result = await EngineCommandAsync(dataDir, stdin, args);
            Assert.True(result.ExitCode == 0, $"engine {string.Join(' ', args)}: {result.ExitCode} {result.Error}");
            return result.Output;
        }
        await OkAsync(null, "domain", "add", "campus.test");
        await OkAsync(null, "domain", "add", "old.test", "--catch-all", "jane@campus.test");
        await OkAsync("first\n", "user", "add", "jane@campus.test", "--password-stdin", "--name", "Jane Doe", "--quota", "5000000");
        await OkAsync(null, "user", "add", "bob@campus.test");
        await OkAsync(null, "alias", "add", "staff@campus.test", "jane@campus.test", "bob@campus.test");
        Assert.Equal("campus.test\nold.test\tcatch-all=jane@campus.test\n", await OkAsync(null, "domain", "list"));
        Assert.Equal("jane@campus.test\tJane Doe\tquota=5000000\tenabled\n", await OkAsync(null, "user", "list", "campus.test").ContinueWith(t => t.Result.Split('\n')[1] + "\n"));
        Assert.Equal(["jane@campus.test"], Accounts.DirectoryOf(dataDir).Load().TargetsOf("anyone@old.test"));
        await OkAsync(null, "domain", "catch-all", "old.test"); // no address: the catch-all goes
        Assert.Equal("campus.test\nold.test\n", await OkAsync(null, "domain", "list"));
        Assert.Empty(Accounts.DirectoryOf(dataDir).Load().TargetsOf("anyone@old.test"));
        await OkAsync(null, "domain", "catch-all", "old.test", "bob@campus.test");
        Assert.Equal("campus.test\nold.test\tcatch-all=bob@campus.test\n", await OkAsync(null, "domain", "list"));
        await OkAsync(null, "domain", "catch-all", "old.test");
        Assert.Equal("staff@campus.test\tbob@campus.test,jane@campus.test\n", await OkAsync(null, "alias", "list")); // targets in order

        await OkAsync("second\n", "user", "passwd", "jane@campus.test");
        var hash = Accounts.DirectoryOf(dataDir).Load().FindUser("jane@campus.test")!.PasswordHash;
        Assert.True(PasswordHasher.Verify("second", hash));
        Assert.False(PasswordHasher.Verify("first", hash));

        await OkAsync(null, "user", "del", "bob@campus.test");
        Assert.Equal(["jane@campus.test"], (await OkAsync(null, "user", "list")).Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split('\t')[0]));
        await OkAsync(null, "alias", "del", "staff@campus.test");
        Assert.Equal("", await OkAsync(null, "alias", "list"));
        await OkAsync(null, "domain", "del", "old.test");
        Assert.Equal("campus.test\n", await OkAsync(null, "domain", "list"));
        var busy = await EngineCommandAsync(dataDir, null, "domain", "del", "campus.test"); // jane is still there
        Assert.Equal(1, busy.ExitCode);
        Assert.Contains("still has 1 users", busy.Error);
    }

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

        // The default local-recipients (the harness accepts any local part of mx.test): no system accounts here.
        await using var engine = await EngineInstance.StartInAsync(dataDir, "engine.directory.refresh = 1s", "engine.smtp.local-recipients = [postmaster]");
        await using (var smtp = await RawSmtp.GreetedAsync(engine.Port))
        {
            await smtp.CommandAsync("EHLO client.test");
            await smtp.CommandAsync("MAIL FROM:<a@client.test>");
            // A mydestination domain the directory does not hold has postmaster only (Postfix's local recipient table).
            var system = await smtp.CommandAsync("RCPT TO:<root@mx.test>");
            Assert.Equal("550 5.1.1 <root@mx.test>: Recipient address rejected: User unknown in local recipient table", system.Last);
            Assert.Equal(250, (await smtp.CommandAsync("RCPT TO:<postmaster@mx.test>")).Code);
            Assert.Equal(250, (await smtp.CommandAsync("RCPT TO:<Postmaster>")).Code); // RFC 5321 section 4.5.1
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
        // The disable is the later of the two changes: once a reload shows it, it shows the new user too.
        var deadline = DateTime.UtcNow.AddSeconds(15);
        RawSmtp.Reply disabled;
        do
        {
            await Task.Delay(300, TestContext.Current.CancellationToken);
            await using var smtp = await RawSmtp.GreetedAsync(engine.Port);
            await smtp.CommandAsync("EHLO client.test");
            await smtp.CommandAsync("MAIL FROM:<a@client.test>");
            disabled = await smtp.CommandAsync("RCPT TO:<bob@campus.test>");
            if (disabled.Code == 550)
                Assert.Equal(250, (await smtp.CommandAsync("RCPT TO:<new@campus.test>")).Code);
        }
        while (disabled.Code != 550 && DateTime.UtcNow < deadline);
        Assert.Equal((550, "5.2.1"), (disabled.Code, disabled.Enhanced));
    }

    [Fact]
    public async Task A_gateway_relays_its_relay_domains_for_anyone_and_refuses_unlisted_recipients()
    {
        // The classic gateway: this engine takes mail from the world for inner.test and passes it to the
        // mail server behind it (a second engine), knowing the valid recipients from an exported list.
        await using var inner = await EngineInstance.StartAsync("engine.smtp.mydestination = [\"inner.test\"]", "engine.hostname = inner.test");
        var dataDir = TempDir.Create("gateway");
        Assert.Equal(0, (await EngineCommandAsync(dataDir, null, "relay", "add", "inner.test")).ExitCode);
        var file = Path.Combine(dataDir, "relay_recipients");
        await File.WriteAllTextAsync(file, "# from the inner server\njane@inner.test OK\nbob@inner.test OK\n", TestContext.Current.CancellationToken);
        var import = await EngineCommandAsync(dataDir, null, "relay-recipient", "import", file);
        Assert.Equal(0, import.ExitCode);
        Assert.Contains("imported 2 relay recipients", import.Output);
        Assert.Equal("jane@inner.test", (await EngineCommandAsync(dataDir, null, "relay-recipient", "list", "inner.test")).Output.Split('\n')[1]);
        Assert.Equal("inner.test\n", (await EngineCommandAsync(dataDir, null, "relay", "list")).Output);

        // Clients are outside mynetworks: only the relay domain's listed recipients are taken.
        await using var gateway = await EngineInstance.StartInAsync(dataDir, "engine.smtp.mynetworks = []",
            $"engine.delivery.transport = {{ \"inner.test\" = \"smtp:[127.0.0.1]:{inner.Port}\" }}");
        string id;
        await using (var smtp = await RawSmtp.GreetedAsync(gateway.Port))
        {
            await smtp.CommandAsync("EHLO outside.test");
            Assert.Equal(250, (await smtp.CommandAsync("MAIL FROM:<someone@outside.test>")).Code);
            Assert.Equal(250, (await smtp.CommandAsync("RCPT TO:<jane@inner.test>")).Code);
            Assert.Equal(250, (await smtp.CommandAsync("RCPT TO:<Bob+x@Inner.Test>")).Code);
            var unknown = await smtp.CommandAsync("RCPT TO:<mallory@inner.test>");
            Assert.Equal((550, "5.1.1"), (unknown.Code, unknown.Enhanced));
            Assert.Contains("User unknown in relay recipient table", unknown.Last, StringComparison.Ordinal);
            var relay = await smtp.CommandAsync("RCPT TO:<x@elsewhere.test>");
            Assert.Equal((554, "5.7.1"), (relay.Code, relay.Enhanced)); // still no open relay
            Assert.Equal(354, (await smtp.CommandAsync("DATA")).Code);
            var reply = await smtp.CommandAsync("Subject: in\r\n\r\nfor the inside\r\n.");
            Assert.Equal(250, reply.Code);
            id = reply.Last.Split(' ')[^1];
        }
        await gateway.Logs.WaitForAsync(l => l == $"{id}: removed");
        var passed = Assert.Single(await inner.QueueAsync());
        Assert.Equal(["Bob+x@inner.test", "jane@inner.test"], passed.Envelope.Recipients.Select(r => r.Address).Order(StringComparer.Ordinal));
    }
}
