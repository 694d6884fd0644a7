using Engine.Primitives;

namespace Engine.Storage.Blobs;

/// <summary>
/// A spool that lists its bodies for the sweep, which deletes those no queued message refers to (left by a crash
/// between a body's commit and its queue entry, or by a queue write that failed).
/// </summary>
public interface ISweptBlobStore
{
    /// <summary>The bodies not deleted that were written for a queue id made before <paramref name="before"/>.</summary>
    IReadOnlyList<(QueueId Id, string Ref)> Bodies(DateTimeOffset before);
}
