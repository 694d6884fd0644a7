using Engine.Filtering.Access;

namespace Engine.Filtering.Content;

/// <summary>
/// Postfix's content inspection tables (regexp or pcre; exact and cidr tables make no sense here):
/// header_checks for the message's own headers, mime_header_checks for MIME headers (Content-*, MIME-Version) at
/// any level, nested_header_checks for the headers of attached messages, body_checks for body lines. The
/// MIME and nested tables default to header_checks, as in Postfix. Null: not checked.
/// </summary>
public sealed record ContentChecks(AccessTable? Headers, AccessTable? MimeHeaders, AccessTable? NestedHeaders, AccessTable? Body)
{
    public static readonly ContentChecks None = new(null, null, null, null);

    public bool Any => Headers is not null || MimeHeaders is not null || NestedHeaders is not null || Body is not null;
}
