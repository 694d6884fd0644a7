using Akka.Configuration;
using Engine.Queue.Routing;

namespace Engine.Tests.Queue;

public sealed class RouterSpecs
{
    private static Router Create(string hocon) => Router.Create(ConfigurationFactory.ParseString(hocon));

    [Fact]
    public void Router_should_follow_the_transport_map_then_relayhost_then_mx()
    {
        var router = Create("""
            engine.delivery.relayhost = "[192.0.2.9]:2525"
            engine.delivery.transport { "example.org" = "smtp:[10.0.0.5]:26", ".example.org" = "smtp:inner.example:25", "void.test" = discard, "err.test" = "error:5.1.2 gone", "here.test" = local }
            """);
        Assert.IsType<Route.Local>(router.RouteFor("here.test"));
        Assert.IsType<Route.Local>(Router.Parse("local:"));
        Assert.Equal(new Route.Smtp("10.0.0.5", 26), router.RouteFor("Example.ORG"));
        Assert.Equal(new Route.Smtp("inner.example", 25), router.RouteFor("dept.example.org"));
        Assert.IsType<Route.Discard>(router.RouteFor("void.test"));
        Assert.Equal(new Route.Error("5.1.2 gone"), router.RouteFor("err.test"));
        Assert.Equal(new Route.Smtp("192.0.2.9", 2525), router.RouteFor("anywhere.example"));
        Assert.Equal("[10.0.0.5]:26", ((Route.Smtp)router.RouteFor("example.org")).NextHop);
        Assert.Equal(new Route.Mx("anywhere.example"), Create("engine.delivery { relayhost = \"\", transport {} }").RouteFor("Anywhere.Example"));
        Assert.Equal(new Route.Smtp("192.0.2.7", 25), router.RouteFor("[192.0.2.7]"));
        Assert.Equal("[2001:db8::1]:25", ((Route.Smtp)router.RouteFor("[IPv6:2001:db8::1]")).NextHop);
    }

    [Theory]
    [InlineData("smtp:[10.0.0.5")]
    [InlineData("smtp:[10.0.0.5]:x")]
    [InlineData("lmtp:host")]
    [InlineData("smtp::25")]
    public void Router_should_refuse_bad_entries(string entry)
    {
        Assert.Throws<ConfigurationException>(() => Router.Parse(entry));
    }

    [Theory]
    [InlineData("smtp:[127.0.0.1]:10025", "[127.0.0.1]:10025")]
    [InlineData("scan:[127.0.0.1]:10026", "[127.0.0.1]:10026")]
    [InlineData("amavis:filter.example:10024", "[filter.example]:10024")]
    [InlineData("smtp:filter.example", "[filter.example]:25")]
    [InlineData("lmtp:[127.0.0.1]:24", null)]
    [InlineData("error:5.7.1 no", null)]
    [InlineData("smtp:", null)]
    [InlineData("no-colon", null)]
    [InlineData(":[127.0.0.1]:25", null)]
    [InlineData("smtp:[127.0.0.1]:x", null)]
    public void A_FILTER_action_should_name_an_SMTP_next_hop_or_nothing(string action, string? nextHop)
    {
        Assert.Equal(nextHop, Router.FilterRoute(action)?.NextHop);
    }
}
