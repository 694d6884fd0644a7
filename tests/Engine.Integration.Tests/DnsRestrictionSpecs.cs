using Engine.Integration.Tests.Support;

namespace Engine.Integration.Tests;

/// <summary>
/// The restrictions that ask DNS, against a real DNS server on loopback (dnsmasq) serving DNS lists, PTR, A
/// and MX records, with clients on several 127.0.0.x addresses: Postfix's replies for each.
/// </summary>
public sealed class DnsRestrictionSpecs
{
    private static async Task<string> RcptAsync(EngineInstance engine, string from, string helo, string sender, string recipient)
    {
        await using var smtp = await RawSmtp.GreetedAsync(engine.Port, from);
        await smtp.CommandAsync($"EHLO {helo}");
        var mail = await smtp.CommandAsync($"MAIL FROM:<{sender}>");
        Assert.Equal(250, mail.Code);
        return (await smtp.CommandAsync($"RCPT TO:<{recipient}>")).Last;
    }

    [Fact]
    public async Task Dns_lists_refuse_listed_clients_and_weighted_lists_add_up_with_allow_lists_taking_away()
    {
        using var dns = await DnsServer.StartAsync(
            "--address=/2.0.0.127.zen.test/127.0.0.2", "--txt-record=2.0.0.127.zen.test,Listed by zen.test", "--txt-record=2.0.0.127.zen.test,see the lookup page",
            "--address=/4.0.0.127.bl2.test/127.0.0.4", "--address=/4.0.0.127.bl3.test/127.0.0.2",
            "--address=/5.0.0.127.bl2.test/127.0.0.4", "--address=/5.0.0.127.bl3.test/127.0.0.2", "--address=/5.0.0.127.wl.test/127.0.0.2");
        await using var engine = await Accounts.WithSettingsAsync("dnsbl", [$"engine.delivery.dns-servers = [\"127.0.0.1:{dns.Port}\"]",
            "engine.smtp.restrictions.client = [\"reject_rbl_client zen.test\", \"reject_rbl_client bl2.test=127.0.0.2\", reject_dnsbl_score]",
            "engine.smtp.dnsbl.sites = [\"bl2.test*2\", \"bl3.test*2\", \"wl.test*-5\"]", "engine.smtp.dnsbl.threshold = 3"]);

        // Every TXT record of the list, joined as Postfix joins them.
        Assert.Contains(await RcptAsync(engine, "127.0.0.2", "client.test", "a@client.test", "jane@campus.test"), new[]
        {
            "554 5.7.1 Service unavailable; Client host [127.0.0.2] blocked using zen.test; Listed by zen.test / see the lookup page",
            "554 5.7.1 Service unavailable; Client host [127.0.0.2] blocked using zen.test; see the lookup page / Listed by zen.test",
        });
        // On bl2.test with 127.0.0.4, which the filter does not take; but the two lists' weights add up to 4.
        Assert.Equal("554 5.7.1 Service unavailable; Client host [127.0.0.4] blocked using bl2.test, bl3.test (score 4)",
            await RcptAsync(engine, "127.0.0.4", "client.test", "a@client.test", "jane@campus.test"));
        // On both again, and on the allow-list: 2 + 2 - 5.
        Assert.StartsWith("250", await RcptAsync(engine, "127.0.0.5", "client.test", "a@client.test", "jane@campus.test"), StringComparison.Ordinal);
        Assert.StartsWith("250", await RcptAsync(engine, "127.0.0.1", "client.test", "a@client.test", "jane@campus.test"), StringComparison.Ordinal);
        await engine.Logs.WaitForAsync(l => l.StartsWith("NOQUEUE: reject: RCPT from unknown[127.0.0.2]: 554 5.7.1 Service unavailable;", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Unknown_client_names_helo_names_and_domains_are_deferred_and_null_mx_and_listed_domains_refused()
    {
        using var dns = await DnsServer.StartAsync("--local=/127.in-addr.arpa/",
            "--host-record=mail.client.test,127.0.0.6", "--ptr-record=7.0.0.127.in-addr.arpa,fake.client.test",
            "--mx-host=client.test,mail.client.test,10", "--dns-rr=nullmx.test,15,000000",
            "--mx-host=spam.test,mail.client.test,10", "--address=/spam.test.dbl.test/127.0.1.2",
            "--server=/broken.test/127.0.0.1#9"); // forwarded to a closed port: no answer, a temporary failure
        await using var engine = await Accounts.WithSettingsAsync("dns-names", [$"engine.delivery.dns-servers = [\"127.0.0.1:{dns.Port}\"]",
            "engine.delivery.dns-timeout = 500ms",
            "engine.smtp.restrictions.client = [reject_unknown_reverse_client_hostname, reject_unknown_client_hostname]",
            "engine.smtp.restrictions.helo = [reject_unknown_helo_hostname]",
            "engine.smtp.restrictions.sender = [reject_unknown_sender_domain, \"reject_rhsbl_sender dbl.test\"]",
            "engine.smtp.restrictions.recipient = [reject_unknown_recipient_domain, permit_mynetworks, reject_unauth_destination]"]);

        (string From, string Helo, string Sender, string Recipient, string Reply)[] cases =
        [
            ("127.0.0.8", "mail.client.test", "a@client.test", "jane@campus.test", "450 4.7.1 Client host rejected: cannot find your reverse hostname, [127.0.0.8]"),
            ("127.0.0.7", "mail.client.test", "a@client.test", "jane@campus.test", "450 4.7.25 Client host rejected: cannot find your hostname, [127.0.0.7]"),
            ("127.0.0.6", "nowhere.test", "a@client.test", "jane@campus.test", "450 4.7.1 <nowhere.test>: Helo command rejected: Host not found"),
            ("127.0.0.6", "mail.client.test", "a@gone.test", "jane@campus.test", "450 4.1.8 <a@gone.test>: Sender address rejected: Domain not found"),
            ("127.0.0.6", "mail.client.test", "a@nullmx.test", "jane@campus.test",
                "550 5.7.27 <a@nullmx.test>: Sender address rejected: Domain nullmx.test does not accept mail (nullMX)"),
            ("127.0.0.6", "mail.client.test", "a@spam.test", "jane@campus.test", "554 5.7.1 Service unavailable; Sender address [a@spam.test] blocked using dbl.test"),
            ("127.0.0.6", "mail.client.test", "a@client.test", "x@gone.test", "450 4.1.2 <x@gone.test>: Recipient address rejected: Domain not found"),
            ("127.0.0.6", "mail.client.test", "a@client.test", "x@nullmx.test",
                "556 5.1.10 <x@nullmx.test>: Recipient address rejected: Domain nullmx.test does not accept mail (nullMX)"),
            // DNS does not answer for broken.test: deferred if nothing else rejects, and a later rejection wins.
            ("127.0.0.6", "mail.client.test", "a@broken.test", "jane@campus.test", "450 4.1.8 <a@broken.test>: Sender address rejected: Domain not found"),
            ("127.0.0.6", "mail.client.test", "a@broken.test", "x@nullmx.test",
                "556 5.1.10 <x@nullmx.test>: Recipient address rejected: Domain nullmx.test does not accept mail (nullMX)"),
        ];
        foreach (var (from, helo, sender, recipient, reply) in cases)
            Assert.Equal(reply, await RcptAsync(engine, from, helo, sender, recipient));
        Assert.StartsWith("250", await RcptAsync(engine, "127.0.0.6", "mail.client.test", "a@client.test", "jane@campus.test"), StringComparison.Ordinal);
        // The verified name is the client's name in the maillog.
        await engine.Logs.WaitForAsync(l => l.StartsWith("NOQUEUE: reject: RCPT from mail.client.test[127.0.0.6]: 450 4.7.1 <nowhere.test>", StringComparison.Ordinal));
        await engine.Logs.WaitForAsync(l => l.EndsWith(": client=mail.client.test[127.0.0.6]", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Domain_lists_refuse_by_client_reverse_name_helo_and_recipient_and_an_allow_list_or_a_filter_lets_clients_by()
    {
        using var dns = await DnsServer.StartAsync("--local=/127.in-addr.arpa/",
            "--host-record=mail.client.test,127.0.0.6", "--ptr-record=7.0.0.127.in-addr.arpa,fake.client.test",
            "--address=/mail.client.test.dbl.test/127.0.1.2", "--address=/fake.client.test.dbl.test/127.0.1.2",
            "--address=/bad.helo.test.dbl.test/127.0.1.2", "--address=/spamdest.test.dbl.test/127.0.1.2",
            "--address=/8.0.0.127.bl.test/127.0.0.3", "--address=/9.0.0.127.bl.test/127.0.0.3", "--address=/9.0.0.127.wl.test/127.0.0.2",
            "--address=/10.0.0.127.bl.test/127.0.0.4");
        await using var engine = await Accounts.WithSettingsAsync("dns-domain-lists", [$"engine.delivery.dns-servers = [\"127.0.0.1:{dns.Port}\"]",
            "engine.smtp.restrictions.client = [\"permit_dnswl_client wl.test\", \"reject_rbl_client bl.test=127.0.0.3\", "
            + "\"reject_rhsbl_client dbl.test\", \"reject_rhsbl_reverse_client dbl.test\"]",
            "engine.smtp.restrictions.helo = [\"reject_rhsbl_helo dbl.test\"]",
            "engine.smtp.restrictions.recipient = [\"reject_rhsbl_recipient dbl.test\", permit_auth_destination, reject]"]);

        (string From, string Helo, string Recipient, string Reply)[] cases =
        [
            ("127.0.0.6", "client.test", "jane@campus.test", "554 5.7.1 Service unavailable; Client host [mail.client.test] blocked using dbl.test"),
            ("127.0.0.7", "client.test", "jane@campus.test", "554 5.7.1 Service unavailable; Unverified Client host [fake.client.test] blocked using dbl.test"),
            ("127.0.0.10", "bad.helo.test", "jane@campus.test", "554 5.7.1 Service unavailable; Helo command [bad.helo.test] blocked using dbl.test"),
            ("127.0.0.10", "client.test", "x@spamdest.test", "554 5.7.1 Service unavailable; Recipient address [x@spamdest.test] blocked using dbl.test"),
            ("127.0.0.8", "client.test", "jane@campus.test", "554 5.7.1 Service unavailable; Client host [127.0.0.8] blocked using bl.test"),
            ("127.0.0.10", "client.test", "bob@elsewhere.test", "554 5.7.1 <bob@elsewhere.test>: Recipient address rejected: Access denied"),
        ];
        foreach (var (from, helo, recipient, reply) in cases)
            Assert.Equal(reply, await RcptAsync(engine, from, helo, "a@client.test", recipient));
        // 127.0.0.10 is on bl.test with 127.0.0.4, which the filter does not take; 127.0.0.9 is on bl.test too, but on the allow-list first.
        Assert.StartsWith("250", await RcptAsync(engine, "127.0.0.10", "client.test", "a@client.test", "jane@campus.test"), StringComparison.Ordinal);
        Assert.StartsWith("250", await RcptAsync(engine, "127.0.0.9", "client.test", "a@client.test", "jane@campus.test"), StringComparison.Ordinal);
    }
}
