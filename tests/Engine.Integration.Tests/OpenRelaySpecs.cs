using Engine.Integration.Tests.Support;

namespace Engine.Integration.Tests;

/// <summary>
/// The MX is no open relay: a client outside mynetworks that has not authenticated gets 554 5.7.1 for every
/// classic trick (Postfix's reject_unauth_destination, with its percent-hack, bang-path, source-route and
/// quoted-local-part defences), in every client situation; authenticated, the same client relays to real
/// remote addresses. Addresses that do not parse at all get 501 5.1.3 before relaying is considered.
/// </summary>
public sealed class OpenRelaySpecs(OpenRelaySpecs.RelayEngine fixture) : IClassFixture<OpenRelaySpecs.RelayEngine>
{
    /// <summary>One engine for every case: loopback is not in mynetworks, so the test client is "the Internet".</summary>
    public sealed class RelayEngine : IAsyncLifetime
    {
        public EngineInstance Engine { get; private set; } = null!;

        public async ValueTask InitializeAsync() => Engine = await Accounts.WithSettingsAsync("open-relay", ["engine.smtp.mynetworks = []"]);

        public async ValueTask DisposeAsync() => await Engine.DisposeAsync();
    }

    private EngineInstance Mx => fixture.Engine;

    public static TheoryData<string> RelayAttempts =>
    [
        "<friend@elsewhere.test>",
        "<friend@ELSEWHERE.TEST>",
        "<jane%elsewhere.test@campus.test>",
        "<jane%elsewhere.test@mx.test>",
        "<jane+tag%elsewhere.test@campus.test>",
        "<elsewhere.test!jane@campus.test>",
        "<elsewhere.test!jane@mx.test>",
        "<@campus.test:friend@elsewhere.test>",
        "<@mx.test,@campus.test:friend@elsewhere.test>",
        "<\"friend@elsewhere.test\"@campus.test>",
        "<\"friend@elsewhere.test\"@mx.test>",
        "<\"friend%elsewhere.test\"@campus.test>",
        "<\"elsewhere.test!friend\"@campus.test>",
        "<friend@[192.0.2.1]>",
        "<friend@[127.0.0.1]>",
        "<friend@[IPv6:2001:db8::1]>",
        "<friend@sub.campus.test>",
        "<friend@campus.test.elsewhere.test>",
        "<friend@localhost>",
        "<postmaster@elsewhere.test>",
        "<friend@elsewhere.test> NOTIFY=NEVER",
    ];

    [Theory]
    [MemberData(nameof(RelayAttempts))]
    public async Task Every_relay_trick_is_refused_with_554_5_7_1(string recipient)
    {
        await using var smtp = await RawSmtp.GreetedAsync(Mx.Port);
        await smtp.CommandAsync("EHLO client.test");
        Assert.Equal(250, (await smtp.CommandAsync("MAIL FROM:<someone@client.test>")).Code);
        var reply = await smtp.CommandAsync("RCPT TO:" + recipient);
        Assert.Equal((554, "5.7.1"), (reply.Code, reply.Enhanced));
    }

    public static TheoryData<string, string, string> ClientSituations => new()
    {
        { "EHLO mx.test", "MAIL FROM:<someone@client.test>", "our own name in EHLO" },
        { "HELO [127.0.0.1]", "MAIL FROM:<someone@client.test>", "our address as HELO" },
        { "EHLO client.test", "MAIL FROM:<jane@campus.test>", "a local sender" },
        { "EHLO client.test", "MAIL FROM:<>", "the null sender" },
        { "EHLO localhost", "MAIL FROM:<postmaster@mx.test>", "localhost and postmaster" },
    };

    [Theory]
    [MemberData(nameof(ClientSituations))]
    public async Task No_client_situation_opens_the_relay(string hello, string mail, string situation)
    {
        await using var smtp = await RawSmtp.GreetedAsync(Mx.Port);
        await smtp.CommandAsync(hello);
        Assert.Equal(250, (await smtp.CommandAsync(mail)).Code);
        var reply = await smtp.CommandAsync("RCPT TO:<friend@elsewhere.test>");
        Assert.True((reply.Code, reply.Enhanced) == (554, "5.7.1"), $"{situation}: {reply.Last}");
        Assert.Equal(250, (await smtp.CommandAsync("RCPT TO:<jane@campus.test>")).Code); // local mail is still taken
    }

    [Theory]
    [InlineData("friend@elsewhere.test@campus.test")]
    [InlineData("friend@[192.0.2.1")]
    [InlineData("\"friend@elsewhere.test@campus.test")]
    [InlineData("friend@")]
    [InlineData("friend@elsewhere.test.")] // a trailing dot
    [InlineData("jane@campus.test.")]
    public async Task An_address_that_does_not_parse_is_refused_before_relaying_is_considered(string recipient)
    {
        await using var smtp = await RawSmtp.GreetedAsync(Mx.Port);
        await smtp.CommandAsync("EHLO client.test");
        await smtp.CommandAsync("MAIL FROM:<someone@client.test>");
        var reply = await smtp.CommandAsync($"RCPT TO:<{recipient}>");
        Assert.Equal(5, reply.Code / 100);
        Assert.NotEqual(250, reply.Code);
    }

    [Fact]
    public async Task Authenticated_the_client_relays_to_real_addresses_but_no_trick_is_routed_onward()
    {
        await using var engine = await Accounts.WithSettingsAsync("open-relay-auth", ["engine.smtp.mynetworks = []", "engine.smtp.tls-auth-only = off"]);
        await using var smtp = await RawSmtp.GreetedAsync(engine.Port);
        await smtp.CommandAsync("EHLO client.test");
        var plain = Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes($"\0jane@campus.test\0{Accounts.Password}"));
        Assert.Equal(235, (await smtp.CommandAsync("AUTH PLAIN " + plain)).Code);
        Assert.Equal(250, (await smtp.CommandAsync("MAIL FROM:<jane@campus.test>")).Code);
        Assert.Equal(250, (await smtp.CommandAsync("RCPT TO:<friend@elsewhere.test>")).Code);
        // No percent hack, no bang path: taken literally, these are unknown local users, not a way out.
        foreach (var trick in new[] { "jane%elsewhere.test@campus.test", "elsewhere.test!jane@campus.test" })
        {
            var reply = await smtp.CommandAsync($"RCPT TO:<{trick}>");
            Assert.Equal((550, "5.1.1"), (reply.Code, reply.Enhanced));
        }
    }
}
