using System.Collections.Frozen;
using System.Runtime.Serialization;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Akka.Actor;
using Akka.Serialization;
using Engine.Messages.Delivery;
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

    private static readonly (Type Type, string Manifest, JsonTypeInfo Info)[] Table =
    [
        (typeof(QueueCommands.Enqueue), "qc.enqueue", EngineJsonContext.Default.Enqueue),
        (typeof(QueueCommands.GetMessages), "qc.get-messages", EngineJsonContext.Default.GetMessages),
        (typeof(QueueReplies.Queued), "qr.queued", EngineJsonContext.Default.Queued),
        (typeof(QueueReplies.NotQueued), "qr.not-queued", EngineJsonContext.Default.NotQueued),
        (typeof(QueueReplies.MessagesResult), "qr.messages", EngineJsonContext.Default.MessagesResult),
        (typeof(QueueEvents.MessageQueued), "qe.queued", EngineJsonContext.Default.MessageQueued),
        (typeof(QueueSnapshot), "qs.snapshot", EngineJsonContext.Default.QueueSnapshot),
        (typeof(QueuedMessage), "q.message", EngineJsonContext.Default.QueuedMessage),
        (typeof(QueueEvents.RecipientDelivered), "qe.delivered", EngineJsonContext.Default.RecipientDelivered),
        (typeof(QueueEvents.MessageRemoved), "qe.removed", EngineJsonContext.Default.MessageRemoved),
        (typeof(QueueEvents.RecipientBounced), "qe.bounced", EngineJsonContext.Default.RecipientBounced),
        (typeof(QueueEvents.BounceQueued), "qe.bounce-queued", EngineJsonContext.Default.BounceQueued),
        (typeof(DestinationCommands.Send), "dc.send", EngineJsonContext.Default.Send),
        (typeof(DestinationReplies.Outcomes), "dr.outcomes", EngineJsonContext.Default.Outcomes),
        (typeof(RecipientReply), "d.reply", EngineJsonContext.Default.RecipientReply),
        (typeof(MailboxCommands.Deliver), "mc.deliver", EngineJsonContext.Default.Deliver),
        (typeof(MailboxReplies.Delivered), "mr.delivered", EngineJsonContext.Default.Delivered),
        (typeof(MailboxReplies.NotDelivered), "mr.not-delivered", EngineJsonContext.Default.NotDelivered),
        (typeof(MailboxEvents.DeliveryStarted), "me.started", EngineJsonContext.Default.DeliveryStarted),
        (typeof(MailboxEvents.MessageAppended), "me.appended", EngineJsonContext.Default.MessageAppended),
        (typeof(PendingDelivery), "m.pending", EngineJsonContext.Default.PendingDelivery),
        (typeof(MailboxSnapshot), "ms.snapshot", EngineJsonContext.Default.MailboxSnapshot),
    ];

    private static readonly FrozenDictionary<Type, (string Manifest, JsonTypeInfo Info)> ByType =
        Table.ToFrozenDictionary(t => t.Type, t => (t.Manifest, t.Info));

    private static readonly FrozenDictionary<string, JsonTypeInfo> ByManifest =
        Table.ToFrozenDictionary(t => t.Manifest, t => t.Info);

    /// <summary>Every type this serializer writes; a test checks that it covers every <see cref="IEngineMessage"/>.</summary>
    public static IEnumerable<Type> Types => Table.Select(t => t.Type);

    public override int Identifier => Id;

    public override string Manifest(object o) =>
        ByType.TryGetValue(o.GetType(), out var entry)
            ? entry.Manifest
            : throw new ArgumentException($"No manifest for {o.GetType()}: add it to {nameof(EngineSerializer)}");

    public override byte[] ToBinary(object obj) =>
        JsonSerializer.SerializeToUtf8Bytes(obj, ByType[obj.GetType()].Info);

    public override object FromBinary(byte[] bytes, string manifest) =>
        ByManifest.TryGetValue(manifest, out var info)
            ? JsonSerializer.Deserialize(bytes, info) ?? throw new SerializationException($"Null payload for {manifest}")
            : throw new SerializationException($"Unknown manifest '{manifest}'");
}

[JsonSourceGenerationOptions(
    UseStringEnumConverter = true,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    Converters = [typeof(QueueIdJsonConverter)])]
[JsonSerializable(typeof(QueueCommands.Enqueue))]
[JsonSerializable(typeof(QueueCommands.GetMessages))]
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
internal sealed partial class EngineJsonContext : JsonSerializerContext;

internal sealed class QueueIdJsonConverter : JsonConverter<QueueId>
{
    public override QueueId Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        QueueId.Parse(reader.GetString() ?? "");

    public override void Write(Utf8JsonWriter writer, QueueId value, JsonSerializerOptions options) =>
        writer.WriteStringValue(value.Value);
}
