using Akka.Configuration;

namespace Engine.Queue.Routing;

/// <summary>Where mail for a domain goes.</summary>
public abstract record Route
{
    /// <summary>To an SMTP server named in a transport map or relayhost: "[host]:port", no MX lookup.</summary>
    public sealed record Smtp(string Host, int Port) : Route
    {
        public string NextHop => $"[{Host}]:{Port}";
    }

    /// <summary>Accepted and dropped (Postfix's discard transport).</summary>
    public sealed record Discard : Route;

    /// <summary>Bounced with this text (Postfix's error transport).</summary>
    public sealed record Error(string Text) : Route;

    /// <summary>
    /// Delivered here (Postfix's local transport): the domain's addresses go to the mailboxes of their accounts in the
    /// directory, as a local domain's; an address without one waits (deferred, "no mailbox") and is returned when
    /// it expires, instead of leaving by the relayhost or the MX hosts.
    /// </summary>
    public sealed record Local : Route;

    /// <summary>By the domain's MX hosts: the destination entity of the domain looks them up.</summary>
    public sealed record Mx(string Domain) : Route;
}

/// <summary>
/// Postfix's transport_maps and relayhost: the transport map (exact domain, then parent domains as
/// ".example.org" entries) wins; else the relayhost; else the domain's MX hosts.
/// Entries: <c>smtp:[host]:port</c>, <c>smtp:host:port</c>, <c>local</c>, <c>discard</c>, <c>error:text</c>.
/// </summary>
public sealed class Router(IReadOnlyDictionary<string, Route> transport, Route? relayhost)
{
    /// <summary>The domains delivered here (mydestination): their mail goes to mailboxes, never to a route.</summary>
    public IReadOnlySet<string> LocalDomains { get; init; } = new HashSet<string>();

    /// <param name="localDomains">mydestination, whose mail never takes a route.</param>
    public static Router Create(Config config, IReadOnlySet<string>? localDomains = null)
    {
        var c = config.GetConfig("engine.delivery");
        var map = new Dictionary<string, Route>(StringComparer.OrdinalIgnoreCase);
        var transport = c?.GetConfig("transport");
        if (transport is not null)
        {
            foreach (var entry in transport.AsEnumerable())
                map[entry.Key.Trim('"')] = Parse(entry.Value.GetString());
        }
        var relay = c?.GetString("relayhost", "") ?? "";
        return new Router(map, relay.Length == 0 ? null : Parse("smtp:" + relay)) { LocalDomains = localDomains ?? new HashSet<string>() };
    }

    public Route RouteFor(string domain)
    {
        domain = domain.ToLowerInvariant();
        // user@[192.0.2.1] or user@[IPv6:2001:db8::1]: that address, port 25, no DNS (RFC 5321 section 4.1.3).
        if (domain.Length > 2 && domain[0] == '[' && domain[^1] == ']')
        {
            var literal = domain[1..^1];
            return new Route.Smtp(literal.StartsWith("ipv6:", StringComparison.Ordinal) ? literal[5..] : literal, 25);
        }
        if (transport.TryGetValue(domain, out var exact))
            return exact;
        for (var dot = domain.IndexOf('.'); dot >= 0; dot = domain.IndexOf('.', dot + 1))
        {
            if (transport.TryGetValue(domain[dot..], out var parent))
                return parent;
        }
        return relayhost ?? new Route.Mx(domain);
    }

    /// <summary>
    /// The next hop of a FILTER action, "transport:destination" as in Postfix's access(5): the transport names a
    /// service that speaks SMTP ("smtp", or a master.cf name such as "scan" or "amavis"), the destination is
    /// "[host]:port" or "host:port". Null when the text is not that (LMTP is not spoken here).
    /// </summary>
    public static Route.Smtp? FilterRoute(string text)
    {
        var colon = text.IndexOf(':');
        if (colon <= 0 || text[..colon].Equals("lmtp", StringComparison.OrdinalIgnoreCase)
                       || text[..colon].Equals("error", StringComparison.OrdinalIgnoreCase)
                       || text[..colon].Equals("discard", StringComparison.OrdinalIgnoreCase)
                       || text[..colon].Equals("local", StringComparison.OrdinalIgnoreCase))
            return null;
        try
        {
            return Parse("smtp:" + text[(colon + 1)..]) as Route.Smtp;
        }
        catch (ConfigurationException)
        {
            return null;
        }
    }

    public static Route Parse(string text)
    {
        text = text.Trim();
        if (text.Equals("discard", StringComparison.OrdinalIgnoreCase) || text.StartsWith("discard:", StringComparison.OrdinalIgnoreCase))
            return new Route.Discard();
        if (text.Equals("local", StringComparison.OrdinalIgnoreCase) || text.Equals("local:", StringComparison.OrdinalIgnoreCase))
            return new Route.Local();
        if (text.StartsWith("error:", StringComparison.OrdinalIgnoreCase))
            return new Route.Error(text["error:".Length..].Trim());
        if (!text.StartsWith("smtp:", StringComparison.OrdinalIgnoreCase))
            throw new ConfigurationException($"engine.delivery: '{text}' is not smtp:[host]:port, local, discard or error:text");
        var target = text["smtp:".Length..];
        var port = 25;
        string host;
        if (target.StartsWith('['))
        {
            var close = target.IndexOf(']');
            if (close < 0)
                throw new ConfigurationException($"engine.delivery: unbalanced brackets in '{text}'");
            host = target[1..close];
            if (close + 1 < target.Length)
                port = target[close + 1] == ':' && int.TryParse(target[(close + 2)..], out var p) ? p : throw new ConfigurationException($"engine.delivery: bad port in '{text}'");
        }
        else
        {
            var colon = target.LastIndexOf(':');
            host = colon < 0 ? target : target[..colon];
            if (colon >= 0 && !int.TryParse(target[(colon + 1)..], out port))
                throw new ConfigurationException($"engine.delivery: bad port in '{text}'");
        }
        if (host.Length == 0 || port is < 1 or > 65535)
            throw new ConfigurationException($"engine.delivery: bad host or port in '{text}'");
        return new Route.Smtp(host, port);
    }
}
