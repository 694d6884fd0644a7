using System.Diagnostics.Metrics;

namespace Engine.Smtp;

/// <summary>
/// The SMTP service's measurements (System.Diagnostics.Metrics; the admin API serves them to Prometheus):
/// connections, commands, messages accepted, and refusals by stage and enhanced status code.
/// </summary>
public static class SmtpMetrics
{
    public const string MeterName = "Engine.Smtp";

    private static readonly Meter Meter = new(MeterName);

    private static readonly Counter<long> Connections = Meter.CreateCounter<long>("engine.smtp.connections", "{connection}",
        "SMTP connections, by service (mx, submission) and result (accepted, refused over a limit)");

    private static readonly Counter<long> Commands = Meter.CreateCounter<long>("engine.smtp.commands", "{command}",
        "SMTP commands, by verb and result (ok, error)");

    private static readonly Counter<long> Accepted = Meter.CreateCounter<long>("engine.smtp.messages.accepted", "{message}",
        "Messages queued after 250");

    private static readonly Counter<long> Recipients = Meter.CreateCounter<long>("engine.smtp.recipients.accepted", "{recipient}",
        "Recipients of the messages queued");

    private static readonly Counter<long> Rejected = Meter.CreateCounter<long>("engine.smtp.rejects", "{reject}",
        "Refusals by stage (MAIL, RCPT, DATA, END-OF-MESSAGE) and reason (the reply's code and enhanced status)");

    public static void Connection(string service, bool accepted) =>
        Connections.Add(1, new("service", service), new("result", accepted ? "accepted" : "refused"));

    public static void Command(string verb, bool ok) => Commands.Add(1, new("verb", verb), new("result", ok ? "ok" : "error"));

    public static void Queued(int recipients)
    {
        Accepted.Add(1);
        Recipients.Add(recipients);
    }

    public static void Reject(string stage, Engine.Primitives.SmtpReply reply) =>
        Rejected.Add(1, new("stage", stage), new("reason", reply.Enhanced is { } enhanced ? $"{reply.Code} {enhanced}" : reply.Code.ToString(System.Globalization.CultureInfo.InvariantCulture)));
}
