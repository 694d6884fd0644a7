using System.IO.Pipelines;

namespace Engine.Mailbox.Access;

/// <summary>A session's read with its idle limit: what arrived, or why nothing will.</summary>
internal static class IdleRead
{
    /// <summary>The next read; null with the reason when the client was silent for <paramref name="idle"/> or the server is stopping.</summary>
    public static async Task<(ReadResult? Result, string Why)> ReadAsync(PipeReader input, TimeSpan idle, CancellationToken stop)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stop);
        timeout.CancelAfter(idle);
        try
        {
            return (await input.ReadAsync(timeout.Token).ConfigureAwait(false), "");
        }
        catch (OperationCanceledException)
        {
            return (null, stop.IsCancellationRequested ? "Server shutting down" : "Disconnected for inactivity");
        }
    }
}
