using Engine.Primitives;

namespace Engine.Filtering.Restrictions.Client;

/// <summary>
/// reject_unknown_client_hostname: the client's address has no PTR name, or none that resolves back to it
/// (forward-confirmed reverse DNS), 450 4.7.25; reject_unknown_reverse_client_hostname: it has no PTR name at all,
/// 450 4.7.1. Both codes are Postfix's (a DNS failure is no proof either way, so the reply is a 4xx).
/// </summary>
public sealed class RejectUnknownClientHostname(bool reverseOnly) : IRestriction
{
    public string Name => reverseOnly ? "reject_unknown_reverse_client_hostname" : "reject_unknown_client_hostname";

    public async ValueTask<Verdict> CheckAsync(RestrictionCall call)
    {
        var address = call.Facts.ClientAddress;
        var name = await call.ClientNameAsync().ConfigureAwait(false);
        if (reverseOnly ? name.Reverse is not null : name.Verified != "unknown")
            return Verdict.Dunno;
        var text = reverseOnly ? "cannot find your reverse hostname" : "cannot find your hostname";
        return Verdict.Reject(new SmtpReply(450, reverseOnly ? "4.7.1" : "4.7.25", $"Client host rejected: {text}, [{address}]"));
    }
}
