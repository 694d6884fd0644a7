using Engine.Primitives;
using Engine.Storage.Blobs;

namespace Engine.Tests.Storage;

/// <summary>The spool as segments, on real files with fsync on: group commit, reading in place, reclaiming, recovery.</summary>
public sealed class SegmentBlobStoreSpecs : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("segments").FullName;
    private readonly List<SegmentBlobStore> _stores = [];

    public void Dispose()
    {
        foreach (var store in _stores)
            store.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    private string Segments => Path.Combine(_dir, "segments");

    private SegmentBlobStore Open(long segmentSize = SegmentBlobStore.DefaultSegmentSize)
    {
        var store = new SegmentBlobStore(_dir, fsync: true, segmentSize);
        _stores.Add(store);
        return store;
    }

    private static byte[] Body(int size, int seed = 0)
    {
        var bytes = new byte[size];
        new Random(size + seed).NextBytes(bytes);
        return bytes;
    }

    private static async Task<string> CommitAsync(IBlobStore store, byte[] body, int piece = 4096)
    {
        await using var writer = store.Create(QueueId.New());
        for (var at = 0; at < body.Length; at += piece)
            await writer.WriteAsync(body.AsMemory(at, Math.Min(piece, body.Length - at)));
        await writer.CommitAsync();
        return writer.Ref;
    }

    private static async Task<byte[]> ReadAsync(IBlobStore store, string blobRef)
    {
        await using var stream = store.OpenRead(blobRef);
        var read = new MemoryStream();
        await stream.CopyToAsync(read);
        return read.ToArray();
    }

    [Fact]
    public async Task A_commit_waits_for_a_body_still_arriving_and_both_share_one_append_but_a_lone_commit_does_not_wait()
    {
        var store = new SegmentBlobStore(_dir, fsync: true, commitDelay: TimeSpan.FromSeconds(5));
        _stores.Add(store);

        // Alone: nothing else is arriving, so the commit does not wait for the delay.
        var alone = System.Diagnostics.Stopwatch.StartNew();
        await CommitAsync(store, Body(5120));
        Assert.True(alone.Elapsed < TimeSpan.FromSeconds(2), $"a lone commit took {alone.Elapsed}");
        var appends = store.Appends;

        // A second body is being received when the first commits: the first waits for it, and one append takes both.
        await using var late = store.Create(QueueId.New());
        await late.WriteAsync(Body(5120, seed: 1));
        var first = CommitAsync(store, Body(5120, seed: 2));
        await Task.Delay(300);
        Assert.False(first.IsCompleted, "the commit did not wait for the body still arriving");
        await late.CommitAsync();
        var firstRef = await first.WaitAsync(TimeSpan.FromSeconds(2));
        Assert.Equal(appends + 1, store.Appends);
        Assert.Equal(Body(5120, seed: 2), await ReadAsync(store, firstRef));
        Assert.Equal(Body(5120, seed: 1), await ReadAsync(store, late.Ref));
    }

    private string[] SegmentFiles() => Directory.GetFiles(Segments).Select(Path.GetFileName).Order().ToArray()!;

    [Theory]
    [InlineData(0, 1)]
    [InlineData(5120, 7)]
    [InlineData(300_000, 65536)]
    [InlineData(SegmentBlobStore.InlineLimit, 100_000)]
    public async Task A_body_comes_back_byte_for_byte_from_its_segment(int size, int piece)
    {
        var store = Open();
        var body = Body(size);
        var blobRef = await CommitAsync(store, body, piece);
        Assert.StartsWith("seg/", blobRef, StringComparison.Ordinal);
        Assert.True(store.Exists(blobRef));
        Assert.Equal(body, await ReadAsync(store, blobRef));
        using (var sync = store.OpenRead(blobRef))
        {
            Assert.Equal(size, sync.Length);
            var buffer = new byte[4093];
            var read = new MemoryStream();
            for (int n; (n = sync.Read(buffer, 0, buffer.Length)) > 0;)
                read.Write(buffer, 0, n);
            Assert.Equal(body, read.ToArray());
        }
    }

    [Fact]
    public async Task A_body_over_the_inline_limit_gets_a_file_of_its_own_and_is_read_and_deleted_as_one()
    {
        var store = Open();
        var body = Body(SegmentBlobStore.InlineLimit + 1);
        var blobRef = await CommitAsync(store, body, 65536);
        Assert.DoesNotContain("seg/", blobRef, StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(_dir, blobRef)));
        Assert.Equal(body, await ReadAsync(store, blobRef));
        store.Delete(blobRef);
        Assert.False(store.Exists(blobRef));
        Assert.False(File.Exists(Path.Combine(_dir, blobRef)));
    }

    [Fact]
    public async Task A_body_the_file_spool_wrote_is_read_and_deleted_by_the_segment_spool()
    {
        var files = new FileBlobStore(_dir, fsync: true);
        var body = Body(777);
        var blobRef = await CommitAsync(files, body);
        var store = Open();
        Assert.True(store.Exists(blobRef));
        Assert.Equal(body, await ReadAsync(store, blobRef));
        store.Delete(blobRef);
        Assert.False(files.Exists(blobRef));
    }

    [Fact]
    public async Task The_appends_run_on_a_thread_of_the_spool_s_own_not_on_the_pool()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "thread names are read from /proc");
        var store = Open();
        var blobRef = await CommitAsync(store, Body(2000));

        // The thread that wrote and fsynced the segment is named as the store names it (Linux shows the names in /proc).
        // Other tests' threads may end while this reads: a task gone meanwhile has no name.
        static string NameOf(string task)
        {
            try
            {
                return File.ReadAllText(Path.Combine(task, "comm")).Trim();
            }
            catch (IOException)
            {
                return "";
            }
        }
        Assert.Contains("Spool flush", Directory.EnumerateDirectories("/proc/self/task").Select(NameOf).ToArray());
        Assert.Equal(Body(2000), await ReadAsync(store, blobRef));
    }

    [Fact]
    public async Task Commits_made_together_share_their_write_and_fsync_and_each_body_stays_whole()
    {
        var store = Open();
        var bodies = Enumerable.Range(0, 50).Select(i => Body(1000 + i, i)).ToArray();
        var refs = await Task.WhenAll(bodies.Select(b => CommitAsync(store, b)));
        Assert.InRange(store.Appends, 1, bodies.Length / 2);
        Assert.Single(SegmentFiles());
        for (var i = 0; i < bodies.Length; i++)
            Assert.Equal(bodies[i], await ReadAsync(store, refs[i]));
        Assert.Equal(50, refs.Distinct().Count());
    }

    [Fact]
    public async Task The_length_of_a_body_comes_from_its_reference_or_its_file_and_a_deleted_one_has_none()
    {
        var store = Open();
        var small = await CommitAsync(store, Body(1234, 1));
        var large = await CommitAsync(store, Body(SegmentBlobStore.InlineLimit + 10, 2), piece: 64 * 1024);
        Assert.Equal(1234, store.Length(small));
        Assert.Equal(SegmentBlobStore.InlineLimit + 10, store.Length(large));
        store.Delete(small);
        store.Delete(large);
        Assert.Throws<FileNotFoundException>(() => store.Length(small));
        Assert.Throws<FileNotFoundException>(() => store.Length(large));
    }

    [Fact]
    public async Task A_full_segment_is_removed_once_every_body_in_it_is_deleted_and_not_before()
    {
        var store = Open(segmentSize: 3000);
        var first = await CommitAsync(store, Body(1000, 1));
        var second = await CommitAsync(store, Body(1000, 2));
        var third = await CommitAsync(store, Body(1000, 3)); // past 3,000 octets: the next body starts a new segment
        var fourth = await CommitAsync(store, Body(1000, 4));
        Assert.Equal(2, SegmentFiles().Length);
        var full = first.Split('/')[1];
        Assert.Equal(full, third.Split('/')[1]);
        Assert.NotEqual(full, fourth.Split('/')[1]);

        store.Delete(first);
        store.Delete(second);
        store.Delete(first); // twice counts once
        Assert.Contains(full, SegmentFiles());
        Assert.False(store.Exists(first));
        Assert.Throws<FileNotFoundException>(() => store.OpenRead(second));
        Assert.Equal(Body(1000, 3), await ReadAsync(store, third));

        store.Delete(third);
        Assert.DoesNotContain(full, SegmentFiles());
        Assert.DoesNotContain(full + ".del", SegmentFiles());
        Assert.Equal(Body(1000, 4), await ReadAsync(store, fourth));
    }

    /// <summary>What this process has open of a segment's tombstone file, from /proc/self/fd (Linux).</summary>
    private static int OpenTombstoneFiles(string segment) =>
        new DirectoryInfo("/proc/self/fd").EnumerateFileSystemInfos().Count(fd =>
        {
            try
            {
                return fd.LinkTarget?.EndsWith(Path.DirectorySeparatorChar + segment + ".del", StringComparison.Ordinal) == true;
            }
            catch (IOException)
            {
                return false; // closed while listed
            }
        });

    [Fact]
    public async Task The_tombstone_file_stays_open_from_the_first_delete_until_its_segment_is_removed()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "reads /proc/self/fd");
        var store = Open(segmentSize: 3000);
        var refs = new List<string>();
        for (var i = 0; i < 4; i++)
            refs.Add(await CommitAsync(store, Body(1000, i))); // three in the first segment, the fourth in the next
        var full = refs[0].Split('/')[1];
        Assert.Equal(0, OpenTombstoneFiles(full));

        store.Delete(refs[0]);
        store.Delete(refs[1]);
        Assert.Equal(1, OpenTombstoneFiles(full)); // one handle for both deletes, kept for the next
        Assert.Equal(2 * SegmentFormat.TombstoneSize, new FileInfo(Path.Combine(Segments, full + ".del")).Length); // both written

        store.Delete(refs[2]); // the last live body: the segment goes, and the handle with it
        Assert.DoesNotContain(full, SegmentFiles());
        Assert.Equal(0, OpenTombstoneFiles(full));
    }

    [Fact]
    public async Task The_segment_being_written_goes_once_nothing_in_it_is_live_so_an_idle_spool_is_empty()
    {
        var store = Open();
        var refs = new[] { await CommitAsync(store, Body(10, 1)), await CommitAsync(store, Body(10, 2)) };
        store.Delete(refs[0]);
        Assert.Equal(2, SegmentFiles().Length); // the segment and its tombstones
        store.Delete(refs[1]);
        Assert.Empty(SegmentFiles());

        // The next commit starts a new segment.
        var next = await CommitAsync(store, Body(10, 3));
        Assert.Equal(Body(10, 3), await ReadAsync(store, next));
    }

    [Fact]
    public async Task After_a_crash_the_cut_off_record_is_dropped_the_segment_sealed_and_earlier_deletes_still_count()
    {
        var before = Open();
        var bodies = Enumerable.Range(0, 3).Select(i => Body(2000, i)).ToArray();
        var refs = new List<string>();
        foreach (var body in bodies)
            refs.Add(await CommitAsync(before, body));
        before.Delete(refs[0]);
        before.Dispose(); // its lock goes and the segment is sealed: the seal is taken off below, as a crash leaves it
        var segment = Path.Combine(Segments, refs[0].Split('/')[1]);
        var whole = new FileInfo(segment).Length - 24;
        // The batch in flight at the crash: a header saying 5,000 octets and only 100 of them.
        await using (var tail = new FileStream(segment, FileMode.Open))
        {
            tail.SetLength(whole);
            tail.Position = whole;
            var header = new byte[24];
            "MSG1"u8.CopyTo(header);
            BitConverter.GetBytes(5000).CopyTo(header, 4);
            tail.Write(header);
            tail.Write(new byte[100]);
        }

        var after = Open();
        Assert.Equal(whole + 24, new FileInfo(segment).Length); // the cut-off record gone, the seal after the last whole one
        Assert.Equal(bodies[1], await ReadAsync(after, refs[1]));
        Assert.Equal(bodies[2], await ReadAsync(after, refs[2]));
        after.Delete(refs[1]);
        Assert.True(File.Exists(segment));
        after.Delete(refs[2]);
        Assert.False(File.Exists(segment)); // the delete made before the crash counted
        Assert.Empty(SegmentFiles());

        var next = await CommitAsync(after, Body(10));
        Assert.DoesNotContain(Path.GetFileName(segment), next, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_segment_another_process_still_writes_is_not_sealed_by_a_second_one_and_its_deletes_count_when_it_is()
    {
        var writing = Open(segmentSize: 200);
        var first = await CommitAsync(writing, Body(100, 1));
        var segment = Path.Combine(Segments, first.Split('/')[1]);
        var length = new FileInfo(segment).Length;

        var other = Open(); // a restart that raced, or another node on a shared spool
        Assert.Equal(length, new FileInfo(segment).Length); // no seal appended
        var second = await CommitAsync(writing, Body(100, 2));
        Assert.Equal(first.Split('/')[1], second.Split('/')[1]);
        Assert.Equal(Body(100, 2), await ReadAsync(other, second));

        // Deletes through the other process are tombstones, which the writer reads when it seals the segment.
        other.Delete(first);
        other.Delete(second);
        Assert.True(File.Exists(segment));
        Assert.True(writing.Exists(first));
        var third = await CommitAsync(writing, Body(100, 3)); // the segment is full: sealed, and a new one begun
        Assert.NotEqual(first.Split('/')[1], third.Split('/')[1]);
        Assert.False(File.Exists(segment));
        Assert.Equal(Body(100, 3), await ReadAsync(other, third));
    }

    [Fact]
    public async Task Deletes_at_the_same_moment_from_many_threads_and_two_processes_each_leave_their_tombstone()
    {
        var writing = Open();
        var refs = await Task.WhenAll(Enumerable.Range(0, 400).Select(i => CommitAsync(writing, Body(10, i))));
        var segment = refs[0].Split('/')[1];
        Assert.All(refs, r => Assert.Equal(segment, r.Split('/')[1]));
        var other = Open(); // another node on the shared spool

        // All but the last, so the segment stays and its tombstones can be counted: one each, none written over.
        var doomed = refs[..^1];
        Parallel.For(0, doomed.Length, new ParallelOptions { MaxDegreeOfParallelism = 8 }, i => (i % 2 == 0 ? writing : other).Delete(doomed[i]));
        Assert.Equal(doomed.Length * SegmentFormat.TombstoneSize, new FileInfo(Path.Combine(Segments, segment + ".del")).Length);
        Assert.True(other.Exists(refs[^1]));
        Assert.False(other.Exists(doomed[0]));
        Assert.False(writing.Exists(doomed[0])); // its own delete (another process's count for it once the segment is sealed)
    }

    [Fact]
    public async Task A_body_deleted_by_another_process_is_gone_for_this_one_too_once_its_segment_is_sealed()
    {
        var writing = Open(segmentSize: 200);
        var first = await CommitAsync(writing, Body(100, 1));
        var second = await CommitAsync(writing, Body(100, 2));
        await CommitAsync(writing, Body(100, 3)); // seals the segment of the first two
        var other = Open();
        other.Delete(first);
        Assert.False(writing.Exists(first)); // read from the tombstones the other process wrote
        Assert.Throws<FileNotFoundException>(() => writing.OpenRead(first));
        Assert.True(writing.Exists(second));
    }

    [Fact]
    public async Task A_torn_or_zeroed_tail_of_the_tombstones_deletes_nothing()
    {
        var before = Open();
        var only = await CommitAsync(before, Body(100)); // the record at offset 0
        Assert.Equal("0", only.Split('/')[2]);
        before.Dispose();
        var tombstones = Path.Combine(Segments, only.Split('/')[1] + ".del");
        await File.WriteAllBytesAsync(tombstones, new byte[16 + 7], TestContext.Current.CancellationToken); // zeroes, as after a power loss

        var after = Open();
        Assert.True(after.Exists(only));
        Assert.Equal(Body(100), await ReadAsync(after, only));
        after.Delete(only);
        Assert.Empty(SegmentFiles());
    }

    [Fact]
    public async Task The_sweep_is_offered_the_live_bodies_written_before_its_cutoff_in_segments_and_in_files()
    {
        var store = Open(segmentSize: 300);
        async Task<string> At(DateTimeOffset time, int size)
        {
            await using var writer = store.Create(QueueId.New(time));
            await writer.WriteAsync(Body(size));
            await writer.CommitAsync();
            return writer.Ref;
        }
        var now = DateTimeOffset.UtcNow;
        var old = await At(now.AddHours(-3), 100);
        var deleted = await At(now.AddHours(-3), 100);
        var sealedOld = await At(now.AddHours(-2), 100); // the first segment is full after this one
        var large = await At(now.AddHours(-2), SegmentBlobStore.InlineLimit + 1);
        var young = await At(now, 100);
        store.Delete(deleted);

        var offered = store.Bodies(now.AddHours(-1));
        Assert.Equal(new[] { old, sealedOld, large }.Order(), offered.Select(b => b.Ref).Order());
        Assert.All(offered, b => Assert.True(b.Id.Time < now.AddHours(-1)));
        Assert.DoesNotContain(offered, b => b.Ref == young);
    }

    [Fact]
    public async Task An_aborted_body_leaves_nothing_and_a_bad_reference_is_refused()
    {
        var store = Open();
        var writer = store.Create(QueueId.New());
        await writer.WriteAsync(Body(SegmentBlobStore.InlineLimit + 100)); // in a file of its own already
        Assert.Single(Directory.GetFiles(_dir, "*", SearchOption.AllDirectories));
        writer.Abort();
        writer.Abort();
        Assert.Empty(Directory.GetFiles(_dir, "*", SearchOption.AllDirectories));
        var small = store.Create(QueueId.New());
        await small.WriteAsync(Body(100));
        small.Abort();
        Assert.Equal("", small.Ref);
        store.Delete(small.Ref);
        await Assert.ThrowsAsync<InvalidOperationException>(() => small.CommitAsync());
        Assert.Empty(Directory.GetFiles(_dir, "*", SearchOption.AllDirectories));

        Assert.Throws<ArgumentException>(() => store.OpenRead("seg/../../etc/passwd/0/10"));
        Assert.Throws<ArgumentException>(() => store.Exists("seg/01M8K37PZ64FPWMT/x/10"));
        var good = await CommitAsync(store, Body(100));
        var parts = good.Split('/');
        Assert.Throws<IOException>(() => store.OpenRead($"seg/{parts[1]}/{parts[2]}/99")); // not the length written there
    }
}
