namespace Engine.Messages;

/// <summary>
/// Marks every type that is persisted or crosses the cluster. All of them are bound to
/// <see cref="Serialization.EngineSerializer"/>; none may fall back to a default serializer.
/// </summary>
public interface IEngineMessage;
