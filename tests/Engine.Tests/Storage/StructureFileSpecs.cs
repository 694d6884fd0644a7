using Engine.Storage.Maildir;

namespace Engine.Tests.Storage;

/// <summary>The per-folder file of parsed ENVELOPE and BODYSTRUCTURE: records found by offset and UID, misses for anything else.</summary>
public sealed class StructureFileSpecs : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("engine-structure-").FullName;

    private static StructureFile.Entry Entry(string subject) =>
        new($"(NIL \"{subject}\" NIL NIL NIL NIL NIL NIL NIL NIL)", "(\"text\" \"plain\" NIL NIL NIL \"7bit\" 5 1)",
            "(\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" 5 1 NIL NIL NIL NIL)");

    [Fact]
    public void Records_are_read_back_by_offset_and_uid_and_anything_else_is_a_miss()
    {
        var first = StructureFile.Append(_folder, 1, Entry("one"));
        var second = StructureFile.Append(_folder, 2, Entry("zwei \u00fc"));
        Assert.Equal(0, first);
        Assert.True(second > first);

        using var reader = new StructureFile.Reader(_folder);
        Assert.Equal(Entry("one"), reader.Read(first, 1));
        Assert.Equal(Entry("zwei \u00fc"), reader.Read(second, 2));
        Assert.Null(reader.Read(second, 1)); // another message's record
        Assert.Null(reader.Read(first + 3, 1)); // not the start of a record
        Assert.Null(reader.Read(new FileInfo(StructureFile.PathIn(_folder)).Length, 3)); // past the end
        Assert.Null(new StructureFile.Reader(Path.Combine(_folder, "none")).Read(0, 1)); // no file
    }

    [Fact]
    public void A_truncated_record_is_a_miss()
    {
        var offset = StructureFile.Append(_folder, 7, Entry("cut"));
        using (var file = new FileStream(StructureFile.PathIn(_folder), FileMode.Open))
            file.SetLength(file.Length - 10); // a write lost in a crash
        using var reader = new StructureFile.Reader(_folder);
        Assert.Null(reader.Read(offset, 7));
    }

    [Fact]
    public void A_rewrite_keeps_only_the_records_asked_for_at_new_offsets_once_it_replaces_the_file()
    {
        var offsets = Enumerable.Range(1, 10).Select(uid => StructureFile.Append(_folder, uid, Entry("m" + uid))).ToArray();
        var before = new FileInfo(StructureFile.PathIn(_folder)).Length;

        var kept = StructureFile.Rewrite(_folder, [(3, offsets[2]), (9, offsets[8]), (11, 12345)]);
        Assert.Null(kept[2]); // no record of uid 11 there
        using (var old = new StructureFile.Reader(_folder))
            Assert.Equal(Entry("m3"), old.Read(offsets[2], 3)); // not in place yet
        StructureFile.Replace(_folder);

        Assert.True(new FileInfo(StructureFile.PathIn(_folder)).Length < before / 4);
        using var reader = new StructureFile.Reader(_folder);
        Assert.Equal(Entry("m3"), reader.Read(kept[0]!.Value, 3));
        Assert.Equal(Entry("m9"), reader.Read(kept[1]!.Value, 9));
        Assert.Null(reader.Read(offsets[8], 9)); // the old offset no longer fits
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);
}
