namespace Engine.Messages.Cluster;

/// <summary>
/// A node's change to a count the cluster keeps together (failed logins, mail sent per user), published to
/// every node: <see cref="Count"/> events added to <see cref="Key"/> of <see cref="Table"/>, or (0) the key forgotten.
/// </summary>
public sealed record CountChanged(string Table, string Key, int Count) : IEngineMessage;
