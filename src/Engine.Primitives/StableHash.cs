namespace Engine.Primitives;

/// <summary>FNV-1a over a string's UTF-16 code units: the same on every node and every run (string.GetHashCode is not).</summary>
public static class StableHash
{
    public static uint Of(string text)
    {
        var hash = 2166136261u;
        foreach (var c in text)
        {
            hash ^= c;
            hash *= 16777619u;
        }
        return hash;
    }

    /// <summary>Which of <paramref name="buckets"/> a text belongs to.</summary>
    public static int Bucket(string text, int buckets) => (int)(Of(text) % (uint)buckets);
}
