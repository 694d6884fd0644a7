using System.Security.Cryptography;

namespace Engine.Primitives;

/// <summary>
/// A queue id, as Postfix's long queue ids: 16 characters of Crockford base32, the first 10 from the
/// arrival time in milliseconds (so ids sort by age) and the last 6 (30 bits) random for the first id of a
/// millisecond and counting up from there for the next ones of that millisecond in this process (<see cref="New()"/>),
/// so that one node never makes the same id twice (with 30 random bits alone, two ids met about once in four days at 3,000
/// messages a second). Two nodes can still draw the same id; the queue partition tells that from a repeat by the
/// body. It names the message in every log line, in the <c>Received:</c> header and in the "250 Ok: queued as" reply.
/// </summary>
public readonly record struct QueueId
{
    /// <summary>Crockford's base32 digits, the characters an id is made of.</summary>
    public const string Alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    public const int Length = 16;

    public string Value { get; }

    private QueueId(string value) => Value = value;

    /// <summary>
    /// A new id, greater than every id this process made before: the clock's millisecond (never behind the last id's)
    /// and 30 bits drawn at random for a millisecond's first id, then counting up for its next ones.
    /// </summary>
    public static QueueId New()
    {
        ulong millis;
        uint tail;
        lock (Gate)
        {
            millis = Math.Max((ulong)DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), _lastMillis);
            if (millis == _lastMillis && _lastTail + 1 < TailLimit)
                tail = _lastTail + 1;
            else
            {
                if (millis == _lastMillis)
                    millis++; // 2^29 ids in one millisecond: on into the next
                tail = RandomTail();
            }
            (_lastMillis, _lastTail) = (millis, tail);
        }
        return Make(millis, tail);
    }

    /// <summary>An id of the given time with a random tail (tests, tools): unique as random bits are, not more.</summary>
    public static QueueId New(DateTimeOffset now) => Make((ulong)now.ToUnixTimeMilliseconds(), RandomTail());

    private const uint TailLimit = 1u << 30;
    private static readonly Lock Gate = new();
    private static ulong _lastMillis;
    private static uint _lastTail;

    // Below 2^29: room to count up within the millisecond.
    private static uint RandomTail() => (uint)RandomNumberGenerator.GetInt32((int)(TailLimit / 2));

    private static QueueId Make(ulong millis, uint tail)
    {
        Span<char> chars = stackalloc char[Length];
        for (var i = 9; i >= 0; i--)
        {
            chars[i] = Alphabet[(int)(millis & 31)];
            millis >>= 5;
        }
        for (var i = 15; i >= 10; i--)
        {
            chars[i] = Alphabet[(int)(tail & 31)];
            tail >>= 5;
        }
        return new QueueId(new string(chars));
    }

    /// <summary>When the id was made (its first ten characters), to the millisecond.</summary>
    public DateTimeOffset Time
    {
        get
        {
            ulong millis = 0;
            for (var i = 0; i < 10; i++)
                millis = (millis << 5) | (uint)Alphabet.IndexOf(Value[i], StringComparison.Ordinal);
            return DateTimeOffset.FromUnixTimeMilliseconds((long)millis);
        }
    }

    public static bool TryParse(string? text, out QueueId id)
    {
        id = default;
        if (text is null || text.Length != Length)
            return false;
        foreach (var c in text)
        {
            if (!Alphabet.Contains(c))
                return false;
        }
        id = new QueueId(text);
        return true;
    }

    public static QueueId Parse(string text) =>
        TryParse(text, out var id) ? id : throw new FormatException($"Not a queue id: '{text}'");

    /// <summary>The partition that owns this id: a stable FNV-1a hash, the same on every node and run.</summary>
    public int Partition(int partitions) => StableHash.Bucket(Value, partitions);

    public override string ToString() => Value;
}
