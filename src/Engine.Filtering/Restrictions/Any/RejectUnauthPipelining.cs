namespace Engine.Filtering.Restrictions.Any;

/// <summary>
/// reject_unauth_pipelining: the client sent commands ahead of replies it had to wait for (behind EHLO,
/// HELO, DATA, VRFY, NOOP or QUIT, which end a group in RFC 2920 section 3.1, or at all without EHLO): the
/// mark of a spam engine that talks without listening. 503 5.5.0, named after the running stage; Postfix's
/// place for it is the data list, where the text sent behind DATA shows too.
/// </summary>
public sealed class RejectUnauthPipelining : IRestriction
{
    public string Name => "reject_unauth_pipelining";

    public ValueTask<Verdict> CheckAsync(RestrictionCall call) => new(call.Facts.PipelinedEarly
        ? Verdict.Reject(call.Rejected(503, "5.5.0", "Improper use of SMTP command pipelining"))
        : Verdict.Dunno);
}
