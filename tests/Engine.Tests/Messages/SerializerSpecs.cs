using System.Text;
using Akka.Actor;
using Akka.Configuration;
using Engine.Messages;
using Engine.Messages.Cluster;
using Engine.Messages.Delivery;
using Engine.Messages.Greylist;
using Engine.Messages.Mailbox;
using Engine.Messages.Queue;
using Engine.Messages.Serialization;
using Engine.Primitives;
using Envelope = Engine.Messages.Envelope;

namespace Engine.Tests.Messages;

public sealed class SerializerSpecs : IDisposable
{
    private readonly ActorSystem _system = ActorSystem.Create("serializer-specs", ConfigurationFactory.ParseString("""
        akka.actor.serializers.engine = "Engine.Messages.Serialization.EngineSerializer, Engine.Messages"
        akka.actor.serialization-bindings { "Engine.Messages.IEngineMessage, Engine.Messages" = engine }
        """));

    private static readonly QueueId Id = QueueId.Parse("01M8GNQTR71X5XT3");

    private static readonly Envelope SampleEnvelope = new(
        "jane@example.org",
        [
            new EnvelopeRecipient("bob@example.net", DsnNotify.Success | DsnNotify.Failure, "rfc822", "Bob@example.net"),
            new EnvelopeRecipient("小さい@例え.jp", DsnNotify.Unspecified),
        ],
        BodyType.EightBitMime, SmtpUtf8: true, DsnReturn.Headers, "env-1",
        new ClientInfo("192.0.2.1", "mx.example.org", "mx.example.org", "UTF8SMTP"),
        new DateTimeOffset(2026, 11, 28, 9, 0, 0, TimeSpan.Zero), 1234);

    private static readonly QueuedMessage SampleMessage = new(Id, SampleEnvelope, "3/01M8GNQTR71X5XT3", QueueState.Incoming);

    /// <summary>One sample of every type the serializer writes.</summary>
    public static TheoryData<string> Samples() => new(AllSamples().Keys);

    private static Dictionary<string, object> AllSamples() => new object[]
    {
        new QueueCommands.Enqueue(5, Id, SampleEnvelope, "3/01M8GNQTR71X5XT3"),
        new QueueCommands.GetMessages(7),
        new QueueReplies.Queued(Id),
        new QueueReplies.NotQueued(Id, "disk full"),
        new QueueReplies.MessagesResult(3, [SampleMessage]),
        new QueueEvents.MessageQueued(Id, SampleEnvelope, "3/01M8GNQTR71X5XT3", new DateTimeOffset(2026, 11, 28, 9, 0, 1, TimeSpan.Zero)),
        new QueueSnapshot([SampleMessage, SampleMessage with
        {
            Id = QueueId.Parse("01M8GNQTR71X5XT4"), Delivered = ["bob@example.net"], Bounced = ["x@err.example"],
            BounceReplies = new Dictionary<string, string> { ["x@err.example"] = "550 5.1.1 no" }, Notified = ["x@err.example"],
        }, SampleMessage with
        {
            Id = QueueId.Parse("01M8GNQTR71X5XT5"), State = QueueState.Deferred,
            Deferrals = new Dictionary<string, Deferral> { ["bob@example.net"] = new(2, "451 4.4.1 refused") },
            NextAttemptAt = new DateTimeOffset(2026, 11, 28, 9, 10, 0, TimeSpan.Zero), DelayWarned = true,
        }, SampleMessage with
        {
            Id = QueueId.Parse("01M8GNQTR71X5XT7"), Delivered = ["bob@example.net"],
            Successes = new Dictionary<string, string> { ["bob@example.net"] = "relayed" }, Reported = ["bob@example.net", "staff@example.net"],
        }], [QueueId.Parse("01M8GNQTR71X5XT6")]),
        SampleMessage,
        new QueueEvents.RecipientDelivered(Id, "carol@example.net", 0, new DateTimeOffset(2026, 11, 28, 9, 0, 2, TimeSpan.Zero), "relayed"),
        new QueueEvents.SuccessReported(Id, ["carol@example.net", "staff@example.net"], QueueId.Parse("01M8GNQTR71X5XT8"),
            new DateTimeOffset(2026, 11, 28, 9, 0, 2, TimeSpan.Zero)),
        new QueueEvents.MessageRemoved(Id, new DateTimeOffset(2026, 11, 28, 9, 0, 3, TimeSpan.Zero)),
        new MailboxCommands.Deliver("bob@example.net", "01M8GNQTR71X5XT3/bob@example.net", "3/01M8GNQTR71X5XT3", "jane@example.org", "staff@example.net"),
        new MailboxReplies.Delivered("bob@example.net", "01M8GNQTR71X5XT3/bob@example.net", 7),
        new MailboxReplies.NotDelivered("bob@example.net", "01M8GNQTR71X5XT3/bob@example.net", "disk full"),
        new MailboxEvents.DeliveryStarted("01M8GNQTR71X5XT3/bob@example.net", "1764320400.M1P2Q3.host,S=1234"),
        new MailboxEvents.MessageAppended("01M8GNQTR71X5XT3/bob@example.net", 7, "1764320400.M1P2Q3.host,S=1234", Cache: 0),
        new PendingDelivery("k", "f"),
        new QueueEvents.RecipientBounced(Id, "x@err.example", "550 5.1.1 no such user", new DateTimeOffset(2026, 11, 28, 9, 0, 4, TimeSpan.Zero)),
        new QueueEvents.BounceQueued(Id, ["x@err.example"], QueueId.Parse("01M8GNQTR71X5XT5"), new DateTimeOffset(2026, 11, 28, 9, 0, 5, TimeSpan.Zero)),
        new QueueEvents.MessageDeferred(Id, new Dictionary<string, string> { ["bob@example.net"] = "451 4.4.1 refused" },
            new DateTimeOffset(2026, 11, 28, 9, 5, 0, TimeSpan.Zero), new DateTimeOffset(2026, 11, 28, 9, 0, 6, TimeSpan.Zero)),
        new QueueEvents.DelayWarned(Id, QueueId.Parse("01M8GNQTR71X5XT6"), new DateTimeOffset(2026, 11, 28, 9, 0, 7, TimeSpan.Zero)),
        new QueueEvents.MessageHeld(Id, "operator", new DateTimeOffset(2026, 11, 28, 9, 0, 8, TimeSpan.Zero)),
        new QueueEvents.MessageReleased(Id, new DateTimeOffset(2026, 11, 28, 9, 0, 9, TimeSpan.Zero)),
        new QueueEvents.MessageCorrupt(Id, "body missing", new DateTimeOffset(2026, 11, 28, 9, 0, 10, TimeSpan.Zero)),
        new QueueCommands.Hold(3, Id, "operator"),
        new QueueCommands.Release(3, Id),
        new QueueCommands.Flush(3, Id, "example.net"),
        new QueueCommands.Delete(3, Id),
        new QueueCommands.Requeue(3, Id),
        new QueueEvents.MessageRequeued(Id, new DateTimeOffset(2026, 11, 28, 9, 0, 11, TimeSpan.Zero)),
        new QueueReplies.Changed(3, 1),
        new QueueCommands.FindBodies(3, [new SpooledBody(Id, "seg/01M8GNQTR71X5XT3/0/1234")]),
        new QueueReplies.BodiesInUse(3, [new SpooledBody(Id, "3/01M8GNQTR71X5XT3")]),
        new SpooledBody(Id, "seg/01M8GNQTR71X5XT3/1258/99"),
        new DestinationCommands.Send("[127.0.0.1]:25", Id, "3/01M8GNQTR71X5XT3", SampleEnvelope),
        new DestinationReplies.Outcomes(Id, "mx.example[192.0.2.1]:25", [new RecipientReply("bob@example.net", 250, "2.0.0", "Ok")], 0.25, 1.5, false),
        new RecipientReply("bob@example.net", 451, null, "try later"),
        new MailboxSnapshot(1764320400, 8, new Dictionary<string, long> { ["k1"] = 7 }, [new PendingDelivery("k2", "f2")],
            [new MailMessage(7, "1764320400.M1P2Q3.host,S=1234", 1234)]),
        new MailboxCommands.List("bob@example.net"),
        new MailboxCommands.Expunge("bob@example.net", [7, 9]),
        new MailboxReplies.Listing("bob@example.net", 1764320400, [new MailMessage(7, "1764320400.M1P2Q3.host,S=1234", 1234)]),
        new MailboxReplies.Expunged("bob@example.net", [7]),
        new MailMessage(7, "1764320400.M1P2Q3.host,S=1234", 1234),
        new MailboxEvents.MessagesExpunged([7, 9]),
        new MailboxEvents.MailboxCreated(1764320400),
        new MailboxEvents.FlagsChanged([new FlagsOf(7, ["\\Seen", "$Label1"])]),
        new FlagsOf(7, ["\\Seen"]),
        new MailboxCommands.Watch("bob@example.net"),
        new MailboxCommands.Unwatch("bob@example.net"),
        new MailboxCommands.Store("bob@example.net", [7, 9], FlagChange.Add, ["\\Deleted"], 12),
        new MailboxReplies.Stored("bob@example.net", [new MailMessage(7, "n", 3, ["\\Seen"], 4, true)], [9]),
        new MailboxReplies.Changed("bob@example.net", [new MailMessage(8, "n", 3)], [new MailMessage(7, "n", 3, ["\\Seen"], 4, true)], [5], 9),
        new MailboxReplies.WatchAgain("bob@example.net"),
        new MailboxCommands.Folders("bob@example.net"),
        new MailboxCommands.CreateFolder("bob@example.net", "Work/2026", "\\Archive"),
        new MailboxCommands.DeleteFolder("bob@example.net", "Work"),
        new MailboxCommands.RenameFolder("bob@example.net", "Work", "Job"),
        new MailboxCommands.Subscribe("bob@example.net", "Work", false),
        new MailboxCommands.Append("bob@example.net", "Sent", "spool/x", ["\\Seen"], 1764320400, 1000),
        new MailboxCommands.Copy("bob@example.net", "INBOX", [1, 2], "Work", true),
        new MailboxReplies.FolderList("bob@example.net", [new FolderInfo("INBOX", null, true, 1764320400, 5, 9, 4, 1, 1234)]),
        new MailboxReplies.FolderDone("bob@example.net", "[NONEXISTENT] Mailbox doesn't exist."),
        new MailboxReplies.Appended("bob@example.net", 1764320400, 5),
        new MailboxReplies.Copied("bob@example.net", 1764320401, [1, 2], [7, 8]),
        new FolderInfo("Sent", "\\Sent", true, 1764320401, 1, 0, 0, 0, 0),
        new MailboxEvents.FolderCreated("Sent", 1764320401, "\\Sent"),
        new MailboxEvents.FolderDeleted("Work"),
        new MailboxEvents.FolderRenamed("Work", "Job"),
        new MailboxEvents.FolderSubscribed("Work", false),
        new MailboxEvents.MessagesCopied("INBOX", "Work", [new CopiedMessage(1, 7, "1764320400.M1P2Q3.host,S=10")], false),
        new CopiedMessage(1, 7, "n", 4096),
        new MailboxCommands.Import("bob@example.net", "/srv/mail/example.net/bob"),
        new ExpungedRange(3, 5, 12),
        new MailboxEvents.FolderImported(new FolderSnapshot("INBOX", 1764320400, 10, 1, [new MailMessage(9, "n", 10, ["$Work"], 1, true)], null, true)),
        new MailboxCommands.Pop3Lock("bob@example.net", "session-1", false, 1200),
        new MailboxReplies.Pop3Locked("bob@example.net", true),
        new FolderSnapshot("Work", 1764320401, 8, 3, [new MailMessage(7, "n", 10, ["\\Seen"], 3, true, 812)], null, true, CacheRecords: 4),
        new MailboxEvents.StructuresCompacted("Work", [7, 9], [0, 812]),
        new CountChanged("login", "ip:192.0.2.7", 1),
        ReloadConfig.Instance,
        new ConfigReloaded("akka.tcp://engine@127.0.0.2:4053", false, "engine.conf: line 3, column 7: '}' with nothing open to close",
            ["engine.smtp.banner", "engine.smtp.listen"], ["engine.smtp.listen"]),
        new GetMaillog("01M8J85BV5SKQ2N8"),
        new MaillogFound("akka.tcp://engine@127.0.0.3:4053", [new MaillogLine(new DateTimeOffset(2026, 11, 29, 0, 1, 2, 345, TimeSpan.Zero),
            "01M8J85BV5SKQ2N8", "Engine.Smtp", "Information", "01M8J85BV5SKQ2N8: client=mail.client.test[127.0.0.6]")]),
        new GreylistCommands.Check(7, "192.0.2", "a@client.example", "jane@campus.example"),
        new GreylistCommands.CheckClient(3, "2001:db8:1:2"),
        new GreylistCommands.ClientPassed(3, "192.0.2"),
        new GreylistReplies.Answer(false, 299, "new"),
        new GreylistEvents.TripletSeen("192.0.2/a@client.example/jane@campus.example", new DateTimeOffset(2026, 11, 28, 9, 0, 0, TimeSpan.Zero)),
        new GreylistEvents.TripletPassed("192.0.2/a@client.example/jane@campus.example", new DateTimeOffset(2026, 11, 28, 9, 5, 0, TimeSpan.Zero)),
        new GreylistEvents.ClientCounted("192.0.2", new DateTimeOffset(2026, 11, 28, 9, 5, 0, TimeSpan.Zero)),
        new GreylistEvents.Expired(["192.0.2/<>/jane@campus.example"], ["198.51.100"]),
        new GreylistTriplet("k", new DateTimeOffset(2026, 11, 28, 9, 0, 0, TimeSpan.Zero), null, new DateTimeOffset(2026, 11, 28, 9, 0, 0, TimeSpan.Zero)),
        new GreylistClient("192.0.2", 5, new DateTimeOffset(2026, 11, 28, 9, 5, 0, TimeSpan.Zero)),
        new GreylistSnapshot([new GreylistTriplet("k", new DateTimeOffset(2026, 11, 28, 9, 0, 0, TimeSpan.Zero), new DateTimeOffset(2026, 11, 28, 9, 5, 0,
            TimeSpan.Zero), new DateTimeOffset(2026, 11, 28, 9, 5, 0, TimeSpan.Zero))], [new GreylistClient("192.0.2", 5, new DateTimeOffset(2026, 11, 28, 9, 5,
            0, TimeSpan.Zero))]),
    }.ToDictionary(o => o.GetType().FullName!);

    [Theory]
    [MemberData(nameof(Samples))]
    public void Serializer_should_round_trip(string typeName)
    {
        var sample = AllSamples()[typeName];
        var serializer = _system.Serialization.FindSerializerFor(sample);
        Assert.IsType<EngineSerializer>(serializer);
        var manifest = ((EngineSerializer)serializer).Manifest(sample);
        var bytes = serializer.ToBinary(sample);
        var back = _system.Serialization.Deserialize(bytes, serializer.Identifier, manifest);
        Assert.IsType(sample.GetType(), back);
        // Records with lists compare lists by reference, so compare what each writes.
        Assert.Equal(Encoding.UTF8.GetString(bytes), Encoding.UTF8.GetString(serializer.ToBinary(back)));
    }

    [Fact]
    public void Serializer_should_cover_every_engine_message()
    {
        var all = typeof(IEngineMessage).Assembly.GetTypes()
            .Where(t => typeof(IEngineMessage).IsAssignableFrom(t) && t is { IsInterface: false, IsAbstract: false });
        Assert.Equal(all.OrderBy(t => t.FullName), EngineSerializer.Types.OrderBy(t => t.FullName));
        Assert.Equal(EngineSerializer.Types.Count(), AllSamples().Count);
    }

    [Fact]
    public void Serializer_should_read_an_event_written_by_the_first_version()
    {
        // Stored by the first release; must stay readable for as long as journals may hold it.
        const string stored = """
            {"Id":"01M8GNQTR71X5XT3","Envelope":{"Sender":"a@b.example","Recipients":[{"Address":"c@d.example","Notify":"Unspecified"}],
            "Body":"SevenBit","SmtpUtf8":false,"Ret":"Unspecified","Client":{"Address":"127.0.0.1","Name":"unknown","Helo":"x","Protocol":"ESMTP"},
            "ArrivedAt":"2026-11-28T09:00:00+00:00","Size":10},"BlobRef":"3/01M8GNQTR71X5XT3","At":"2026-11-28T09:00:00+00:00"}
            """;
        var serializer = new EngineSerializer((ExtendedActorSystem)_system);
        var e = (QueueEvents.MessageQueued)serializer.FromBinary(Encoding.UTF8.GetBytes(stored), "qe.queued");
        Assert.Equal(Id, e.Id);
        Assert.Equal("c@d.example", Assert.Single(e.Envelope.Recipients).Address);
        Assert.Equal(10, e.Envelope.Size);
        Assert.Null(e.Envelope.EnvId);
    }

    [Fact]
    public void A_queue_event_that_does_not_decode_comes_back_unreadable_and_a_snapshot_that_does_not_throws()
    {
        var serializer = new EngineSerializer((ExtendedActorSystem)_system);
        const string damaged = "{\"Id\":\"01M8GNQTR71X5XT3\",\"Envelope\":{\"Sender\":\"a@b.example\",\"Recipients\":[[[,\"BlobRef\":\"seg/x/0/10\"";
        var bad = Assert.IsType<UnreadableEvent>(serializer.FromBinary(Encoding.UTF8.GetBytes(damaged), "qe.queued"));
        Assert.Equal("qe.queued", bad.Manifest);
        Assert.Equal("01M8GNQTR71X5XT3", UnreadableEvent.Field(bad.Text, "Id"));
        Assert.Equal("seg/x/0/10", UnreadableEvent.Field(bad.Text, "BlobRef"));
        Assert.Null(UnreadableEvent.Field(bad.Text, "Hold"));
        Assert.IsType<UnreadableEvent>(serializer.FromBinary([0xFF, 0x00, 0x7B], "qe.delivered"));
        Assert.ThrowsAny<Exception>(() => serializer.FromBinary(Encoding.UTF8.GetBytes("{\"Messages\":[[["), "qs.snapshot"));
        Assert.ThrowsAny<Exception>(() => serializer.FromBinary(Encoding.UTF8.GetBytes("{\"Key\":"), "me.appended"));
    }

    [Fact]
    public void Serializer_should_refuse_unknown_manifests()
    {
        var serializer = new EngineSerializer((ExtendedActorSystem)_system);
        Assert.ThrowsAny<Exception>(() => serializer.FromBinary("{}"u8.ToArray(), "no.such"));
    }

    public void Dispose() => _system.Terminate().Wait(TimeSpan.FromSeconds(10));
}
