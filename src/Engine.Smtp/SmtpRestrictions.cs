using Akka.Configuration;
using Engine.Filtering.Dns;
using Engine.Filtering.Restrictions;
using Engine.Filtering.Restrictions.Client;
using Engine.Storage.Accounts;

namespace Engine.Smtp;

/// <summary>The restriction lists of engine.smtp.restrictions, with the classes of engine.smtp.restriction-classes.</summary>
public static class SmtpRestrictions
{
    private static readonly (SmtpStage Stage, string Key)[] Stages =
        [(SmtpStage.Client, "client"), (SmtpStage.Helo, "helo"), (SmtpStage.Sender, "sender"), (SmtpStage.Recipient, "recipient")];

    public static Restrictions Create(Config config, SmtpSettings settings, IRecipientDirectory directory, DnsLookup? dns)
    {
        var classes = new Dictionary<string, IReadOnlyList<string>>(StringComparer.OrdinalIgnoreCase);
        if (config.GetValue("engine.smtp.restriction-classes") is { IsEmpty: false } value)
        {
            foreach (var (name, entries) in value.GetObject().Items)
                classes[name] = entries.GetArray().Select(e => e.GetString()).ToArray();
        }
        IReadOnlyList<ScoredList> scored;
        try
        {
            scored = config.GetStringList("engine.smtp.dnsbl.sites", []).Select(ScoredList.Parse).ToArray();
        }
        catch (FormatException e)
        {
            throw new ConfigurationException($"engine.smtp.dnsbl.sites: {e.Message}");
        }
        var factory = new RestrictionFactory(classes, scored, config.GetInt("engine.smtp.dnsbl.threshold", 1));
        var lists = new Dictionary<SmtpStage, RestrictionList>();
        foreach (var (stage, key) in Stages)
        {
            var path = $"engine.smtp.restrictions.{key}";
            var entries = config.GetStringList(path, stage == SmtpStage.Recipient ? [.. DefaultRecipient] : []);
            try
            {
                lists[stage] = factory.Parse(key, entries);
            }
            catch (FormatException e)
            {
                throw new ConfigurationException($"{path}: {e.Message}");
            }
        }
        var site = new Site(settings.Hostname, settings.IsMyNetwork, settings.IsLocalDomain, directory, dns);
        return new Restrictions(site, lists, config.GetBoolean("engine.smtp.reject-unlisted-recipient", true), factory.ClientZones, factory.NeedsClientName);
    }

    /// <summary>No relaying but for mynetworks and SMTP AUTH (Postfix's smtpd_relay_restrictions, with reject for defer).</summary>
    public static readonly IReadOnlyList<string> DefaultRecipient = ["permit_mynetworks", "permit_sasl_authenticated", "reject_unauth_destination"];
}
