using System.Text;
using Engine.Storage;
using Engine.Storage.Maildir;

namespace Engine.Tests.Storage;

public sealed class MaildirSpecs : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), $"maildir-{Guid.NewGuid():N}");

    [Fact]
    public async Task Maildir_should_deliver_whole_files_into_new_with_unique_sized_names()
    {
        var store = new MaildirStore(_root);
        var prefix = "Delivered-To: jane@campus.test\r\n"u8.ToArray();
        var body = "Subject: one\r\n\r\nhello\r\n"u8.ToArray();
        var first = store.Deliver("Jane@Campus.Test", prefix, new MemoryStream(body));
        var second = store.Deliver("jane@campus.test", prefix, new MemoryStream(body));

        Assert.NotEqual(first, second);
        var maildir = Path.Combine(_root, "campus.test", "jane");
        Assert.Empty(Directory.GetFiles(Path.Combine(maildir, "tmp")));
        Assert.True(Directory.Exists(Path.Combine(maildir, "cur")));
        var path = Path.Combine(maildir, "new", first);
        var bytes = await File.ReadAllBytesAsync(path, TestContext.Current.CancellationToken);
        Assert.Equal(Encoding.ASCII.GetString(prefix) + Encoding.ASCII.GetString(body), Encoding.ASCII.GetString(bytes));
        Assert.EndsWith($",S={bytes.Length}", first);
        Assert.DoesNotContain(':', first);
        Assert.Equal(2, store.Messages("jane@campus.test").Count());
    }

    [Fact]
    public async Task Deliveries_written_at_once_share_the_file_systems_syncs_and_land_whole()
    {
        var store = new MaildirStore(_root, fsync: true, shareSyncs: true);
        store.Ensure("first@campus.test");
        var probe = store.PathOf("first@campus.test");
        var before = FileSystemSync.Syncs(probe);
        var prefix = "Delivered-To: someone\r\n"u8.ToArray();
        var writes = Enumerable.Range(0, 20).Select(i => Task.Run(() => store.WriteAsync($"user{i % 5}@campus.test",
            store.NewName(prefix.Length + 20), prefix, new MemoryStream(Encoding.ASCII.GetBytes($"Subject: {i,8}\r\n\r\nbody\r\n"))))).ToArray();
        var paths = await Task.WhenAll(writes);

        // Each write waits for two syncs (its content, then its name): at least two ran, and never more than two a write.
        var syncs = FileSystemSync.Syncs(probe) - before;
        Assert.InRange(syncs, 2, 2 * writes.Length);
        Assert.Equal(20, paths.Distinct().Count());
        foreach (var path in paths)
        {
            Assert.Equal("new", Path.GetFileName(Path.GetDirectoryName(path)));
            Assert.StartsWith("Delivered-To: someone\r\nSubject: ", await File.ReadAllTextAsync(path, TestContext.Current.CancellationToken));
        }
        foreach (var user in Enumerable.Range(0, 5))
            Assert.Empty(Directory.GetFiles(Path.Combine(store.PathOf($"user{user}@campus.test"), "tmp")));
    }

    [Fact]
    public async Task A_sync_of_a_folder_that_is_not_there_fails_with_an_io_error() =>
        await Assert.ThrowsAsync<IOException>(() => FileSystemSync.SyncAsync(Path.Combine(_root, "missing")));

    /// <summary>A body that, once its copy has begun (its tmp file open), waits until released.</summary>
    private sealed class HeldStream(byte[] bytes, ManualResetEventSlim copying, ManualResetEventSlim release) : MemoryStream(bytes)
    {
        public override int Read(Span<byte> buffer)
        {
            copying.Set();
            release.Wait(TimeSpan.FromSeconds(30));
            return base.Read(buffer);
        }

        public override void CopyTo(Stream destination, int bufferSize)
        {
            copying.Set();
            release.Wait(TimeSpan.FromSeconds(30));
            base.CopyTo(destination, bufferSize);
        }
    }

    [Fact]
    public async Task Two_writes_of_one_delivery_at_once_end_as_one_whole_file()
    {
        var store = new MaildirStore(_root);
        var body = "Subject: twice\r\n\r\nthe same delivery, written by a repeat while the first write runs\r\n"u8.ToArray();
        var name = MaildirStore.NameFor(DateTimeOffset.UtcNow, "01M8GNQTR71X5XT3", "01M8GNQTR71X5XT3/jane@campus.test", body.Length);
        using var copying = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        var first = Task.Run(() => store.Write("jane@campus.test", name, [], new HeldStream(body, copying, release)), TestContext.Current.CancellationToken);
        Assert.True(copying.Wait(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken));
        var second = store.Write("jane@campus.test", name, [], new MemoryStream(body));
        Assert.False(first.IsCompleted); // the first write is still in the middle of its copy
        release.Set();
        Assert.Equal(second, await first);

        var maildir = Path.Combine(_root, "campus.test", "jane");
        Assert.Equal(body, await File.ReadAllBytesAsync(second, TestContext.Current.CancellationToken));
        Assert.Single(Directory.GetFiles(Path.Combine(maildir, "new")));
        Assert.Empty(Directory.GetFiles(Path.Combine(maildir, "tmp")));
    }

    /// <summary>
    /// The first deliveries to a new mailbox, many at once, all land: when one gets ENOENT for the missing tmp/ and
    /// another has made tmp/ before .NET looks, the error comes as FileNotFoundException, not DirectoryNotFoundException.
    /// </summary>
    [Fact]
    public void Many_first_deliveries_at_once_to_new_mailboxes_all_land()
    {
        var store = new MaildirStore(_root, fsync: false);
        var body = "Subject: first\r\n\r\nhello\r\n"u8.ToArray();
        for (var account = 0; account < 100; account++)
        {
            var address = $"user{account}@campus.test";
            using var go = new ManualResetEventSlim();
            var failures = new System.Collections.Concurrent.ConcurrentQueue<Exception>();
            var writers = Enumerable.Range(0, 16).Select(_ => new Thread(() =>
            {
                go.Wait();
                try
                {
                    store.Deliver(address, [], new MemoryStream(body));
                }
                catch (Exception e)
                {
                    failures.Enqueue(e);
                }
            })).ToArray();
            foreach (var writer in writers)
                writer.Start();
            go.Set();
            foreach (var writer in writers)
                writer.Join();
            Assert.Empty(failures);
            Assert.Equal(16, Directory.GetFiles(Path.Combine(_root, "campus.test", $"user{account}", "new")).Length);
        }
    }

    [Fact]
    public void A_delivery_has_one_name_whatever_node_or_attempt_makes_it()
    {
        var at = new DateTimeOffset(2026, 11, 28, 9, 0, 0, TimeSpan.Zero);
        var name = MaildirStore.NameFor(at, "01M8GNQTR71X5XT3", "01M8GNQTR71X5XT3/jane@campus.test", 1234);
        Assert.Equal(name, MaildirStore.NameFor(at, "01M8GNQTR71X5XT3", "01M8GNQTR71X5XT3/jane@campus.test", 1234));
        Assert.NotEqual(name, MaildirStore.NameFor(at, "01M8GNQTR71X5XT3", "01M8GNQTR71X5XT3/bob@campus.test", 1234));
        Assert.StartsWith($"{at.ToUnixTimeSeconds()}.Q01M8GNQTR71X5XT3K", name, StringComparison.Ordinal);
        Assert.Equal(1234, MaildirStore.SizeOf(name));
        Assert.DoesNotContain(':', name);
        Assert.DoesNotContain('/', name);
    }

    [Theory]
    [InlineData("1764320400.M1P2Q3.host,S=1234", 1234L)]
    [InlineData("1764320400.M1P2Q3.host,S=1234,W=1260:2,S", 1234L)]
    [InlineData("1764320400.M1P2Q3.host,S=77:2,RS", 77L)]
    [InlineData("1764320400.M1P2Q3.host:2,S", null)]
    [InlineData("1764320400.M1P2Q3.host,S=x", null)]
    public void The_size_is_read_from_the_name_as_dovecot_writes_it(string name, long? size)
    {
        Assert.Equal(size, MaildirStore.SizeOf(name));
    }

    [Fact]
    public async Task Usage_sums_new_and_cur_by_name_or_by_file()
    {
        var store = new MaildirStore(_root);
        store.Deliver("jane@campus.test", "X: 1\r\n"u8, new MemoryStream(new byte[100]));
        var cur = Path.Combine(_root, "campus.test", "jane", "cur");
        await File.WriteAllBytesAsync(Path.Combine(cur, "1.M1P1Q1.host:2,S"), new byte[50], TestContext.Current.CancellationToken); // no S=: the file's length
        Assert.Equal(106 + 50, store.Usage("jane@campus.test"));
    }

    [Fact]
    public async Task Flags_should_rename_the_file_into_cur_with_dovecots_letters()
    {
        var store = new MaildirStore(_root);
        store.Write("jane@campus.test", "1.Qa.engine,S=3", "x"u8, new MemoryStream("yz"u8.ToArray()));
        Assert.True(store.SetFlags("jane@campus.test", "1.Qa.engine,S=3", false, [], ["\\Seen", "\\Deleted", "\\Answered", "$Work"]));
        var cur = Path.Combine(_root, "campus.test", "jane", "cur", "1.Qa.engine,S=3:2,RSTa"); // $Work: keyword a, in dovecot-keywords
        Assert.True(File.Exists(cur));
        Assert.True(store.SetFlags("jane@campus.test", "1.Qa.engine,S=3", true, ["\\Seen", "\\Deleted", "\\Answered"], ["\\Flagged", "\\Draft"]));
        Assert.Equal(Path.Combine(_root, "campus.test", "jane", "cur", "1.Qa.engine,S=3:2,DF"), store.Locate("jane@campus.test", "1.Qa.engine,S=3", true, ["\\Draft", "\\Flagged"]));
        Assert.True(store.Delete("jane@campus.test", "1.Qa.engine,S=3", true, ["\\Flagged", "\\Draft"]));
        Assert.False(store.SetFlags("jane@campus.test", "1.Qa.engine,S=3", true, [], ["\\Seen"]));
    }

    [Theory]
    [InlineData("../x@campus.test")]
    [InlineData("x@..")]
    [InlineData("a/b@campus.test")]
    [InlineData("nodomain")]
    public void Maildir_should_refuse_account_names_that_are_not_safe_paths(string account)
    {
        Assert.Throws<ArgumentException>(() => new MaildirStore(_root).PathOf(account));
    }

    public void Dispose()
    {
        if (Directory.Exists(_root))
            Directory.Delete(_root, recursive: true);
    }

    [Fact]
    public void Keywords_get_dovecot_letters_after_the_flags_kept_in_dovecot_keywords()
    {
        var store = new MaildirStore(_root);
        var folder = store.Ensure("jane@campus.test", "Work");
        // Dovecot gave "$Label1" the letter b (a was freed): the letters it wrote stay.
        File.WriteAllLines(Path.Combine(folder, "dovecot-keywords"), ["1 $Label1"]);
        Assert.Equal(":2,FSb", store.FlagSuffix("jane@campus.test", "Work", ["\\Seen", "$label1", "\\Flagged", "\\Recent"]));
        Assert.Equal(":2,Sbc", store.FlagSuffix("jane@campus.test", "Work", ["Project-X", "\\Seen", "$Label1"]));
        Assert.Equal(["1 $Label1", "2 Project-X"], File.ReadAllLines(Path.Combine(folder, "dovecot-keywords")));
        Assert.Equal("Project-X", DovecotMaildir.ReadKeywords(Path.Combine(folder, "dovecot-keywords"))['c']);
        // INBOX has letters of its own.
        Assert.Equal(":2,a", store.FlagSuffix("jane@campus.test", MaildirStore.Inbox, ["Project-X"]));
    }
}
