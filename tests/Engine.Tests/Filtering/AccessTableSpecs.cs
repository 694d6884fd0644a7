using System.Net;
using Engine.Filtering.Access;
using Engine.Primitives;

namespace Engine.Tests.Filtering;

/// <summary>check_*_access with exact, hash, texthash, cidr, regexp, pcre and sqlite tables, and every action of access(5), with Postfix's replies.</summary>
public sealed class AccessTableSpecs : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("engine-access-").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    private string Table(string type, string text)
    {
        var path = Path.Combine(_dir, type + Guid.NewGuid().ToString("N"));
        File.WriteAllText(path, text);
        return $"{type}:{path}";
    }

    private static string? Reply(string list, Engine.Filtering.Restrictions.SmtpFacts facts, string stage = "client") =>
        RestrictionSpecs.Reply(stage switch
        {
            "client" => RestrictionSpecs.Lists("", client: list),
            "helo" => RestrictionSpecs.Lists("", helo: list),
            "sender" => RestrictionSpecs.Lists("", sender: list),
            _ => RestrictionSpecs.Lists(list),
        }, facts);

    private static readonly Engine.Filtering.Restrictions.SmtpFacts Client = RestrictionSpecs.Stranger;

    [Fact]
    public void A_cidr_table_matches_the_first_network_that_holds_the_address()
    {
        var table = Table("cidr", "# blocked\n192.0.2.0/28   REJECT spam source\n192.0.2.0/24 OK\n2001:db8::/32 DEFER try later\n198.51.100.9 550 5.7.0 go away\n");
        Assert.Equal("554 5.7.1 <unknown[192.0.2.7]>: Client host rejected: spam source", Reply($"check_client_access {table}", Client));
        Assert.Null(Reply($"check_client_access {table}, reject", Client with { ClientAddress = IPAddress.Parse("192.0.2.77") })); // OK permits
        Assert.Equal("450 4.7.1 <unknown[2001:db8::5]>: Client host rejected: try later",
            Reply($"check_client_access {table}", Client with { ClientAddress = IPAddress.Parse("2001:db8::5") }));
        Assert.Equal("550 5.7.0 <unknown[198.51.100.9]>: Client host rejected: go away",
            Reply($"check_client_access {table}", Client with { ClientAddress = IPAddress.Parse("198.51.100.9") }));
        Assert.Null(Reply($"check_client_access {table}", Client with { ClientAddress = IPAddress.Parse("203.0.113.1") }));
    }

    [Fact]
    public void An_exact_table_tries_the_whole_key_then_parent_domains_subnets_and_user_at()
    {
        var table = Table("hash", "client.test REJECT\nspammer@ REJECT no spammers\n192.0.2 REJECT net\n192.0.2.8 DUNNO\nvip.client.test OK\n<> 550 no bounces here\n");
        Assert.Equal("554 5.7.1 <alice@mail.client.test>: Sender address rejected: Access denied",
            Reply($"check_sender_access {table}", Client with { Sender = new EmailAddress("alice", "mail.client.test") }, "sender"));
        Assert.Null(Reply($"check_sender_access {table}, reject", Client with { Sender = new EmailAddress("alice", "vip.client.test") }, "sender"));
        Assert.Equal("554 5.7.1 <spammer@other.test>: Sender address rejected: no spammers",
            Reply($"check_sender_access {table}", Client with { Sender = new EmailAddress("spammer", "other.test") }, "sender"));
        Assert.Equal("550 5.7.1 <>: Sender address rejected: no bounces here",
            Reply($"check_sender_access {table}", Client with { Sender = EmailAddress.Null }, "sender"));
        Assert.Equal("554 5.7.1 <unknown[192.0.2.7]>: Client host rejected: net", Reply($"check_client_access {table}", Client));
        Assert.Null(Reply($"check_client_access {table}", Client with { ClientAddress = IPAddress.Parse("192.0.2.8") })); // DUNNO stops the search
        Assert.Equal("554 5.7.1 <mx.client.test>: Helo command rejected: Access denied",
            Reply($"check_helo_access {table}", Client with { Helo = "mx.client.test" }, "helo"));
        Assert.Equal("554 5.7.1 <jane@client.test>: Recipient address rejected: Access denied",
            Reply($"check_recipient_access {table}", Client with { Recipient = new EmailAddress("jane", "client.test") }, "recipient"));
    }

    [Theory]
    [InlineData("exact", "client.test")]
    [InlineData("hash", "client.test")]
    [InlineData("texthash", "client.test")]
    [InlineData("regexp", "/^spam-\\d+@client\\.test$/")]
    [InlineData("pcre", "/^spam-\\d+@client\\.test$/")]
    public void Every_table_type_answers_with_the_same_reply(string type, string key)
    {
        var table = Table(type, $"{key} REJECT not here\n");
        Assert.Equal("554 5.7.1 <spam-42@client.test>: Sender address rejected: not here",
            Reply($"check_sender_access {table}", Client with { Sender = new EmailAddress("spam-42", "client.test") }, "sender"));
        Assert.Null(Reply($"check_sender_access {table}", Client with { Sender = new EmailAddress("a", "other.test") }, "sender"));
    }

    [Fact]
    public void A_regexp_table_tries_its_patterns_in_order_with_flags_groups_negation_and_if_blocks()
    {
        var table = Table("regexp", """
            # Postfix regexp_table(5)
            /^bad-(\w+)\.test$/     REJECT no $1 here
            /^MiXed\.test$/i        REJECT case matters
            if /\.example$/
            !/^ok\./                 DEFER not ok
            endif
            /^good\./               OK
            """);
        var helo = $"check_helo_access {table}";
        Assert.Equal("554 5.7.1 <BAD-thing.test>: Helo command rejected: no thing here", Reply(helo, Client with { Helo = "BAD-thing.test" }, "helo"));
        Assert.Null(Reply(helo, Client with { Helo = "mixed.test" }, "helo")); // "i" turns case-insensitivity off
        Assert.Equal("554 5.7.1 <MiXed.test>: Helo command rejected: case matters", Reply(helo, Client with { Helo = "MiXed.test" }, "helo"));
        Assert.Equal("450 4.7.1 <mx.example>: Helo command rejected: not ok", Reply(helo, Client with { Helo = "mx.example" }, "helo"));
        Assert.Null(Reply(helo, Client with { Helo = "ok.example" }, "helo"));
        Assert.Null(Reply(helo + ", reject", Client with { Helo = "good.mx.test" }, "helo"));
        Assert.Throws<FormatException>(() => RestrictionSpecs.Lists("", helo: $"check_helo_access {Table("regexp", "if /a/\n/b/ OK\n")}"));
        Assert.Throws<FormatException>(() => RestrictionSpecs.Lists("", helo: $"check_helo_access {Table("regexp", "/(/ OK\n")}"));
    }

    [Fact]
    public void Actions_permit_pass_on_or_ask_for_effects_and_a_list_value_is_run()
    {
        var table = Table("exact", """
            discard.test DISCARD spam trap
            hold.test HOLD look at it
            prepend.test PREPEND X-Checked: yes
            warn.test WARN odd sender
            redirect.test REDIRECT abuse@campus.test
            filter.test FILTER smtp:[127.0.0.1]:10025
            list.test permit_mynetworks reject
            soft.test DEFER_IF_REJECT
            maybe.test DEFER_IF_PERMIT greylisted
            num.test 42
            digits.test 550
            relay.test RELAY
            coded.test REJECT 5.7.0 go away
            later.test DEFER
            soft4.test 450 try later
            info.test INFO noted
            broken.test no_such_restriction
            """);
        var lists = RestrictionSpecs.Lists("", sender: $"check_sender_access {table}, reject_unlisted_sender, reject_non_fqdn_sender");
        Engine.Filtering.Restrictions.Outcome Of(string domain) =>
            RestrictionSpecs.Run(lists, Client with { Sender = new EmailAddress("x", domain) });
        Assert.IsType<Engine.Filtering.Restrictions.TransactionEffect.Discard>(Assert.Single(Of("discard.test").Effects));
        Assert.Equal(new Engine.Filtering.Restrictions.TransactionEffect.Hold("look at it", "<x@hold.test>: Sender address look at it"), Assert.Single(Of("hold.test").Effects));
        Assert.Equal("<x@discard.test>: Sender address spam trap", Assert.Single(Of("discard.test").Effects).Text);
        Assert.Equal(new Engine.Filtering.Restrictions.TransactionEffect.Prepend("X-Checked: yes"), Assert.Single(Of("prepend.test").Effects));
        Assert.Equal(new Engine.Filtering.Restrictions.TransactionEffect.Warn("odd sender"), Assert.Single(Of("warn.test").Effects));
        Assert.Equal(new Engine.Filtering.Restrictions.TransactionEffect.Redirect("abuse@campus.test", "<x@redirect.test>: Sender address triggers REDIRECT abuse@campus.test"),
            Assert.Single(Of("redirect.test").Effects));
        Assert.Equal(new Engine.Filtering.Restrictions.TransactionEffect.Filter("smtp:[127.0.0.1]:10025", "<x@filter.test>: Sender address triggers FILTER smtp:[127.0.0.1]:10025"),
            Assert.Single(Of("filter.test").Effects));
        Assert.Equal("554 5.7.1 <x@list.test>: Sender address rejected: Access denied", Of("list.test").Refusal?.ToString());
        Assert.Null(Of("num.test").Refusal);
        Assert.Equal("450 4.7.1 <x@maybe.test>: Sender address rejected: greylisted", Of("maybe.test").Refusal?.ToString());
        Assert.Null(Of("digits.test").Refusal); // all digits is OK, even when it looks like a reply code
        Assert.Null(Of("relay.test").Refusal); // RELAY is OK, not an unknown restriction (which would fail as broken.test does)
        Assert.Equal("554 5.7.0 <x@coded.test>: Sender address rejected: go away", Of("coded.test").Refusal?.ToString());
        Assert.Equal("450 4.7.1 <x@later.test>: Sender address rejected: Access denied", Of("later.test").Refusal?.ToString());
        Assert.Equal("450 4.7.1 <x@soft4.test>: Sender address rejected: try later", Of("soft4.test").Refusal?.ToString());
        Assert.Equal(new Engine.Filtering.Restrictions.TransactionEffect.Warn("noted"), Assert.Single(Of("info.test").Effects));
        var failure = Record.Exception(() => lists.RecipientAsync(Client with { Sender = new EmailAddress("x", "broken.test") }).AsTask().GetAwaiter().GetResult());
        Assert.Contains("no_such_restriction", Assert.IsType<Engine.Filtering.Restrictions.RestrictionConfigurationException>(failure).Message);
        var soft = RestrictionSpecs.Lists("", sender: $"check_sender_access {table}, reject");
        Assert.Equal("450 4.7.1 <x@soft.test>: Sender address rejected: Service unavailable",
            RestrictionSpecs.Run(soft, Client with { Sender = new EmailAddress("x", "soft.test") }).Refusal?.ToString());
    }

    [Fact]
    public async Task A_changed_table_is_read_again_and_a_broken_one_keeps_the_old_entries()
    {
        var spec = Table("cidr", "192.0.2.0/24 REJECT\n");
        var path = spec["cidr:".Length..];
        var table = AccessTable.Open(spec);
        Assert.Equal("REJECT", table.Find("192.0.2.7"));
        File.WriteAllText(path, "192.0.2.0/24 OK\n");
        File.SetLastWriteTimeUtc(path, DateTime.UtcNow.AddSeconds(5));
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(5);
        while (table.Find("192.0.2.7") != "OK")
        {
            Assert.True(DateTime.UtcNow < deadline, "not read again");
            await Task.Delay(100, TestContext.Current.CancellationToken); // the tables' once-a-second reload check
        }
        File.WriteAllText(path, "not-a-network OK\n");
        File.SetLastWriteTimeUtc(path, DateTime.UtcNow.AddSeconds(10));
        deadline = DateTime.UtcNow + TimeSpan.FromSeconds(5);
        while (table.Find("192.0.2.7") is not null && table.Error is null) // a lookup is what reads the file again
        {
            Assert.True(DateTime.UtcNow < deadline, "the broken table was not noticed");
            await Task.Delay(100, TestContext.Current.CancellationToken); // the tables' once-a-second reload check
        }
        Assert.Equal("OK", table.Find("192.0.2.7"));
        Assert.Contains("line 1", table.Error);
        Assert.Throws<FormatException>(() => AccessTable.Open("dbm:/x"));
    }

    [Fact]
    public void An_sqlite_table_answers_from_its_query_with_the_key_as_a_parameter()
    {
        var database = Path.Combine(_dir, "access.db");
        using (var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={database}"))
        {
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = "CREATE TABLE access (key TEXT PRIMARY KEY, action TEXT);"
                + "INSERT INTO access VALUES ('spam.test', 'REJECT spam domain'), ('boss@client.test', 'OK'), ('blank.test', '  ');";
            command.ExecuteNonQuery();
        }
        var table = Table("sqlite", $"# sqlite_table(5)\ndbpath = {database}\nquery = SELECT action FROM access WHERE key = '%s'\n");
        var check = $"check_sender_access {table}";
        Assert.Equal("554 5.7.1 <a@mail.spam.test>: Sender address rejected: spam domain",
            Reply(check, Client with { Sender = new EmailAddress("a", "mail.spam.test") }, "sender")); // a parent domain, as exact tables
        Assert.Null(Reply(check + ", reject", Client with { Sender = new EmailAddress("boss", "client.test") }, "sender"));
        // Pasted into the SQL this key would read "key = '' OR 1=1 --..." and match every row; as a parameter it matches none.
        Assert.Null(Reply(check, Client with { Sender = new EmailAddress("' OR 1=1 --", "client.test") }, "sender"));

        // An empty value is no answer (DUNNO), not OK.
        Assert.Equal("554 5.7.1 <a@blank.test>: Sender address rejected: Access denied",
            Reply(check + ", reject", Client with { Sender = new EmailAddress("a", "blank.test") }, "sender"));
        Assert.Throws<FormatException>(() => RestrictionSpecs.Lists("", sender: $"check_sender_access {Table("sqlite", $"dbpath = {database}\nquery = SELECT action FROM access WHERE key LIKE '%s%'\n")}"));

        var broken = Table("sqlite", $"dbpath = {database}\nquery = SELECT nothing FROM nowhere WHERE key = '%s'\n");
        Assert.Equal("451 4.3.5 <a@client.test>: Sender address rejected: Server configuration error",
            Reply($"check_sender_access {broken}", Client with { Sender = new EmailAddress("a", "client.test") }, "sender"));
        Assert.Throws<FormatException>(() => RestrictionSpecs.Lists("", sender: $"check_sender_access {Table("sqlite", "dbpath = x\n")}"));
    }
}
