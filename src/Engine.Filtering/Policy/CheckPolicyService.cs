using System.Globalization;
using System.Net.Sockets;
using Engine.Filtering.Access;
using Engine.Filtering.Restrictions;
using Engine.Primitives;

namespace Engine.Filtering.Policy;

/// <summary>
/// check_policy_service inet:host:port: asks an external policy server (Postgrey, policyd-spf, ...) with
/// Postfix's attributes and does what its "action=" says, as an access table's value (<see cref="AccessAction"/>).
/// A server that does not answer gets the client 451 4.3.5 Server configuration problem (Postfix's
/// smtpd_policy_service_default_action), so mail waits rather than passing unchecked.
/// </summary>
public sealed class CheckPolicyService(PolicyClient client, AccessAction actions) : IRestriction
{
    public string Name => "check_policy_service " + client.Spec;

    public async ValueTask<Verdict> CheckAsync(RestrictionCall call)
    {
        var (key, what) = call.Subject;
        IReadOnlyDictionary<string, string> answer;
        var name = call.Facts.Lookups is not null ? await call.ClientNameAsync().ConfigureAwait(false) : null;
        try
        {
            answer = await client.AskAsync(Request(call, name), call.Cancel).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or SocketException or FormatException or OperationCanceledException)
        {
            return Verdict.Reject(Replies.Rejected(451, "4.3.5", key, what, "Server configuration problem"));
        }
        return answer.TryGetValue("action", out var action) && action.Length > 0
            ? await actions.ApplyAsync(action, call, key, what).ConfigureAwait(false)
            : Verdict.Reject(Replies.Rejected(451, "4.3.5", key, what, "Server configuration problem"));
    }

    /// <summary>The attributes Postfix sends (those the engine knows).</summary>
    private static IEnumerable<KeyValuePair<string, string>> Request(RestrictionCall call, Dns.ClientName? name)
    {
        var facts = call.Facts;
        string State() => call.Stage switch
        {
            SmtpStage.Data => "DATA",
            SmtpStage.EndOfData => "END-OF-MESSAGE",
            _ => "RCPT",
        };
        return new Dictionary<string, string>
        {
            ["request"] = "smtpd_access_policy",
            ["protocol_state"] = State(),
            ["protocol_name"] = facts.Protocol,
            ["helo_name"] = facts.Helo ?? "",
            ["queue_id"] = "",
            ["sender"] = facts.Sender is { IsNull: false } sender ? sender.ToString() : "",
            ["recipient"] = facts.Recipient?.ToString() ?? "",
            ["recipient_count"] = "0",
            ["client_address"] = facts.ClientAddress.ToString(),
            ["client_name"] = name?.Verified ?? facts.ClientName,
            ["reverse_client_name"] = name?.Reverse ?? facts.ClientName,
            ["instance"] = facts.Instance,
            ["sasl_method"] = "",
            ["sasl_username"] = facts.SaslUser ?? "",
            ["sasl_sender"] = "",
            ["size"] = facts.Size.ToString(CultureInfo.InvariantCulture),
            ["server_address"] = "",
            ["server_port"] = "",
        };
    }
}
