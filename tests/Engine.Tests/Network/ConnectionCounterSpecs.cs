using System.Net;
using Engine.Network;

namespace Engine.Tests.Network;

public sealed class ConnectionCounterSpecs
{
    private static readonly IPAddress Client = IPAddress.Parse("192.0.2.7");

    [Fact]
    public void A_counter_adds_what_other_nodes_hold_and_forgets_a_node_that_is_gone()
    {
        var exchange = new CountExchange();
        var sent = new List<CountChange>();
        exchange.Outbound = sent.Add;
        var counter = new ConnectionCounter("open", exchange);

        Assert.Null(counter.TryEnter(Client, 100, 3));
        Assert.Equal(new CountChange("open", "192.0.2.7", 1), sent.Single()); // its own level, for the others

        exchange.Receive(new CountChange("open", "192.0.2.7", 1), "node-b");
        exchange.Receive(new CountChange("open", "192.0.2.7", 2), "node-c");
        exchange.Receive(new CountChange("open", "192.0.2.7", 1), "node-c"); // a level replaces the node's last one
        Assert.Equal(2, counter.Elsewhere(Client));
        Assert.Equal("too many connections from 192.0.2.7", counter.TryEnter(Client, 100, 3)); // 2 here and 2 elsewhere are over 3
        Assert.Single(sent); // a refused try changes no level

        exchange.Forget("node-c");
        Assert.Equal(1, counter.Elsewhere(Client));
        Assert.Null(counter.TryEnter(Client, 100, 3)); // 2 here and 1 elsewhere
        Assert.Equal(new CountChange("open", "192.0.2.7", 2), sent[^1]);
        counter.Leave(Client);
        Assert.Equal(new CountChange("open", "192.0.2.7", 1), sent[^1]);
        exchange.Receive(new CountChange("open", "192.0.2.7", 0), "node-b");
        Assert.Equal(0, counter.Elsewhere(Client));
        Assert.Equal(1, counter.Total);
    }
}
