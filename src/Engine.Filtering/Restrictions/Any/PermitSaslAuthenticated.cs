namespace Engine.Filtering.Restrictions.Any;

/// <summary>permit_sasl_authenticated: the client logged in with SMTP AUTH.</summary>
public sealed class PermitSaslAuthenticated : IRestriction
{
    public string Name => "permit_sasl_authenticated";

    public ValueTask<Verdict> CheckAsync(RestrictionCall call) => new(call.Facts.SaslUser is not null ? Verdict.Permit : Verdict.Dunno);
}
