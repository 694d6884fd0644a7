namespace Engine.Protocols.Pop3;

/// <summary>One message of a maildrop as POP3 shows it: its number in this session, unique id and size.</summary>
public sealed record Pop3Message(int Number, string UniqueId, long Size, long Uid);

/// <summary>
/// The maildrop of one POP3 session (RFC 1939 section 5): messages numbered from 1 when the session enters
/// the TRANSACTION state, marked deleted by DELE, unmarked by RSET, and removed only in the UPDATE state.
/// A pure value: the session asks it, the mailbox does the removing.
/// </summary>
public sealed class Pop3Maildrop(IReadOnlyList<Pop3Message> messages)
{
    private readonly HashSet<int> _deleted = [];

    /// <summary>Messages in the order of their numbers, deleted ones included.</summary>
    public IReadOnlyList<Pop3Message> All => messages;

    public IEnumerable<Pop3Message> Live => messages.Where(m => !_deleted.Contains(m.Number));

    public IEnumerable<long> DeletedUids => messages.Where(m => _deleted.Contains(m.Number)).Select(m => m.Uid);

    /// <summary>The live message of that number ("1", "2", ...), or null: no such message, or deleted.</summary>
    public Pop3Message? Find(string? number) =>
        int.TryParse(number, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var n)
        && n >= 1 && n <= messages.Count && !_deleted.Contains(n)
            ? messages[n - 1]
            : null;

    public bool Delete(Pop3Message message) => _deleted.Add(message.Number);

    public void Reset() => _deleted.Clear();
}
