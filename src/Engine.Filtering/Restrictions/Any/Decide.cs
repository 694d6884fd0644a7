namespace Engine.Filtering.Restrictions.Any;

/// <summary>permit: ends the list, allowed.</summary>
public sealed class Permit : IRestriction
{
    public string Name => "permit";

    public ValueTask<Verdict> CheckAsync(RestrictionCall call) => new(Verdict.Permit);
}

/// <summary>reject (554 5.7.1 Access denied) and defer (450 4.3.2 Try again later), named after the running stage as Postfix names it.</summary>
public sealed class Refuse(string name, int code, string enhanced, string text) : IRestriction
{
    public string Name => name;

    public ValueTask<Verdict> CheckAsync(RestrictionCall call) => new(Verdict.Reject(call.Rejected(code, enhanced, text)));
}
