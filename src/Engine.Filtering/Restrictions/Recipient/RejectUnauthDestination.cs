using Engine.Primitives;

namespace Engine.Filtering.Restrictions.Recipient;

/// <summary>
/// reject_unauth_destination (554 5.7.1 Relay access denied) and permit_auth_destination: whether the
/// recipient's domain is one this node takes mail for (mydestination, a virtual domain, a relay domain). A
/// local part that names another host ("user%other", "other!user", a quoted "user@other") is never ours to
/// route, as Postfix's allow_untrusted_routing = no: such an address is relaying.
/// </summary>
public sealed class RejectUnauthDestination(bool permit) : IRestriction
{
    public string Name => permit ? "permit_auth_destination" : "reject_unauth_destination";

    public ValueTask<Verdict> CheckAsync(RestrictionCall call)
    {
        if (call.Facts.Recipient is not { } to)
            return new(Verdict.Dunno);
        var ours = !IsRouted(to) && call.Site.IsAuthorizedDestination(to.Domain);
        return new(permit ? ours ? Verdict.Permit : Verdict.Dunno
            : ours ? Verdict.Dunno : Verdict.Reject(new SmtpReply(554, "5.7.1", $"<{to}>: Relay access denied")));
    }

    public static bool IsRouted(EmailAddress to) => to.LocalPart.IndexOfAny(['%', '!', '@']) >= 0;
}
