using Engine.Storage.Maildir;

namespace Engine.Tests.Storage;

/// <summary>Reading a Maildir++ tree as Dovecot 2.3 leaves it (dovecot-uidlist version 3, dovecot-keywords, subscriptions).</summary>
public sealed class DovecotMaildirSpecs : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "engine-dovecot-" + Guid.NewGuid().ToString("N"));

    private void File(string relative, string text = "Subject: x\r\n\r\nbody\r\n")
    {
        var path = Path.Combine(_root, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        System.IO.File.WriteAllText(path, text);
    }

    [Fact]
    public void Uids_flags_keywords_folders_and_subscriptions_are_read_as_dovecot_wrote_them()
    {
        File("dovecot-uidlist", "3 V1764320400 N9 G3085f01b7f11094c501100008c4a11c1\n" +
                                "3 :1764320400.M1P1.host,S=20\n" +
                                "7 W30 :1764320401.M2P1.host,S=20\n");
        File("dovecot-keywords", "0 $Work\n1 Junk\n");
        File("cur/1764320400.M1P1.host,S=20:2,Sb");
        File("cur/1764320401.M2P1.host,S=20:2,FRa");
        File("new/1764320500.M3P1.host"); // arrived after Dovecot last looked: the next UID
        File(".Work.&AOQ-/cur/1764320600.M4P1.host:2,T");
        File("subscriptions", "V\t2\n\nINBOX\n");

        var folders = DovecotMaildir.Read(_root, 99);
        var inbox = folders[0];
        Assert.Equal(("INBOX", 1764320400L, 10L), (inbox.Name, inbox.UidValidity, inbox.NextUid));
        Assert.Equal([3L, 7L, 9L], inbox.Messages.Select(m => m.Uid));
        Assert.Equal(["\\Seen", "Junk"], inbox.Messages[0].Flags);
        Assert.Equal(["\\Flagged", "\\Answered", "$Work"], inbox.Messages[1].Flags);
        Assert.Empty(inbox.Messages[2].Flags);
        Assert.Equal(20, inbox.Messages[0].Size); // from S=
        Assert.Equal("1764320400.M1P1.host,S=20", inbox.Messages[0].BaseName);

        var work = Assert.Single(folders, f => f.Name == "Work/ä");
        Assert.Equal(100, work.UidValidity); // no uidlist: the fallback, one more per folder
        Assert.Equal(["\\Deleted"], work.Messages.Single().Flags);
        Assert.False(work.Subscribed);
        Assert.True(inbox.Subscribed);
    }

    [Fact]
    public void A_folder_that_is_not_a_maildir_is_refused()
    {
        Directory.CreateDirectory(_root);
        Assert.Throws<IOException>(() => DovecotMaildir.Read(_root, 1));
    }

    public void Dispose()
    {
        if (Directory.Exists(_root))
            Directory.Delete(_root, recursive: true);
    }
}
