using System.Net;
using Engine.Filtering.Restrictions;
using Engine.Primitives;

namespace Engine.Filtering.Dns;

/// <summary>A DNS list's question and answer: listed or not, and the TXT reason it gives.</summary>
public static class DnsList
{
    /// <summary>Whether <paramref name="query"/> has an A record that <paramref name="filter"/> counts (a failed lookup: not listed).</summary>
    public static async ValueTask<bool> IsListedAsync(RestrictionCall call, string query, ListFilter filter)
    {
        var answer = await (call.Facts.Lookups?.ListedAsync(query) ?? call.Site.Resolver.ListedAsync(query, call.Cancel)).ConfigureAwait(false);
        return answer.Status == DnsStatus.Found && answer.Records.Any(filter.Matches);
    }

    /// <summary>Postfix's default_rbl_reply: "554 5.7.1 Service unavailable; Client host [192.0.2.7] blocked using zen.example; reason".</summary>
    public static async ValueTask<SmtpReply> RejectionAsync(RestrictionCall call, string query, string what, string subject, string zone)
    {
        var txt = await (call.Facts.Lookups?.TxtAsync(query) ?? call.Site.Resolver.TxtAsync(query, call.Cancel)).ConfigureAwait(false);
        // Every TXT record, joined as Postfix joins them (" / "), at most 500 characters.
        var reason = txt.Status == DnsStatus.Found && txt.Records.Count > 0 ? "; " + Printable(string.Join(" / ", txt.Records)) : "";
        return new SmtpReply(554, "5.7.1", $"Service unavailable; {what} [{subject}] blocked using {zone}{reason}");
    }

    public static string ClientQuery(IPAddress address, string zone) => DnsLookup.ReverseName(address, zone, zone);

    /// <summary>A list's text as a reply may carry it: printable ASCII, at most 500 characters.</summary>
    private static string Printable(string text)
    {
        var clean = new string(text.Select(c => c is >= ' ' and <= '~' ? c : '?').ToArray());
        return clean.Length > 500 ? clean[..500] : clean;
    }
}
