using System.Net;
using System.Net.Sockets;
using Engine.Integration.Tests.Support;
using Engine.Network.Proxy;
using MailKit.Net.Imap;
using MailKit.Security;

namespace Engine.Integration.Tests;

/// <summary>Listeners behind a TCP load balancer take the PROXY protocol v2 header, and the engine sees the client it names.</summary>
public sealed class ProxyProtocolSpecs
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static async Task<(EngineInstance Engine, int Smtp, int Imap)> StartAsync(string name, string trusted)
    {
        var (smtp, imap) = (Loopback.FreePort(), Loopback.FreePort());
        var engine = await Accounts.WithSettingsAsync(name,
        [
            $"engine.smtp.listen = [\"127.0.0.1:{smtp}\"]", $"engine.imap.listen = [\"127.0.0.1:{imap}\"]",
            $"engine.proxy-protocol.listeners = [\"127.0.0.1:{smtp}\", \"127.0.0.1:{imap}\"]",
            $"engine.proxy-protocol.trusted-networks = [\"{trusted}\"]", "engine.proxy-protocol.timeout = 1s",
        ]);
        return (engine, smtp, imap);
    }

    /// <summary>A balancer's connection: the header for <paramref name="client"/>, then the client's bytes.</summary>
    private static async Task<RawSmtp> ThroughBalancerAsync(int port, string client)
    {
        var smtp = await RawSmtp.ConnectAsync(port);
        await smtp.SendAsync(ProxyHeader.Write(IPEndPoint.Parse(client), new IPEndPoint(IPAddress.Loopback, port)));
        Assert.Equal(220, (await smtp.ReadAsync()).Code);
        return smtp;
    }

    [Fact]
    public async Task The_client_named_in_the_header_is_the_one_restrictions_and_the_maillog_see()
    {
        var (engine, port, _) = await StartAsync("proxy-smtp", "127.0.0.0/8");
        await using (engine)
        {
            // The balancer is on loopback (in mynetworks); a client outside it may not relay through it.
            await using (var outside = await ThroughBalancerAsync(port, "192.0.2.7:40123"))
            {
                Assert.Equal(250, (await outside.CommandAsync("EHLO client.test")).Code);
                Assert.Equal(250, (await outside.CommandAsync("MAIL FROM:<a@client.test>")).Code);
                var relay = await outside.CommandAsync("RCPT TO:<someone@far.test>");
                Assert.Equal((554, "5.7.1"), (relay.Code, relay.Enhanced));
            }
            await engine.Logs.WaitForAsync(l => l.Contains("[192.0.2.7]", StringComparison.Ordinal) && l.Contains("Relay access denied", StringComparison.Ordinal));

            // A client the header places in mynetworks relays, so the address is the header's and not a blanket refusal.
            await using (var inside = await ThroughBalancerAsync(port, "127.0.0.9:40124"))
            {
                Assert.Equal(250, (await inside.CommandAsync("EHLO client.test")).Code);
                Assert.Equal(250, (await inside.CommandAsync("MAIL FROM:<a@client.test>")).Code);
                Assert.Equal(250, (await inside.CommandAsync("RCPT TO:<someone@far.test>")).Code);
            }
        }
    }

    [Theory]
    [InlineData("")]
    [InlineData("PROXY TCP4 192.0.2.7 127.0.0.1 40123 25\r\n")]
    [InlineData("EHLO client.test\r\n")]
    public async Task A_connection_without_a_v2_header_is_closed_without_a_greeting(string first)
    {
        var (engine, port, _) = await StartAsync("proxy-none", "127.0.0.0/8");
        await using (engine)
        {
            await using var smtp = await RawSmtp.ConnectAsync(port);
            if (first.Length > 0)
                await smtp.SendAsync(first);
            Assert.True(await smtp.IsClosedAsync(TimeSpan.FromSeconds(5)), "the listener greeted a connection without the header");
            await engine.Logs.WaitForAsync(l => l.Contains("PROXY", StringComparison.Ordinal));
            // The listener goes on: a good header is served after the bad one.
            await using var good = await ThroughBalancerAsync(port, "192.0.2.8:1000");
            Assert.Equal(250, (await good.CommandAsync("NOOP")).Code);
        }
    }

    [Fact]
    public async Task A_peer_outside_the_trusted_networks_may_not_name_a_client()
    {
        var (engine, port, _) = await StartAsync("proxy-untrusted", "10.0.0.0/8");
        await using (engine)
        {
            await using var smtp = await RawSmtp.ConnectAsync(port);
            await smtp.SendAsync(ProxyHeader.Write(IPEndPoint.Parse("127.0.0.9:1"), new IPEndPoint(IPAddress.Loopback, port)));
            Assert.True(await smtp.IsClosedAsync(TimeSpan.FromSeconds(5)), "an untrusted peer was served");
            await engine.Logs.WaitForAsync(l => l.Contains("not in the trusted networks", StringComparison.Ordinal));
        }
    }

    [Fact]
    public async Task An_IMAP_client_behind_the_balancer_logs_in_with_its_own_address()
    {
        var (engine, port, imap) = await StartAsync("proxy-imap", "127.0.0.0/8");
        await using (engine)
        {
            await using (var smtp = await ThroughBalancerAsync(port, "192.0.2.9:1000"))
            {
                await smtp.CommandAsync("EHLO client.test");
                await smtp.CommandAsync("MAIL FROM:<a@client.test>");
                await smtp.CommandAsync("RCPT TO:<jane@campus.test>");
                await smtp.CommandAsync("DATA");
                Assert.Equal(250, (await smtp.CommandAsync("Subject: through the balancer\r\n\r\nhello\r\n.")).Code);
            }
            await engine.Logs.WaitForAsync(l => l.Contains("to=<jane@campus.test>", StringComparison.Ordinal) && l.Contains("status=sent", StringComparison.Ordinal));
            // MailKit on a socket that has already carried the balancer's header.
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            await socket.ConnectAsync(IPAddress.Loopback, imap, Ct);
            await socket.SendAsync(ProxyHeader.Write(IPEndPoint.Parse("[2001:db8::44]:50000"), new IPEndPoint(IPAddress.Loopback, imap)), Ct);
            // The client is not on loopback now, so its password needs TLS: STARTTLS through the balancer, as a phone does.
            using var client = new ImapClient { ServerCertificateValidationCallback = (_, _, _, _) => true };
            await client.ConnectAsync(socket, "127.0.0.1", imap, SecureSocketOptions.StartTls, Ct);
            await client.AuthenticateAsync("jane@campus.test", Accounts.Password, Ct);
            await client.Inbox.OpenAsync(MailKit.FolderAccess.ReadOnly, Ct);
            Assert.Equal(1, client.Inbox.Count);
            Assert.Equal("through the balancer", (await client.Inbox.GetMessageAsync(0, Ct)).Subject);
            await client.DisconnectAsync(true, Ct);
            await engine.Logs.WaitForAsync(l => l.Contains("Login: user=<jane@campus.test>", StringComparison.Ordinal) && l.Contains("rip=2001:db8::44", StringComparison.Ordinal));
        }
    }
}
