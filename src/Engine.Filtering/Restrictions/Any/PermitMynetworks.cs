namespace Engine.Filtering.Restrictions.Any;

/// <summary>permit_mynetworks: the client's address is in mynetworks.</summary>
public sealed class PermitMynetworks : IRestriction
{
    public string Name => "permit_mynetworks";

    public ValueTask<Verdict> CheckAsync(RestrictionCall call) =>
        new(call.Site.IsMyNetwork(call.Facts.ClientAddress) ? Verdict.Permit : Verdict.Dunno);
}
