using Akka.Event;
using Engine.Messages.Mailbox;
using Engine.Protocols.Imap;
using Engine.Storage.Maildir;

namespace Engine.Mailbox;

/// <summary>
/// The ENVELOPE and BODYSTRUCTURE of each message, parsed once when it arrives (delivery, APPEND, COPY, import)
/// and kept in its folder's <see cref="StructureFile"/>, whose offset the index keeps with the message: a FETCH
/// of them reads one record instead of parsing the message again. When most records are of expunged messages,
/// the file is rewritten and the new offsets journaled.
/// </summary>
public sealed partial class Mailbox
{
    /// <summary>Time to see whether a folder's structure file is worth compacting.</summary>
    private sealed record CompactStructures(string Folder);

    /// <summary>Appends a message's structure to its folder's file; its offset, or null when there is none to keep.</summary>
    private long? AppendStructure(string folder, long uid, StructureFile.Entry? entry)
    {
        if (entry is null)
            return null;
        try
        {
            return StructureFile.Append(_maildir.PathOf(_account, folder), uid, entry);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _log.Warning("{0}: cannot keep the structure of uid {1} in {2}: {3}", _account, uid, folder, e.Message);
            return null;
        }
    }

    /// <summary>
    /// Rewrites the folder's structure file with the records of its messages only, journals their new offsets, and
    /// only then puts the new file in place. Not while appended messages wait for their journal write (their events
    /// carry offsets in the old file).
    /// </summary>
    private void OnCompactStructures(CompactStructures compact)
    {
        if (_state.FolderOf(compact.Folder) is not { CacheWasteful: true } folder || _flushing || _batch.Count > 0)
            return;
        var path = _maildir.PathOf(_account, folder.Name);
        var live = folder.Messages.Values.Where(m => m.Cache is not null).Select(m => (m.Uid, m.Cache!.Value)).ToArray();
        IReadOnlyList<long?> offsets;
        try
        {
            offsets = StructureFile.Rewrite(path, live);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _log.Warning("{0}: cannot compact the structure file of {1}: {2}", _account, folder.Name, e.Message);
            return;
        }
        var kept = live.Select((m, i) => (m.Uid, Offset: offsets[i])).Where(k => k.Offset is not null).ToArray();
        var compacted = new MailboxEvents.StructuresCompacted(folder.Name == MailboxState.InboxName ? null : folder.Name,
            kept.Select(k => k.Uid).ToArray(), kept.Select(k => k.Offset!.Value).ToArray());
        Persist(compacted, e =>
        {
            try
            {
                StructureFile.Replace(path);
            }
            catch (Exception failure) when (failure is IOException or UnauthorizedAccessException)
            {
                _log.Warning("{0}: cannot put the compacted structure file of {1} in place: {2}", _account, folder.Name, failure.Message);
            }
            _state = _state.Apply(e);
            CountEvent();
        });
    }
}

/// <summary>A message's ENVELOPE, BODY and BODYSTRUCTURE, as <see cref="StructureFile"/> keeps them.</summary>
internal static class Structures
{
    public static StructureFile.Entry Of(MessageStructure structure) =>
        new(structure.Envelope(), structure.BodyStructure(false), structure.BodyStructure(true));

    /// <summary>Parses the message file at <paramref name="path"/>; null when there is none or it cannot be read.</summary>
    public static StructureFile.Entry? Parse(string? path, ILoggingAdapter log)
    {
        if (path is null)
            return null;
        byte[] octets;
        try
        {
            octets = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            log.Warning("cannot read {0} for its structure: {1}", path, e.Message);
            return null;
        }
        return Parse(octets, path, log);
    }

    /// <summary>Parses the octets of the message file at <paramref name="path"/>; null when they cannot be parsed.</summary>
    public static StructureFile.Entry? Parse(byte[] octets, string path, ILoggingAdapter log)
    {
        try
        {
            return Of(MessageStructure.Of(octets));
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            log.Warning("cannot parse {0} for its structure: {1}", path, e.Message);
            return null;
        }
    }
}
