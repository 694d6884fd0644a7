using System.Collections.Frozen;
using System.Runtime.Serialization;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Akka.Actor;
using Akka.Serialization;
using Engine.Messages.Cluster;
using Engine.Messages.Delivery;
using Engine.Messages.Greylist;
using Engine.Messages.Mailbox;
using Engine.Messages.Queue;
using Engine.Primitives;

namespace Engine.Messages.Serialization;

/// <summary>
/// The one serializer for persisted events, snapshots and cluster messages: UTF-8 JSON written by
/// source-generated code (no CLR type names in the data), named by short manifests that never change.
/// JSON lets an event gain optional fields and still read what older versions wrote. A manifest, once
/// used, is never reused for another type.
/// </summary>
public sealed class EngineSerializer(ExtendedActorSystem system) : SerializerWithStringManifest(system)
{
    public const int Id = 7425;

    // Type and manifest; the writer is the source-generated one of EngineJsonContext (which lists the same types).
    private static readonly (Type Type, string Manifest)[] Table =
    [
        (typeof(QueueCommands.Enqueue), "qc.enqueue"),
        (typeof(QueueCommands.GetMessages), "qc.get-messages"),
        (typeof(QueueReplies.Queued), "qr.queued"),
        (typeof(QueueReplies.NotQueued), "qr.not-queued"),
        (typeof(QueueReplies.MessagesResult), "qr.messages"),
        (typeof(QueueEvents.MessageQueued), "qe.queued"),
        (typeof(QueueSnapshot), "qs.snapshot"),
        (typeof(QueuedMessage), "q.message"),
        (typeof(QueueEvents.RecipientDelivered), "qe.delivered"),
        (typeof(QueueEvents.MessageRemoved), "qe.removed"),
        (typeof(QueueEvents.RecipientBounced), "qe.bounced"),
        (typeof(QueueEvents.BounceQueued), "qe.bounce-queued"),
        (typeof(QueueEvents.SuccessReported), "qe.success-reported"),
        (typeof(QueueEvents.MessageDeferred), "qe.deferred"),
        (typeof(QueueEvents.DelayWarned), "qe.delay-warned"),
        (typeof(QueueEvents.MessageHeld), "qe.held"),
        (typeof(QueueEvents.MessageReleased), "qe.released"),
        (typeof(QueueEvents.MessageCorrupt), "qe.corrupt"),
        (typeof(QueueCommands.Hold), "qc.hold"),
        (typeof(QueueCommands.Release), "qc.release"),
        (typeof(QueueCommands.Flush), "qc.flush"),
        (typeof(QueueCommands.Delete), "qc.delete"),
        (typeof(QueueCommands.Requeue), "qc.requeue"),
        (typeof(QueueEvents.MessageRequeued), "qe.requeued"),
        (typeof(QueueReplies.Changed), "qr.changed"),
        (typeof(QueueCommands.FindBodies), "qc.find-bodies"),
        (typeof(QueueReplies.BodiesInUse), "qr.bodies-in-use"),
        (typeof(SpooledBody), "q.spooled-body"),
        (typeof(DestinationCommands.Send), "dc.send"),
        (typeof(DestinationReplies.Outcomes), "dr.outcomes"),
        (typeof(RecipientReply), "d.reply"),
        (typeof(MailboxCommands.Deliver), "mc.deliver"),
        (typeof(MailboxReplies.Delivered), "mr.delivered"),
        (typeof(MailboxReplies.NotDelivered), "mr.not-delivered"),
        (typeof(MailboxEvents.DeliveryStarted), "me.started"),
        (typeof(MailboxEvents.MessageAppended), "me.appended"),
        (typeof(PendingDelivery), "m.pending"),
        (typeof(MailboxSnapshot), "ms.snapshot"),
        (typeof(MailboxCommands.List), "mc.list"),
        (typeof(MailboxCommands.Expunge), "mc.expunge"),
        (typeof(MailboxReplies.Listing), "mr.listing"),
        (typeof(MailboxReplies.Expunged), "mr.expunged"),
        (typeof(MailMessage), "m.message"),
        (typeof(MailboxEvents.MessagesExpunged), "me.expunged"),
        (typeof(MailboxEvents.MailboxCreated), "me.created"),
        (typeof(MailboxEvents.FlagsChanged), "me.flags"),
        (typeof(MailboxCommands.Watch), "mc.watch"),
        (typeof(MailboxCommands.Unwatch), "mc.unwatch"),
        (typeof(MailboxCommands.Store), "mc.store"),
        (typeof(MailboxReplies.Stored), "mr.stored"),
        (typeof(MailboxReplies.Changed), "mr.changed"),
        (typeof(MailboxReplies.WatchAgain), "mr.watch-again"),
        (typeof(FlagsOf), "m.flags-of"),
        (typeof(MailboxCommands.Folders), "mc.folders"),
        (typeof(MailboxCommands.CreateFolder), "mc.create"),
        (typeof(MailboxCommands.DeleteFolder), "mc.delete"),
        (typeof(MailboxCommands.RenameFolder), "mc.rename"),
        (typeof(MailboxCommands.Subscribe), "mc.subscribe"),
        (typeof(MailboxCommands.Append), "mc.append"),
        (typeof(MailboxCommands.Copy), "mc.copy"),
        (typeof(MailboxReplies.FolderList), "mr.folders"),
        (typeof(MailboxReplies.FolderDone), "mr.folder-done"),
        (typeof(MailboxReplies.Appended), "mr.appended"),
        (typeof(MailboxReplies.Copied), "mr.copied"),
        (typeof(FolderInfo), "m.folder"),
        (typeof(MailboxEvents.FolderCreated), "me.folder-created"),
        (typeof(MailboxEvents.FolderDeleted), "me.folder-deleted"),
        (typeof(MailboxEvents.FolderRenamed), "me.folder-renamed"),
        (typeof(MailboxEvents.FolderSubscribed), "me.folder-subscribed"),
        (typeof(MailboxEvents.MessagesCopied), "me.copied"),
        (typeof(CopiedMessage), "m.copied"),
        (typeof(FolderSnapshot), "ms.folder"),
        (typeof(MailboxCommands.Import), "mc.import"),
        (typeof(ExpungedRange), "m.expunged-range"),
        (typeof(MailboxCommands.Pop3Lock), "mc.pop3-lock"),
        (typeof(MailboxReplies.Pop3Locked), "mr.pop3-locked"),
        (typeof(MailboxEvents.FolderImported), "me.folder-imported"),
        (typeof(MailboxEvents.StructuresCompacted), "me.structures-compacted"),
        (typeof(CountChanged), "cc.count"),
        (typeof(ReloadConfig), "cc.reload"),
        (typeof(ConfigReloaded), "cc.reloaded"),
        (typeof(GetMaillog), "cc.get-maillog"),
        (typeof(MaillogFound), "cc.maillog"),
        (typeof(GreylistCommands.Check), "gc.check"),
        (typeof(GreylistCommands.CheckClient), "gc.check-client"),
        (typeof(GreylistCommands.ClientPassed), "gc.client-passed"),
        (typeof(GreylistReplies.Answer), "gr.answer"),
        (typeof(GreylistEvents.TripletSeen), "ge.seen"),
        (typeof(GreylistEvents.TripletPassed), "ge.passed"),
        (typeof(GreylistEvents.ClientCounted), "ge.client-counted"),
        (typeof(GreylistEvents.Expired), "ge.expired"),
        (typeof(GreylistTriplet), "g.triplet"),
        (typeof(GreylistClient), "g.client"),
        (typeof(GreylistSnapshot), "gs.snapshot"),
    ];

    private static readonly FrozenDictionary<Type, (string Manifest, JsonTypeInfo Info)> ByType =
        Table.ToFrozenDictionary(t => t.Type, t => (t.Manifest, Info(t.Type)));

    private static readonly FrozenDictionary<string, JsonTypeInfo> ByManifest =
        Table.ToFrozenDictionary(t => t.Manifest, t => Info(t.Type));

    private static JsonTypeInfo Info(Type type) =>
        EngineJsonContext.Default.GetTypeInfo(type)
        ?? throw new InvalidOperationException($"{type} has a manifest but no [JsonSerializable] entry in EngineJsonContext");

    /// <summary>Every type this serializer writes; a test checks that it covers every <see cref="IEngineMessage"/>.</summary>
    public static IEnumerable<Type> Types => Table.Select(t => t.Type);

    public override int Identifier => Id;

    public override string Manifest(object o) =>
        ByType.TryGetValue(o.GetType(), out var entry)
            ? entry.Manifest
            : throw new ArgumentException($"No manifest for {o.GetType()}: add it to {nameof(EngineSerializer)}");

    public override byte[] ToBinary(object obj) =>
        JsonSerializer.SerializeToUtf8Bytes(obj, ByType[obj.GetType()].Info);

    /// <summary>
    /// The message or event the bytes hold. A queue event (manifest "qe.*") that does not decode comes back as an
    /// <see cref="UnreadableEvent"/>, for the partition's recovery to skip (one damaged row must not stop every
    /// message of the partition); anything else that does not decode (a snapshot, a message between nodes) throws.
    /// </summary>
    public override object FromBinary(byte[] bytes, string manifest)
    {
        if (!ByManifest.TryGetValue(manifest, out var info))
            throw new SerializationException($"Unknown manifest '{manifest}'");
        try
        {
            return JsonSerializer.Deserialize(bytes, info) ?? throw new SerializationException($"Null payload for {manifest}");
        }
        catch (Exception e) when (manifest.StartsWith("qe.", StringComparison.Ordinal) && e is JsonException or SerializationException
                                      or NotSupportedException or InvalidOperationException or FormatException or ArgumentException)
        {
            var text = System.Text.Encoding.UTF8.GetString(bytes, 0, Math.Min(bytes.Length, 64 * 1024));
            return new UnreadableEvent(manifest, e.Message, text);
        }
    }
}

[JsonSourceGenerationOptions(
    UseStringEnumConverter = true,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    Converters = [typeof(QueueIdJsonConverter)])]
[JsonSerializable(typeof(QueueCommands.Enqueue))]
[JsonSerializable(typeof(ReloadConfig))]
[JsonSerializable(typeof(ConfigReloaded))]
[JsonSerializable(typeof(GetMaillog))]
[JsonSerializable(typeof(MaillogFound))]
[JsonSerializable(typeof(QueueCommands.GetMessages))]
[JsonSerializable(typeof(QueueCommands.Delete))]
[JsonSerializable(typeof(QueueCommands.Requeue))]
[JsonSerializable(typeof(QueueEvents.MessageRequeued))]
[JsonSerializable(typeof(QueueReplies.Queued))]
[JsonSerializable(typeof(QueueReplies.NotQueued))]
[JsonSerializable(typeof(QueueReplies.MessagesResult))]
[JsonSerializable(typeof(QueueEvents.MessageQueued))]
[JsonSerializable(typeof(QueueSnapshot))]
[JsonSerializable(typeof(QueuedMessage))]
[JsonSerializable(typeof(QueueEvents.RecipientDelivered))]
[JsonSerializable(typeof(QueueEvents.MessageRemoved))]
[JsonSerializable(typeof(QueueEvents.RecipientBounced))]
[JsonSerializable(typeof(QueueEvents.BounceQueued))]
[JsonSerializable(typeof(QueueEvents.SuccessReported))]
[JsonSerializable(typeof(QueueEvents.MessageDeferred))]
[JsonSerializable(typeof(QueueEvents.DelayWarned))]
[JsonSerializable(typeof(QueueEvents.MessageHeld))]
[JsonSerializable(typeof(QueueEvents.MessageReleased))]
[JsonSerializable(typeof(QueueEvents.MessageCorrupt))]
[JsonSerializable(typeof(QueueCommands.Hold))]
[JsonSerializable(typeof(QueueCommands.Release))]
[JsonSerializable(typeof(QueueCommands.Flush))]
[JsonSerializable(typeof(QueueReplies.Changed))]
[JsonSerializable(typeof(QueueCommands.FindBodies))]
[JsonSerializable(typeof(QueueReplies.BodiesInUse))]
[JsonSerializable(typeof(SpooledBody))]
[JsonSerializable(typeof(DestinationCommands.Send))]
[JsonSerializable(typeof(DestinationReplies.Outcomes))]
[JsonSerializable(typeof(RecipientReply))]
[JsonSerializable(typeof(MailboxCommands.Deliver))]
[JsonSerializable(typeof(MailboxReplies.Delivered))]
[JsonSerializable(typeof(MailboxReplies.NotDelivered))]
[JsonSerializable(typeof(MailboxEvents.DeliveryStarted))]
[JsonSerializable(typeof(MailboxEvents.MessageAppended))]
[JsonSerializable(typeof(PendingDelivery))]
[JsonSerializable(typeof(MailboxSnapshot))]
[JsonSerializable(typeof(MailboxCommands.List))]
[JsonSerializable(typeof(MailboxCommands.Expunge))]
[JsonSerializable(typeof(MailboxReplies.Listing))]
[JsonSerializable(typeof(MailboxReplies.Expunged))]
[JsonSerializable(typeof(MailMessage))]
[JsonSerializable(typeof(MailboxEvents.MessagesExpunged))]
[JsonSerializable(typeof(MailboxEvents.MailboxCreated))]
[JsonSerializable(typeof(MailboxEvents.FlagsChanged))]
[JsonSerializable(typeof(MailboxCommands.Watch))]
[JsonSerializable(typeof(MailboxCommands.Unwatch))]
[JsonSerializable(typeof(MailboxCommands.Store))]
[JsonSerializable(typeof(MailboxReplies.Stored))]
[JsonSerializable(typeof(MailboxReplies.Changed), TypeInfoPropertyName = "MailboxChanged")]
[JsonSerializable(typeof(MailboxReplies.WatchAgain))]
[JsonSerializable(typeof(FlagsOf))]
[JsonSerializable(typeof(MailboxCommands.Folders))]
[JsonSerializable(typeof(MailboxCommands.CreateFolder))]
[JsonSerializable(typeof(MailboxCommands.DeleteFolder))]
[JsonSerializable(typeof(MailboxCommands.RenameFolder))]
[JsonSerializable(typeof(MailboxCommands.Subscribe))]
[JsonSerializable(typeof(MailboxCommands.Append))]
[JsonSerializable(typeof(MailboxCommands.Copy))]
[JsonSerializable(typeof(MailboxReplies.FolderList))]
[JsonSerializable(typeof(MailboxReplies.FolderDone))]
[JsonSerializable(typeof(MailboxReplies.Appended))]
[JsonSerializable(typeof(MailboxReplies.Copied))]
[JsonSerializable(typeof(FolderInfo))]
[JsonSerializable(typeof(MailboxEvents.FolderCreated))]
[JsonSerializable(typeof(MailboxEvents.FolderDeleted))]
[JsonSerializable(typeof(MailboxEvents.FolderRenamed))]
[JsonSerializable(typeof(MailboxEvents.FolderSubscribed))]
[JsonSerializable(typeof(MailboxEvents.MessagesCopied))]
[JsonSerializable(typeof(CopiedMessage))]
[JsonSerializable(typeof(FolderSnapshot))]
[JsonSerializable(typeof(MailboxCommands.Import))]
[JsonSerializable(typeof(ExpungedRange))]
[JsonSerializable(typeof(MailboxCommands.Pop3Lock))]
[JsonSerializable(typeof(MailboxReplies.Pop3Locked))]
[JsonSerializable(typeof(MailboxEvents.FolderImported))]
[JsonSerializable(typeof(GreylistCommands.Check))]
[JsonSerializable(typeof(GreylistCommands.CheckClient))]
[JsonSerializable(typeof(GreylistCommands.ClientPassed))]
[JsonSerializable(typeof(GreylistReplies.Answer), TypeInfoPropertyName = "GreylistAnswer")]
[JsonSerializable(typeof(GreylistEvents.TripletSeen))]
[JsonSerializable(typeof(GreylistEvents.TripletPassed))]
[JsonSerializable(typeof(GreylistEvents.ClientCounted))]
[JsonSerializable(typeof(GreylistEvents.Expired))]
[JsonSerializable(typeof(GreylistTriplet))]
[JsonSerializable(typeof(GreylistClient))]
[JsonSerializable(typeof(GreylistSnapshot))]
[JsonSerializable(typeof(CountChanged))]
[JsonSerializable(typeof(MailboxEvents.StructuresCompacted))]
internal sealed partial class EngineJsonContext : JsonSerializerContext;

internal sealed class QueueIdJsonConverter : JsonConverter<QueueId>
{
    public override QueueId Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        QueueId.Parse(reader.GetString() ?? "");

    public override void Write(Utf8JsonWriter writer, QueueId value, JsonSerializerOptions options) =>
        writer.WriteStringValue(value.Value);
}
