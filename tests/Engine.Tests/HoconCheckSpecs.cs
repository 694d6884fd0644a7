using Akka.Configuration;
using Engine.Host;
using Engine.Host.Configuration;

namespace Engine.Tests;

/// <summary>The structure check that runs before Akka's HOCON parser: what it refuses, where, and what it lets through.</summary>
public sealed class HoconCheckSpecs
{
    [Theory]
    [InlineData("engine {\n  a = [x,\n}\n", 3, 1, "'}' inside the '[' opened at line 2: the array is not closed")]
    [InlineData("engine {\n  a = [x,\n", 3, 1, "'[' opened at line 2 is never closed")]
    [InlineData("engine {\n  a = \"x\n}\n", 2, 7, "a string that does not end on its line (a '\"' is missing)")]
    [InlineData("engine {\n  a = 1\n}\n}\n", 4, 1, "'}' with nothing open to close")]
    [InlineData("engine {\n  a = {\n}\n", 4, 1, "'{' opened at line 1 is never closed")]
    [InlineData("engine {\n  a\n}\n", 2, 4, "'a' has no value: '=' or ':' and a value, or '{' and an object, must follow it on its line")]
    [InlineData("engine {\n  a = 1 b = 2\n}\n", 2, 11, "'=' inside a value: is a ']' or '}' missing before it, or should the value be quoted?")]
    [InlineData("engine.a = [1\nengine.b = 2\n", 2, 10, "'=' inside a value: is a ']' or '}' missing before it, or should the value be quoted?")]
    [InlineData("engine.a = ${engine.b\n", 1, 12, "a substitution '${' that does not end with '}' on its line")]
    [InlineData("engine.a = \"\\q\"\n", 1, 13, "'\\q' is not an escape of a quoted string (\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)")]
    [InlineData("engine.a = \"\"\"x\n", 1, 12, "a \"\"\" string that is never closed")]
    [InlineData("engine.a =\n", 2, 1, "'engine.a' has no value before the end of the file")]
    [InlineData("engine.a = ,\n", 1, 12, "'engine.a' has no value")]
    [InlineData("= 1\n", 1, 1, "'=' where a key was expected")]
    [InlineData("{ engine.a = 1 } x\n", 1, 18, "'x' after the end of the file's object")]
    [InlineData("engine.a = [postmaster@example.org]\n", 1, 23, "'@' outside quotes: quote the value (\"...\")")]
    [InlineData("engine.a = [*.example.org]\n", 1, 13, "'*' outside quotes: quote the value (\"...\")")]
    [InlineData("engine.a = [a :b]\n", 1, 15, "':' outside quotes: quote the value (\"...\")")]
    [InlineData("engine.a = [${?X}]\n", 1, 13, "optional substitutions (${?...}) are not supported: write ${path}, or give the value with --set")]
    [InlineData("engine.a = 1\ninclude \"other.conf\"\n", 2, 1, "include is not supported: put the settings in this file (or give them with --set)")]
    public void A_broken_structure_is_refused_with_its_line_column_and_reason(string text, int line, int column, string reason)
    {
        var (error, _) = HoconCheck.Check(text);
        Assert.Equal(new HoconError(line, column, reason), error);
    }

    [Theory]
    [InlineData("")]
    [InlineData("# only a comment\n// and another\n")]
    [InlineData("{ engine { a = 1, b = \"x\" } }")]
    [InlineData("engine {\n  a = 1 // a comment\n  b : [1, 2,\n    3]\n  c { d = ${engine.a} }\n  \"e.f\" = \"\"\"raw \"quoted\" text\"\"\"\n  g += x\n}\n")]
    [InlineData("engine.tls.certificates = [{ chain = \"/a\", key = \"/b\" }, { chain = \"/c\", key = \"/d\" }]\n")]
    [InlineData("engine.smtp.restrictions.client = [\"check_client_access cidr:/etc/x\", permit]\nengine.b = \"\\u00e9\\t\"\n")]
    public void Well_formed_files_pass(string text)
    {
        var (error, _) = HoconCheck.Check(text);
        Assert.Null(error);
    }

    [Fact]
    public void The_line_of_each_key_is_kept_for_errors_found_later()
    {
        var (_, lines) = HoconCheck.Check("engine {\n  smtp {\n    banner = x\n    restrictions.recipient = [permit]\n  }\n}\nengine.delivery.relayhost = \"[h]:25\"\n");
        Assert.Equal(4, HoconCheck.LineOf(lines, "engine.smtp.restrictions.recipient"));
        Assert.Equal(2, HoconCheck.LineOf(lines, "engine.smtp.listen"));
        Assert.Equal(7, HoconCheck.LineOf(lines, "engine.delivery.relayhost"));
        Assert.Null(HoconCheck.LineOf(lines, "akka.remote"));
        Assert.Equal("f.conf: line 4: engine.smtp.restrictions.recipient: it must refuse relaying",
            EngineConfig.Locate("engine.smtp.restrictions.recipient: it must refuse relaying", "f.conf", lines));
        Assert.Equal("no setting named", EngineConfig.Locate("no setting named", "f.conf", lines));
    }

    [Fact]
    public void Loading_a_broken_file_names_it_and_its_line_and_an_unresolved_substitution_is_found_in_the_text()
    {
        var dir = Directory.CreateTempSubdirectory("hocon-check").FullName;
        try
        {
            var broken = Path.Combine(dir, "broken.conf");
            File.WriteAllText(broken, "engine {\n  smtp.banner = [x\n}\n");
            var e = Assert.Throws<ConfigurationException>(() => EngineConfig.Load(broken, []));
            Assert.Equal($"{broken}: line 3, column 1: '}}' inside the '[' opened at line 2: the array is not closed", e.Message);

            var substitution = Path.Combine(dir, "substitution.conf");
            File.WriteAllText(substitution, "engine {\n  smtp.banner = x\n  smtp.hostname = ${nowhere.at-all}\n}\n");
            e = Assert.Throws<ConfigurationException>(() => EngineConfig.Load(substitution, []));
            Assert.StartsWith($"{substitution}: line 3: ", e.Message, StringComparison.Ordinal);

            e = Assert.Throws<ConfigurationException>(() => EngineConfig.Load(null, ["engine.smtp.banner = \"open"]));
            Assert.StartsWith("--set engine.smtp.banner = \"open: line 1, column 22: a string that does not end", e.Message, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
