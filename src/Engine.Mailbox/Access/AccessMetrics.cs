using System.Diagnostics.Metrics;

namespace Engine.Mailbox.Access;

/// <summary>The mailbox services' measurements: IMAP and POP3 sessions open on this node.</summary>
public static class AccessMetrics
{
    public const string MeterName = "Engine.Mailbox";

    private static readonly Meter Meter = new(MeterName);

    private static readonly UpDownCounter<long> Sessions = Meter.CreateUpDownCounter<long>("engine.mailbox.sessions", "{session}",
        "IMAP and POP3 sessions open, by protocol");

    public static void Opened(string protocol) => Sessions.Add(1, new KeyValuePair<string, object?>("protocol", protocol));

    public static void Closed(string protocol) => Sessions.Add(-1, new KeyValuePair<string, object?>("protocol", protocol));
}
