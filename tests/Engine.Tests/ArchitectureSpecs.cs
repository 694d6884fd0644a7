using System.Reflection;

namespace Engine.Tests;

/// <summary>The dependency rules of docs/architecture.md, checked on the built assemblies.</summary>
public sealed class ArchitectureSpecs
{
    private static string[] References(string assembly) =>
        Assembly.Load(assembly).GetReferencedAssemblies().Select(a => a.Name!).ToArray();

    [Theory]
    [InlineData("Engine.Primitives")]
    [InlineData("Engine.Protocols")]
    public void Pure_assemblies_should_not_reference_actors_or_other_engine_code(string assembly)
    {
        var refs = References(assembly);
        Assert.DoesNotContain(refs, r => r.StartsWith("Akka", StringComparison.Ordinal));
        Assert.DoesNotContain(refs, r => r is "System.Net.Sockets" or "System.IO.Pipelines");
        Assert.DoesNotContain(refs, r => r.StartsWith("Engine.", StringComparison.Ordinal) && r != "Engine.Primitives");
    }

    [Fact]
    public void Messages_should_not_reference_sockets_or_feature_assemblies()
    {
        var refs = References("Engine.Messages");
        Assert.DoesNotContain(refs, r => r is "System.Net.Sockets" or "System.IO.Pipelines");
        Assert.DoesNotContain(refs, r => r.StartsWith("Engine.", StringComparison.Ordinal) && r != "Engine.Primitives");
    }

    [Fact]
    public void Network_should_be_plain_sockets_for_every_service()
    {
        var refs = References("Engine.Network");
        Assert.DoesNotContain(refs, r => r.StartsWith("Akka", StringComparison.Ordinal) || r.StartsWith("Engine.", StringComparison.Ordinal));
        Assert.Contains("Engine.Network", References("Engine.Smtp"));
        Assert.Contains("Engine.Network", References("Engine.Mailbox"));
    }

    [Theory]
    [InlineData("Engine.Smtp", "Engine.Queue")]
    [InlineData("Engine.Queue", "Engine.Smtp")]
    [InlineData("Engine.Storage", "Engine.Messages")]
    [InlineData("Engine.Mailbox", "Engine.Queue")]
    [InlineData("Engine.Queue", "Engine.Mailbox")]
    [InlineData("Engine.Mailbox", "Engine.Smtp")]
    [InlineData("Engine.Delivery", "Engine.Queue")]
    [InlineData("Engine.Delivery", "Engine.Smtp")]
    [InlineData("Engine.Delivery", "Engine.Mailbox")]
    [InlineData("Engine.Web", "Engine.Queue")]
    [InlineData("Engine.Web", "Engine.Smtp")]
    [InlineData("Engine.Web", "Engine.Mailbox")]
    [InlineData("Engine.Web", "Engine.Delivery")]
    public void Feature_assemblies_should_not_reference_each_other(string assembly, string forbidden)
    {
        Assert.DoesNotContain(forbidden, References(assembly));
    }

    [Fact]
    public void The_command_line_should_know_the_engine_only_through_its_http_api()
    {
        var refs = References("enginectl");
        Assert.DoesNotContain(refs, r => r.StartsWith("Akka", StringComparison.Ordinal));
        Assert.DoesNotContain(refs, r => r.StartsWith("Engine.", StringComparison.Ordinal) && r != "Engine.Primitives");
    }
}
