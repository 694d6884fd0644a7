using Engine.Primitives;
using Engine.Storage.Accounts;
using Microsoft.Data.Sqlite;

namespace Engine.Tests.Storage;

public sealed class DirectorySpecs : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"directory-{Guid.NewGuid():N}");
    private readonly SqlDirectory _store;

    public DirectorySpecs()
    {
        System.IO.Directory.CreateDirectory(_dir);
        _store = new SqlDirectory(new Engine.Storage.Sql.EngineDatabase(Engine.Storage.Sql.DatabaseProvider.Sqlite, new SqliteConnectionStringBuilder { DataSource = Path.Combine(_dir, "engine.db") }.ToString()));
        _store.EnsureSchema();
    }

    private static DirectorySnapshot Snapshot() => new(
        [new DomainEntry("campus.test"), new DomainEntry("dept.test", CatchAll: "office@dept.test")],
        [
            new UserEntry("jane@campus.test", "Jane", "{LOCKED}", 0, true),
            new UserEntry("bob@campus.test", "Bob", "{LOCKED}", 0, true),
            new UserEntry("gone@campus.test", "Gone", "{LOCKED}", 0, false),
            new UserEntry("office@dept.test", "Office", "{LOCKED}", 0, true),
        ],
        [new AliasEntry("staff@campus.test", ["jane@campus.test", "bob@campus.test", "ext@elsewhere.example"])],
        '+', 1);

    [Theory]
    [InlineData("jane", "campus.test", RecipientKind.Accepted, "jane@campus.test")]
    [InlineData("JANE", "Campus.TEST", RecipientKind.Accepted, "jane@campus.test")]
    [InlineData("jane+lists", "campus.test", RecipientKind.Accepted, "jane@campus.test")]
    [InlineData("staff", "campus.test", RecipientKind.Accepted, "jane@campus.test,bob@campus.test,ext@elsewhere.example")]
    [InlineData("staff+x", "campus.test", RecipientKind.Accepted, "jane@campus.test,bob@campus.test,ext@elsewhere.example")]
    [InlineData("nobody", "campus.test", RecipientKind.Unknown, "")]
    [InlineData("gone", "campus.test", RecipientKind.Disabled, "")]
    [InlineData("anyone", "dept.test", RecipientKind.Accepted, "office@dept.test")]
    [InlineData("jane", "elsewhere.example", RecipientKind.NotLocal, "")]
    public void Snapshot_should_resolve_users_aliases_subaddresses_and_catch_all(string local, string domain, RecipientKind kind, string targets)
    {
        var resolution = Snapshot().Resolve(new EmailAddress(local, domain));
        Assert.Equal(kind, resolution.Kind);
        Assert.Equal(targets, string.Join(",", resolution.Targets));
    }

    [Theory]
    [InlineData("jane@inner.test", true)]
    [InlineData("Jane+lists@INNER.test", true)]
    [InlineData("nobody@inner.test", false)]
    [InlineData("anyone@open.test", true)]
    public void Relay_recipients_are_looked_up_as_postfix_does(string address, bool valid)
    {
        var snapshot = new DirectorySnapshot([], [], [], '+', 1, ["inner.test", "open.test"], ["jane@inner.test", "@open.test"]);
        Assert.True(snapshot.IsRelayDomain("INNER.test"));
        Assert.False(snapshot.IsRelayDomain("other.test"));
        var at = address.LastIndexOf('@');
        Assert.Equal(valid, snapshot.IsRelayRecipient(new EmailAddress(address[..at], address[(at + 1)..])));
    }

    [Fact]
    public void Without_a_relay_recipient_list_every_recipient_of_a_relay_domain_is_taken()
    {
        var snapshot = new DirectorySnapshot([], [], [], '+', 1, ["inner.test"]);
        Assert.True(snapshot.IsRelayRecipient(new EmailAddress("whoever", "inner.test")));
    }

    [Fact]
    public void A_postfix_relay_recipients_file_reads_as_keys()
    {
        var list = RelayRecipientsFile.Read(new StringReader("# exported nightly\njane@inner.test OK\n\n  @open.test\tOK\nbob@inner.test\n"));
        Assert.Equal(["jane@inner.test", "@open.test", "bob@inner.test"], list);
        var bad = Assert.Throws<DirectoryException>(() => RelayRecipientsFile.Read(new StringReader("jane@inner.test\nnot-an-address OK\n")));
        Assert.Contains("line 2", bad.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Store_should_keep_relay_domains_and_replace_the_recipient_list()
    {
        _store.AddRelayDomain("Inner.Test");
        _store.AddRelayRecipients(["old@inner.test"]);
        _store.ReplaceRelayRecipients(["Jane@inner.test", "@open.test"]);
        var snapshot = _store.Load();
        Assert.Equal(["inner.test"], snapshot.RelayDomains);
        Assert.Equal(["@open.test", "jane@inner.test"], snapshot.RelayRecipients.Order(StringComparer.Ordinal));
        Assert.Throws<DirectoryException>(() => _store.DeleteRelayDomain("none.test"));
        _store.DeleteRelayRecipient("jane@inner.test");
        Assert.Equal(["@open.test"], _store.Load().RelayRecipients);
    }

    [Fact]
    public void Aliases_nest_and_an_alias_naming_itself_keeps_a_copy_without_looping()
    {
        var snapshot = new DirectorySnapshot([new DomainEntry("campus.test"), new DomainEntry("dept.test", CatchAll: "staff@campus.test")],
            [new UserEntry("jane@campus.test", "", "", 0, true), new UserEntry("bob@campus.test", "", "", 0, true)],
            [
                new AliasEntry("staff@campus.test", ["team@campus.test", "ext@elsewhere.example"]),
                new AliasEntry("team@campus.test", ["jane@campus.test", "bob+team@campus.test"]),
                new AliasEntry("bob@campus.test", ["bob@campus.test", "archive@elsewhere.example"]),
                new AliasEntry("loop1@campus.test", ["loop2@campus.test"]),
                new AliasEntry("loop2@campus.test", ["loop1@campus.test", "jane@campus.test"]),
            ],
            '+', 1);
        string Targets(string local, string domain) => string.Join(",", snapshot.Resolve(new EmailAddress(local, domain)).Targets);

        Assert.Equal("jane@campus.test,bob@campus.test,archive@elsewhere.example,ext@elsewhere.example", Targets("staff", "campus.test"));
        Assert.Equal("bob@campus.test,archive@elsewhere.example", Targets("bob", "campus.test"));
        Assert.Equal("jane@campus.test", Targets("loop1", "campus.test")); // the loop ends where it began
        Assert.Equal("jane@campus.test,bob@campus.test,archive@elsewhere.example,ext@elsewhere.example", Targets("anyone", "dept.test"));
    }

    [Fact]
    public void Snapshot_with_another_separator_should_strip_tags_at_it_only()
    {
        var snapshot = new DirectorySnapshot([new DomainEntry("campus.test")], [new UserEntry("jane@campus.test", "", "", 0, true)], [], '-', 1);
        var tagged = snapshot.Resolve(new EmailAddress("jane-lists", "campus.test"));
        Assert.NotEqual(RecipientKind.Unknown, tagged.Kind);
        Assert.Equal(["jane@campus.test"], snapshot.TargetsOf("jane-lists@campus.test"));
        Assert.Equal(RecipientKind.Unknown, snapshot.Resolve(new EmailAddress("jane+lists", "campus.test")).Kind); // '+' is a plain character now
    }

    [Fact]
    public void Snapshot_without_separator_should_not_strip_tags()
    {
        var snapshot = new DirectorySnapshot([new DomainEntry("campus.test")], [new UserEntry("jane@campus.test", "", "", 0, true)], [], null, 1);
        Assert.Equal(RecipientKind.Unknown, snapshot.Resolve(new EmailAddress("jane+x", "campus.test")).Kind);
    }

    [Fact]
    public void Store_should_keep_changes_and_bump_the_version()
    {
        var v0 = _store.Version();
        _store.AddDomain("Campus.Test");
        _store.AddUser("Jane@Campus.Test", "Jane Doe", PasswordHasher.Hash("secret", new Argon2Cost(1024, 1, 1)), 1_000_000);
        _store.AddAlias("staff@campus.test", ["jane@campus.test", "x@elsewhere.example"]);
        Assert.Equal(v0 + 3, _store.Version());

        var snapshot = _store.Load();
        Assert.Equal(v0 + 3, snapshot.Version);
        var jane = snapshot.FindUser("jane@campus.test")!;
        Assert.Equal("Jane Doe", jane.DisplayName);
        Assert.Equal(1_000_000, jane.QuotaBytes);
        Assert.True(PasswordHasher.Verify("secret", jane.PasswordHash));
        Assert.False(PasswordHasher.Verify("wrong", jane.PasswordHash));
        Assert.Equal(2, snapshot.Resolve(new EmailAddress("staff", "campus.test")).Targets.Count);
    }

    [Fact]
    public void A_rehash_replaces_the_credentials_only_if_nobody_changed_them_meanwhile()
    {
        _store.AddDomain("campus.test");
        _store.AddUser("jane@campus.test", "Jane", "{SSHA512}old", 0);
        Assert.False(_store.ReplacePassword("jane@campus.test", "{SSHA512}something-else", "{ARGON2ID}new"));
        Assert.Equal("{SSHA512}old", _store.Load().FindUser("jane@campus.test")!.PasswordHash);
        Assert.True(_store.ReplacePassword("jane@campus.test", "{SSHA512}old", "{ARGON2ID}new"));
        Assert.Equal("{ARGON2ID}new", _store.Load().FindUser("jane@campus.test")!.PasswordHash);
    }

    [Fact]
    public void Store_should_refuse_duplicates_unknown_domains_and_deleting_a_domain_with_users()
    {
        _store.AddDomain("campus.test");
        _store.AddUser("jane@campus.test", "", "{LOCKED}", 0);
        Assert.Throws<DirectoryException>(() => _store.AddDomain("campus.test"));
        Assert.Throws<DirectoryException>(() => _store.AddUser("jane@campus.test", "", "{LOCKED}", 0));
        Assert.Throws<DirectoryException>(() => _store.AddUser("x@nowhere.test", "", "{LOCKED}", 0));
        Assert.Throws<DirectoryException>(() => _store.DeleteDomain("campus.test"));
        Assert.Throws<DirectoryException>(() => _store.DeleteUser("nobody@campus.test"));
        _store.DeleteUser("jane@campus.test");
        _store.DeleteDomain("campus.test");
        Assert.Empty(_store.Load().Domains);
    }

    [Fact]
    public void Csv_import_should_add_users_and_domains_in_one_transaction()
    {
        var csv = """
            address,display_name,quota,password_hash
            jane@campus.test,"Doe, Jane",1000,{SHA512-CRYPT}$6$abc$def
            bob@dept.test,Bob,,
            """;
        Assert.Equal(2, CsvImport.Import(_store, new StringReader(csv)));
        var snapshot = _store.Load();
        Assert.Equal("Doe, Jane", snapshot.FindUser("jane@campus.test")!.DisplayName);
        Assert.Equal("{SHA512-CRYPT}$6$abc$def", snapshot.FindUser("jane@campus.test")!.PasswordHash);
        Assert.True(snapshot.IsLocalDomain("dept.test"));

        var bad = "address,display_name,quota,password_hash\nann@campus.test,Ann,0,{PLAIN}x\nnot-an-address,X,0,\n";
        Assert.Throws<DirectoryException>(() => CsvImport.Import(_store, new StringReader(bad)));
        Assert.Null(_store.Load().FindUser("ann@campus.test")); // nothing of a bad file is imported
        var plain = "address,display_name,quota,password_hash\nann@campus.test,Ann,0,hunter2\n";
        Assert.Throws<DirectoryException>(() => CsvImport.Import(_store, new StringReader(plain)));
    }

    [Fact]
    public void Cached_directory_should_see_changes_after_a_refresh()
    {
        using var cached = new CachedDirectory(_store, TimeSpan.FromHours(1));
        Assert.False(cached.Current.IsLocalDomain("campus.test"));
        _store.AddDomain("campus.test");
        Assert.False(cached.Current.IsLocalDomain("campus.test"));
        cached.Refresh();
        Assert.True(cached.Current.IsLocalDomain("campus.test"));
    }

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        System.IO.Directory.Delete(_dir, recursive: true);
    }
}
