using Engine.Mailbox.Imap;
using Engine.Messages.Mailbox;

namespace Engine.Tests.Mailbox;

public sealed class SelectedMailboxSpecs
{
    private static MailMessage Message(long uid, long modseq, params string[] flags) => new(uid, $"{uid}.eml", 10, flags, modseq);

    private static MailboxReplies.Listing Listing(long validity, params MailMessage[] messages) =>
        new("jane@campus.test", validity, messages, messages.Length == 0 ? 1 : messages[^1].Uid + 1, messages.Length == 0 ? 1 : messages.Max(m => m.ModSeq));

    [Fact]
    public void A_listing_from_a_new_incarnation_announces_what_changed_meanwhile()
    {
        var view = new SelectedMailbox(Listing(7, Message(1, 1), Message(2, 2), Message(3, 3)), readOnly: false);
        // Meanwhile: 1 expunged, 2 flagged \Seen, 4 and 5 delivered; and one notice heard before the new listing (4).
        view.Hear(new MailboxReplies.Changed("jane@campus.test", [Message(4, 4)], [], [], 4), 100);
        view.Resync(Listing(7, Message(2, 6, "\\Seen"), Message(3, 3), Message(4, 4), Message(5, 5)), 100);

        var lines = view.Announce(allowExpunge: true, condstore: false);
        // 4 exists before 1 goes; then 5 arrives (4 again), said before the FETCH that may name it.
        Assert.Equal(["* 4 EXISTS", "* 1 EXPUNGE", "* 4 EXISTS", "* 1 FETCH (UID 2 FLAGS (\\Seen))"], lines);
        Assert.Equal([2L, 3, 4, 5], view.Uids);
        Assert.False(view.Gone);
        Assert.Empty(view.Announce(allowExpunge: true, condstore: false));
    }

    [Fact]
    public void A_listing_with_another_UIDVALIDITY_means_the_folder_is_gone()
    {
        var view = new SelectedMailbox(Listing(7, Message(1, 1)), readOnly: false);
        view.Resync(Listing(8, Message(1, 1)), 100);
        Assert.True(view.Gone);
    }
}
