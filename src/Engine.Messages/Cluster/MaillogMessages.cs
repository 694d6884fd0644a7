namespace Engine.Messages.Cluster;

/// <summary>One maillog line about a queued message, as a node logged it.</summary>
public sealed record MaillogLine(DateTimeOffset Time, string QueueId, string Category, string Level, string Text);

/// <summary>Asks a node for the lines it still keeps about <paramref name="QueueId"/> (enginectl log); it answers <see cref="MaillogFound"/>.</summary>
public sealed record GetMaillog(string QueueId) : IEngineMessage;

/// <summary>A node's lines about one message, oldest first.</summary>
public sealed record MaillogFound(string Node, IReadOnlyList<MaillogLine> Lines) : IEngineMessage;
