using Engine.Primitives;

namespace Engine.Storage.Blobs;

/// <summary>
/// Where message bodies live (the spool). Bodies never enter the journal: the queue keeps a reference.
/// </summary>
public interface IBlobStore
{
    /// <summary>Starts a new body for <paramref name="id"/>. Nothing is durable before <see cref="IBlobWriter.CommitAsync"/>.</summary>
    IBlobWriter Create(QueueId id);

    Stream OpenRead(string blobRef);

    /// <summary>
    /// The body's length in octets, as <see cref="OpenRead"/> would give it, at the least cost the store allows (a
    /// segment's reference carries it). An <see cref="IOException"/> when the body is known to be gone.
    /// </summary>
    long Length(string blobRef);

    bool Exists(string blobRef);

    void Delete(string blobRef);
}

public interface IBlobWriter : IAsyncDisposable
{
    /// <summary>The reference the queue keeps.</summary>
    string Ref { get; }

    ValueTask WriteAsync(ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken = default);

    /// <summary>Makes the body durable: flushed, fsynced, and its directory entry fsynced.</summary>
    Task CommitAsync(CancellationToken cancellationToken = default);

    /// <summary>Throws the body away (a rejected or aborted message).</summary>
    void Abort();
}
