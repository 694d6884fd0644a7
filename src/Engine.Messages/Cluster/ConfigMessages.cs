namespace Engine.Messages.Cluster;

/// <summary>Asks a node to read its configuration file again (enginectl config reload); it answers <see cref="ConfigReloaded"/>.</summary>
public sealed record ReloadConfig : IEngineMessage
{
    public static readonly ReloadConfig Instance = new();
}

/// <summary>
/// What a node did with a reload: <paramref name="Applied"/>, or refused with <paramref name="Error"/> (the file and line,
/// and the reason) while the running configuration stays; the settings that changed, and those of them that only a
/// restart applies (listen addresses, the data directory, the cluster, ...).
/// </summary>
public sealed record ConfigReloaded(string Node, bool Applied, string? Error, IReadOnlyList<string> Changed, IReadOnlyList<string> NeedRestart)
    : IEngineMessage;
