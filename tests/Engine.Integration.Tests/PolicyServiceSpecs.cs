using System.Net.Sockets;
using System.Text;
using Engine.Integration.Tests.Support;
using Microsoft.Extensions.DependencyInjection;

namespace Engine.Integration.Tests;

/// <summary>
/// Policy delegation both ways: the engine asks Postgrey (from Debian) through check_policy_service, and a
/// Postfix instance (from Debian) asks the engine's policy service, which answers with the cluster's greylist.
/// </summary>
public sealed class PolicyServiceSpecs
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static async Task<RawSmtp.Reply> RcptAsync(int port, string sender, string recipient)
    {
        await using var smtp = await RawSmtp.GreetedAsync(port, "127.0.0.2");
        await smtp.CommandAsync("EHLO client.test");
        await smtp.CommandAsync($"MAIL FROM:<{sender}>");
        return await smtp.CommandAsync($"RCPT TO:<{recipient}>");
    }

    [Fact]
    public async Task Postgrey_decides_through_check_policy_service()
    {
        await using var postgrey = await PostgreyServer.StartAsync(delaySeconds: 1); // Postgrey takes 0 as its default, 300
        await using var engine = await Accounts.WithSettingsAsync("postgrey", ["engine.smtp.mynetworks = []",
            $"engine.smtp.restrictions.recipient = [reject_unauth_destination, \"check_policy_service inet:127.0.0.1:{postgrey.Port}\"]"]);

        var first = await RcptAsync(engine.Port, "a@client.test", "jane@campus.test");
        Assert.Equal(450, first.Code);
        // Postgrey's DEFER_IF_PERMIT, carried out as Postfix does.
        Assert.StartsWith("450 4.7.1 <jane@campus.test>: Recipient address rejected: Greylisted", first.Last, StringComparison.Ordinal);
        await Task.Delay(1200, Ct); // Postgrey has no clock to set: the retry comes after its one-second delay
        Assert.Equal(250, (await RcptAsync(engine.Port, "a@client.test", "jane@campus.test")).Code);
        Assert.Equal(250, (await RcptAsync(engine.Port, "b@client.test", "postmaster@mx.test")).Code); // Postgrey's own whitelist

        // A policy server that is gone: 451 4.3.5, as Postfix.
        await postgrey.DisposeAsync();
        Assert.Equal("451 4.3.5 <jane@campus.test>: Recipient address rejected: Server configuration problem",
            (await RcptAsync(engine.Port, "c@client.test", "jane@campus.test")).Last);
    }

    [Fact]
    public async Task A_policy_servers_reject_ok_coded_and_prepend_answers_are_carried_out_as_postfix_does()
    {
        // A policy server of a few lines: the answer depends on the sender's local part; a task per connection.
        using var listener = new TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        var port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        _ = Task.Run(async () =>
        {
            while (true)
            {
                var client = await listener.AcceptTcpClientAsync(Ct);
                _ = Task.Run(async () =>
                {
                    using var connection = client;
                    var reader = new StreamReader(client.GetStream(), Encoding.ASCII);
                    var writer = new StreamWriter(client.GetStream(), Encoding.ASCII) { NewLine = "\n", AutoFlush = true };
                    var sender = "";
                    while (await reader.ReadLineAsync(Ct) is { } line)
                    {
                        if (line.StartsWith("sender=", StringComparison.Ordinal))
                            sender = line["sender=".Length..].Split('@')[0];
                        if (line.Length > 0)
                            continue;
                        await writer.WriteLineAsync(sender switch
                        {
                            "bad" => "action=REJECT not from you",
                            "coded" => "action=550 5.7.0 go away",
                            "friend" => "action=OK",
                            _ => "action=PREPEND X-Policy: seen",
                        });
                        await writer.WriteLineAsync();
                    }
                }, Ct);
            }
        }, Ct);
        await using var engine = await Accounts.WithSettingsAsync("policy-actions", ["engine.smtp.mynetworks = []",
            $"engine.smtp.restrictions.recipient = [\"check_policy_service inet:127.0.0.1:{port}\", reject_unauth_destination]"]);

        Assert.Equal("554 5.7.1 <jane@campus.test>: Recipient address rejected: not from you", (await RcptAsync(engine.Port, "bad@client.test", "jane@campus.test")).Last);
        Assert.Equal("550 5.7.0 <jane@campus.test>: Recipient address rejected: go away", (await RcptAsync(engine.Port, "coded@client.test", "jane@campus.test")).Last);
        Assert.Equal(250, (await RcptAsync(engine.Port, "friend@client.test", "bob@elsewhere.test")).Code); // OK ends the list before the relay check
        Assert.Equal("554 5.7.1 <bob@elsewhere.test>: Relay access denied", (await RcptAsync(engine.Port, "other@client.test", "bob@elsewhere.test")).Last);
        listener.Stop();
    }

    [Fact]
    public async Task Postfix_uses_the_engine_as_its_policy_server()
    {
        var policyPort = Loopback.FreePort();
        await using var engine = await Accounts.WithSettingsAsync("policy-server", [$"engine.policy.listen = [\"127.0.0.1:{policyPort}\"]",
            "engine.greylist.delay = 0s"]);
        await using var postfix = await PostfixInstance.StartAsync("relay_domains = campus.test",
            $"smtpd_recipient_restrictions = check_policy_service inet:127.0.0.1:{policyPort}, permit_mynetworks, reject");

        var first = await RcptAsync(postfix.Port, "a@client.test", "jane@campus.test");
        Assert.Equal("450 4.7.1 <jane@campus.test>: Recipient address rejected: Greylisted, try again in 0 seconds", first.Last);
        Assert.Equal(250, (await RcptAsync(postfix.Port, "a@client.test", "jane@campus.test")).Code);
        await engine.Logs.WaitForAsync(l => l == "policy: client=127.0.0.2, sender=<a@client.test>, recipient=<jane@campus.test>: greylist new");

        // Whatever is not a RCPT question gets DUNNO; a malformed line ends the connection.
        using var raw = new TcpClient();
        await raw.ConnectAsync("127.0.0.1", policyPort, Ct);
        var stream = raw.GetStream();
        await stream.WriteAsync("request=smtpd_access_policy\nprotocol_state=DATA\n\n"u8.ToArray(), Ct);
        var reader = new StreamReader(stream, Encoding.UTF8);
        Assert.Equal("action=DUNNO", await reader.ReadLineAsync(Ct));
        Assert.Equal("", await reader.ReadLineAsync(Ct));
        await stream.WriteAsync("no equals sign\n"u8.ToArray(), Ct);
        Assert.Null(await reader.ReadLineAsync(Ct));
        Assert.Single(engine.Services.GetRequiredService<Engine.Smtp.Policy.PolicyServer>().EndPoints);
    }
}
