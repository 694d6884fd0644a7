using Akka.Configuration;
using Engine.Host;
using Engine.Queue;
using Engine.Smtp;

namespace Engine.Tests;

public sealed class ConfigurationSpecs
{
    private static string HoconDir()
    {
        var dir = AppContext.BaseDirectory;
        while (!Directory.Exists(Path.Combine(dir, "hocon")))
            dir = Path.GetDirectoryName(dir) ?? throw new DirectoryNotFoundException("hocon/ not found above the test folder");
        return Path.Combine(dir, "hocon");
    }

    /// <summary>hocon/*.conf and the example node configurations of deploy/examples, relative to the repository.</summary>
    public static TheoryData<string> ConfFiles() => new(Directory.GetFiles(HoconDir(), "*.conf")
        .Concat(Directory.GetFiles(Path.Combine(HoconDir(), "..", "deploy", "examples"), "*.conf"))
        .Select(f => Path.GetRelativePath(Path.Combine(HoconDir(), ".."), f)));

    [Theory]
    [MemberData(nameof(ConfFiles))]
    public void Every_conf_file_should_build_every_settings_record(string file)
    {
        var config = EngineConfig.Load(Path.Combine(HoconDir(), "..", file), []);
        var smtp = SmtpSettings.Create(config);
        var queue = QueueSettings.Create(config);
        _ = Engine.Queue.Routing.Router.Create(config);
        _ = EngineHost.ProxyProtocolOf(config);
        Assert.NotEmpty(smtp.Listen);
        Assert.True(queue.Partitions > 0);
    }

    [Fact]
    public void An_unknown_role_is_refused()
    {
        var dir = Directory.CreateTempSubdirectory("roles").FullName;
        try
        {
            var e = Assert.Throws<ConfigurationException>(() =>
                EngineHost.Build(EngineConfig.Load(null, [$"engine.data-dir = \"{dir}\"", "engine.cluster.roles = [smtp, imap4]"])));
            Assert.Equal("engine.cluster.roles: 'imap4' is not one of smtp, filter, queue, delivery, mailbox, imap, pop3, web", e.Message);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Defaults_should_be_what_the_conf_file_says()
    {
        var smtp = SmtpSettings.Create(EngineConfig.Defaults());
        Assert.Equal("127.0.0.1:2525", Assert.Single(smtp.Listen).ToString());
        Assert.Equal(20L * 1024 * 1024, smtp.MessageSizeLimit);
        Assert.Equal(1000, smtp.RecipientLimit);
        Assert.Equal(20, smtp.HardErrorLimit);
        Assert.True(smtp.IsMyNetwork(System.Net.IPAddress.Loopback));
        Assert.True(smtp.IsLocalDomain("localhost"));
        Assert.Equal(252, smtp.VrfyReply.Code);
    }

    [Fact]
    public void The_queue_and_delivery_defaults_are_postfix_s()
    {
        var config = EngineConfig.Defaults();
        var queue = QueueSettings.Create(config);
        Assert.Equal(TimeSpan.FromSeconds(300), queue.Retry.MinimalBackoff); // minimal_backoff_time
        Assert.Equal(TimeSpan.FromSeconds(4000), queue.Retry.MaximalBackoff); // maximal_backoff_time
        Assert.Equal(TimeSpan.FromDays(5), queue.Retry.MaximalQueueLifetime); // maximal_queue_lifetime
        Assert.Equal(TimeSpan.FromDays(5), queue.Retry.BounceQueueLifetime); // bounce_queue_lifetime
        Assert.Equal(TimeSpan.Zero, queue.DelayWarningTime); // delay_warning_time: off
        Assert.Equal(50_000, queue.BounceSizeLimit); // bounce_size_limit
        Assert.Equal("postmaster@mx.example", queue.Postmaster("mx.example"));
        var delivery = Engine.Delivery.DeliverySettings.Create(config, "mx.example");
        Assert.Equal(5, delivery.InitialConcurrency); // initial_destination_concurrency
        Assert.Equal(20, delivery.Concurrency); // default_destination_concurrency_limit
        Assert.Equal(Engine.Delivery.Smtp.SmtpClientTimeouts.Default, delivery.Timeouts);
        Assert.Equal((TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(300), TimeSpan.FromSeconds(180), TimeSpan.FromSeconds(600)),
            (delivery.Timeouts.Connect, delivery.Timeouts.Command, delivery.Timeouts.DataBlock, delivery.Timeouts.DataDone)); // smtp_*_timeout
    }

    [Fact]
    public void Every_key_in_engine_conf_should_have_a_comment_above_it()
    {
        var lines = File.ReadAllLines(Path.Combine(HoconDir(), "engine.conf"));
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i].Trim();
            if (!line.Contains(" = ", StringComparison.Ordinal) || line.StartsWith('#'))
                continue;
            Assert.True(i > 0 && lines[i - 1].Trim().StartsWith('#'), $"engine.conf line {i + 1} has no comment: {line}");
        }
    }

    [Fact]
    public void Set_arguments_should_override_the_defaults_and_bad_values_should_fail()
    {
        var config = EngineConfig.Load(null, ["engine.smtp.recipient-limit=7", "engine.smtp.bare-newline = normalize"]);
        var smtp = SmtpSettings.Create(config);
        Assert.Equal(7, smtp.RecipientLimit);
        Assert.Equal(Engine.Protocols.Smtp.BareNewlinePolicy.Normalize, smtp.BareNewline);
        Assert.Throws<ConfigurationException>(() => SmtpSettings.Create(EngineConfig.Load(null, ["engine.smtp.bare-newline=maybe"])));
        Assert.Throws<ConfigurationException>(() => SmtpSettings.Create(EngineConfig.Load(null, ["engine.smtp.command-line-limit=100"])));
    }

    [Fact]
    public void The_PROXY_protocol_is_off_by_default_and_names_only_listeners_of_the_node()
    {
        Assert.Null(EngineHost.ProxyProtocolOf(EngineConfig.Load(null, [])));
        var proxy = EngineHost.ProxyProtocolOf(EngineConfig.Load(null,
            ["engine.imap.listen = [\"127.0.0.1:2143\"]", "engine.proxy-protocol.listeners = [\"127.0.0.1:2143\"]", "engine.proxy-protocol.trusted-networks = [\"10.1.0.0/16\"]"]));
        Assert.NotNull(proxy);
        Assert.True(proxy.On(System.Net.IPEndPoint.Parse("127.0.0.1:2143")));
        Assert.False(proxy.On(System.Net.IPEndPoint.Parse("127.0.0.1:2525")));
        Assert.True(proxy.Trusted(System.Net.IPAddress.Parse("10.1.2.3")));
        Assert.False(proxy.Trusted(System.Net.IPAddress.Parse("10.2.0.1")));
        var stray = Assert.Throws<ConfigurationException>(() => EngineHost.ProxyProtocolOf(EngineConfig.Load(null,
            ["engine.proxy-protocol.listeners = [\"127.0.0.1:9999\"]", "engine.proxy-protocol.trusted-networks = [\"10.1.0.0/16\"]"])));
        Assert.Contains("not the listen address of a service", stray.Message, StringComparison.Ordinal);
        var none = Assert.Throws<ConfigurationException>(() => EngineHost.ProxyProtocolOf(EngineConfig.Load(null,
            ["engine.proxy-protocol.listeners = [\"127.0.0.1:2525\"]"])));
        Assert.Contains("trusted-networks: empty", none.Message, StringComparison.Ordinal);
    }
}
