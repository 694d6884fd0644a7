using Akka.Configuration;
using Engine.Filtering.Access;
using Engine.Filtering.Content;
using Engine.Filtering.Dns;
using Engine.Filtering.Greylist;
using Engine.Filtering.Restrictions;
using Engine.Filtering.Restrictions.Client;
using Engine.Storage.Accounts;

namespace Engine.Smtp;

/// <summary>The restriction lists of engine.smtp.restrictions, with the classes of engine.smtp.restriction-classes.</summary>
public static class SmtpRestrictions
{
    private static readonly (SmtpStage Stage, string Key)[] Stages =
        [(SmtpStage.Client, "client"), (SmtpStage.Helo, "helo"), (SmtpStage.Sender, "sender"), (SmtpStage.Recipient, "recipient"),
            (SmtpStage.Data, "data"), (SmtpStage.EndOfData, "end-of-data")];

    /// <param name="greylist">The cluster's greylist, for check_greylist.</param>
    public static Restrictions Create(Config config, SmtpSettings settings, IRecipientDirectory directory, DnsLookup? dns, IGreylist? greylist = null)
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
        var factory = new RestrictionFactory(classes, scored, config.GetInt("engine.smtp.dnsbl.threshold", 1),
            greylist is null ? null : () => Greylisting(config, greylist));
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
        // As Postfix refuses to start without one: something in the recipient list must refuse relaying.
        var recipient = config.GetStringList("engine.smtp.restrictions.recipient", [.. DefaultRecipient]).SelectMany(e => e.Split([' ', ',', '\t']));
        if (!recipient.Any(w => w.ToLowerInvariant() is "reject_unauth_destination" or "defer_unauth_destination" or "reject" or "defer" or "defer_if_permit"))
            throw new ConfigurationException("engine.smtp.restrictions.recipient: it must refuse relaying (reject_unauth_destination, or reject, defer or "
                + "defer_if_permit): without one, this node would relay for anyone");
        var locals = config.GetStringList("engine.smtp.local-recipients", ["postmaster"]);
        var site = new Site(settings.Hostname, settings.IsMyNetwork, settings.IsLocalDomain, directory, dns,
            locals.Contains("*") ? null : locals.ToHashSet(StringComparer.OrdinalIgnoreCase));
        return new Restrictions(site, lists, config.GetBoolean("engine.smtp.reject-unlisted-recipient", true), factory.ClientZones, factory.NeedsClientName)
        {
            Content = ContentChecksOf(config),
        };
    }

    /// <summary>engine.smtp.header-checks and the rest: regexp tables; the MIME and nested ones default to header-checks.</summary>
    private static ContentChecks ContentChecksOf(Config config)
    {
        AccessTable? Open(string key, string fallback)
        {
            var spec = config.GetString($"engine.smtp.{key}", "");
            spec = spec.Length == 0 ? fallback : spec;
            if (spec.Length == 0)
                return null;
            try
            {
                return AccessTable.Open(spec);
            }
            catch (Exception e) when (e is FormatException or IOException)
            {
                throw new ConfigurationException($"engine.smtp.{key}: {e.Message}");
            }
        }
        var headers = config.GetString("engine.smtp.header-checks", "");
        return new ContentChecks(Open("header-checks", ""), Open("mime-header-checks", headers), Open("nested-header-checks", headers),
            Open("body-checks", ""));
    }

    /// <summary>check_greylist: the cluster's greylist with the allow-lists of engine.greylist.</summary>
    public static CheckGreylist Greylisting(Config config, IGreylist greylist) =>
        new(greylist, AllowList(config, "allow-clients"), AllowList(config, "allow-recipients"));

    /// <summary>engine.greylist.allow-clients or allow-recipients: a file in Postgrey's format, or (empty) the list shipped in hocon/.</summary>
    private static GreylistAllowList AllowList(Config config, string key)
    {
        var path = config.GetString($"engine.greylist.{key}", "");
        try
        {
            if (path.Length > 0)
                return GreylistAllowList.Parse(File.ReadAllLines(path), path);
            using var shipped = typeof(SmtpRestrictions).Assembly.GetManifestResourceStream($"greylist-{key}")
                ?? throw new InvalidOperationException($"the shipped greylist-{key} is missing");
            using var reader = new StreamReader(shipped);
            return GreylistAllowList.Parse(reader.ReadToEnd().Split('\n'), $"greylist-{key}");
        }
        catch (Exception e) when (e is IOException or FormatException or UnauthorizedAccessException)
        {
            throw new ConfigurationException($"engine.greylist.{key}: {e.Message}");
        }
    }

    /// <summary>engine.greylist: Postgrey's delays and ages, and the number of buckets.</summary>
    public static GreylistSettings GreylistSettings(Config config)
    {
        var d = Engine.Filtering.Greylist.GreylistSettings.Default;
        var settings = new GreylistSettings(config.GetTimeSpan("engine.greylist.delay", d.Delay), config.GetTimeSpan("engine.greylist.retry-window", d.RetryWindow),
            config.GetTimeSpan("engine.greylist.max-age", d.MaxAge), config.GetInt("engine.greylist.auto-allow-after", d.AutoAllowAfter),
            config.GetInt("engine.greylist.buckets", d.Buckets));
        if (settings.Buckets < 1)
            throw new ConfigurationException("engine.greylist.buckets must be positive");
        return settings;
    }

    /// <summary>No relaying but for mynetworks and SMTP AUTH (Postfix's smtpd_relay_restrictions, with reject for defer).</summary>
    public static readonly IReadOnlyList<string> DefaultRecipient = ["permit_mynetworks", "permit_sasl_authenticated", "reject_unauth_destination"];
}
