using Engine.Mailbox;
using Engine.Messages.Mailbox;

namespace Engine.Tests.Mailbox;

public sealed class MailboxStateSpecs
{
    private static readonly DateTimeOffset Now = new(2026, 11, 28, 9, 0, 0, TimeSpan.Zero);

    [Fact]
    public void Appended_messages_enter_the_index_by_uid_with_the_size_of_their_name_and_expunged_ones_leave()
    {
        var state = MailboxState.Empty.Apply(new MailboxEvents.MailboxCreated(Now.ToUnixTimeSeconds()))
            .Apply(new MailboxEvents.DeliveryStarted("q1/jane", "1764320400.M1P2Q1.host,S=120"))
            .Apply(new MailboxEvents.MessageAppended("q1/jane", 1, "1764320400.M1P2Q1.host,S=120"))
            .Apply(new MailboxEvents.MessageAppended("q2/jane", 2, "1764320401.M1P2Q2.host,S=300"))
            .Apply(new MailboxEvents.MessageAppended("q3/jane", 3, "1764320402.M1P2Q3.host,S=50"));
        Assert.Equal([1L, 2L, 3L], state.Messages.Keys);
        Assert.Equal(300, state.Messages[2].Size);
        Assert.Empty(state.Started);

        var after = state.Apply(new MailboxEvents.MessagesExpunged([2, 9]));
        Assert.Equal([1L, 3L], after.Messages.Keys);
        Assert.Equal(4, after.NextUid); // UIDs are never used again
        Assert.True(after.Delivered.ContainsKey("q2/jane")); // nor is a delivery made again
    }

    [Fact]
    public void Structure_records_are_counted_until_a_compaction_gives_the_messages_left_their_new_offsets()
    {
        var state = MailboxState.Empty.Apply(new MailboxEvents.MailboxCreated(Now.ToUnixTimeSeconds()));
        for (var uid = 1; uid <= 1200; uid++)
            state = state.Apply(new MailboxEvents.MessageAppended($"q{uid}/jane", uid, $"1764320400.M{uid}P2.host,S=10", Cache: uid * 100));
        state = state.Apply(new MailboxEvents.MessageAppended("q0/jane", 1201, "1764320400.M0P2.host,S=10")); // no record
        Assert.Equal(1200, state.Inbox.CacheRecords);
        Assert.False(state.Inbox.CacheWasteful);

        state = state.Apply(new MailboxEvents.MessagesExpunged(Enumerable.Range(1, 1000).Select(u => (long)u).ToArray()));
        Assert.Equal(1200, state.Inbox.CacheRecords); // the records of expunged messages are still in the file
        Assert.True(state.Inbox.CacheWasteful);
        var modseq = state.HighestModSeq;

        state = state.Apply(new MailboxEvents.StructuresCompacted(null, [1001, 1002], [0, 400]));
        Assert.Equal(2, state.Inbox.CacheRecords);
        Assert.False(state.Inbox.CacheWasteful);
        Assert.Equal(0, state.Messages[1001].Cache);
        Assert.Equal(400, state.Messages[1002].Cache);
        Assert.Null(state.Messages[1003].Cache); // its record could not be read: it is parsed again when asked
        Assert.Equal(modseq, state.HighestModSeq); // nothing a client sees changed
        Assert.Equal(2, MailboxState.FromSnapshot(state.ToSnapshot()).Inbox.CacheRecords);
    }

    [Fact]
    public void Every_change_takes_the_next_modseq_and_flags_move_the_file_to_cur()
    {
        var state = MailboxState.Empty.Apply(new MailboxEvents.MailboxCreated(Now.ToUnixTimeSeconds()))
            .Apply(new MailboxEvents.MessageAppended("q1/jane", 1, "a,S=10"))
            .Apply(new MailboxEvents.MessageAppended("q2/jane", 2, "b,S=10"));
        Assert.Equal(2, state.HighestModSeq);
        Assert.Equal([1L, 2L], state.Messages.Values.Select(m => m.ModSeq));

        state = state.Apply(new MailboxEvents.FlagsChanged([new FlagsOf(1, ["\\Seen"]), new FlagsOf(9, ["\\Seen"])]));
        Assert.Equal(3, state.HighestModSeq);
        Assert.Equal(["\\Seen"], state.Messages[1].FlagList);
        Assert.True(state.Messages[1].Cur);
        Assert.Equal(3, state.Messages[1].ModSeq);
        Assert.False(state.Messages[2].Cur);
        Assert.Equal(4, state.Apply(new MailboxEvents.MessagesExpunged([2])).HighestModSeq);
        Assert.Equal(3, MailboxState.FromSnapshot(state.ToSnapshot()).HighestModSeq);
    }

    [Theory]
    [InlineData(FlagChange.Add, new[] { "\\Seen" }, new[] { "\\seen", "$X" }, new[] { "\\Seen", "$X" })]
    [InlineData(FlagChange.Remove, new[] { "\\Seen", "$X" }, new[] { "\\SEEN" }, new[] { "$X" })]
    [InlineData(FlagChange.Replace, new[] { "\\Seen", "$X" }, new[] { "\\Flagged" }, new[] { "\\Flagged" })]
    public void Store_should_add_remove_or_replace_flags_without_regard_to_case(FlagChange change, string[] current, string[] flags, string[] expected)
    {
        Assert.Equal(expected, MailboxState.Changed(current, change, flags));
    }

    [Fact]
    public void Folders_are_created_renamed_with_their_children_copied_into_and_moved_between()
    {
        var state = MailboxState.Empty.Apply(new MailboxEvents.MailboxCreated(100))
            .Apply(new MailboxEvents.MessageAppended("q1/jane", 1, "a,S=10"))
            .Apply(new MailboxEvents.MessageAppended("q2/jane", 2, "b,S=20"))
            .Apply(new MailboxEvents.FolderCreated("Work", 101))
            .Apply(new MailboxEvents.FolderCreated("Work/2026", 102, "\\Archive"))
            .Apply(new MailboxEvents.MessagesCopied("INBOX", "Work/2026", [new CopiedMessage(1, 1, "c,S=10")], Move: false))
            .Apply(new MailboxEvents.MessagesCopied("INBOX", "Work", [new CopiedMessage(2, 1, "d,S=20")], Move: true));
        Assert.Equal([1L], state.Messages.Keys); // the moved one left INBOX
        Assert.Equal(3, state.NextUid); // UIDs are not given back by a move
        Assert.Equal("c,S=10", state.Folders["Work/2026"].Messages[1].FileName);
        Assert.Equal(2, state.Folders["Work"].NextUid);

        var renamed = state.Apply(new MailboxEvents.FolderRenamed("Work", "Jobs"));
        Assert.Equal(["INBOX", "Jobs", "Jobs/2026"], renamed.Folders.Keys);
        Assert.Equal("\\Archive", renamed.Folders["Jobs/2026"].SpecialUse);
        Assert.Equal(102, renamed.Folders["Jobs/2026"].UidValidity); // UIDs stay valid across a rename

        var back = MailboxState.FromSnapshot(renamed.Apply(new MailboxEvents.FolderSubscribed("Jobs", false)).ToSnapshot());
        Assert.False(back.Folders["Jobs"].Subscribed);
        Assert.Equal(20, back.Folders["Jobs"].Messages[1].Size);
        Assert.Equal(["INBOX", "Jobs/2026"], back.Apply(new MailboxEvents.FolderDeleted("Jobs")).Folders.Keys);
        Assert.Equal("INBOX", MailboxState.Normalize("inbox"));
    }

    [Fact]
    public void Expunged_uids_are_kept_as_ranges_with_their_modseq_for_qresync()
    {
        var state = MailboxState.Empty;
        for (var uid = 1; uid <= 6; uid++)
            state = state.Apply(new MailboxEvents.MessageAppended($"q{uid}/jane", uid, $"m{uid},S=1"));
        state = state.Apply(new MailboxEvents.MessagesExpunged([2, 3, 5, 42])).Apply(new MailboxEvents.MessagesExpunged([6]));
        Assert.Equal([new ExpungedRange(2, 3, 7), new ExpungedRange(5, 5, 7), new ExpungedRange(6, 6, 8)], state.Inbox.ExpungedRanges);
        Assert.Equal(state.Inbox.ExpungedRanges, MailboxState.FromSnapshot(state.ToSnapshot()).Inbox.ExpungedRanges);
    }

    [Fact]
    public void An_append_keeps_its_flags_and_no_delivery_key()
    {
        var state = MailboxState.Empty.Apply(new MailboxEvents.FolderCreated("Sent", 5, "\\Sent"))
            .Apply(new MailboxEvents.MessageAppended("", 1, "e,S=7", "Sent", ["\\Seen"]));
        Assert.Empty(state.Delivered);
        Assert.True(state.Folders["Sent"].Messages[1].Cur);
        Assert.Equal(["\\Seen"], state.Folders["Sent"].Messages[1].FlagList);
    }

    [Theory]
    [InlineData("~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-")]
    [InlineData("Käse & Brot", "K&AOQ-se &- Brot")]
    [InlineData("plain", "plain")]
    public void Modified_utf7_should_encode_as_RFC_3501_and_decode_back(string name, string encoded)
    {
        Assert.Equal(encoded, Engine.Primitives.ModifiedUtf7.Encode(name));
        Assert.True(Engine.Primitives.ModifiedUtf7.TryDecode(encoded, out var decoded));
        Assert.Equal(name, decoded);
        Assert.False(Engine.Primitives.ModifiedUtf7.TryDecode("&Jjo", out _));
    }

    [Fact]
    public void A_snapshot_keeps_the_index_and_an_old_snapshot_without_one_reads_as_empty()
    {
        var state = MailboxState.Empty.Apply(new MailboxEvents.MailboxCreated(Now.ToUnixTimeSeconds())).Apply(new MailboxEvents.MessageAppended("q1/jane", 1, "1764320400.M1P2Q1.host,S=120"));
        var back = MailboxState.FromSnapshot(state.ToSnapshot());
        Assert.Equal(state.Messages[1], back.Messages[1]);
        Assert.Equal(Now.ToUnixTimeSeconds(), back.UidValidity);
        var old = MailboxState.FromSnapshot(new MailboxSnapshot(1, 2, new Dictionary<string, long> { ["q1/jane"] = 1 }, []));
        Assert.Empty(old.Messages);
    }
}
