using System.Text;
using Engine.Protocols.Pop3;

namespace Engine.Tests.Protocols;

public sealed class Pop3ProtocolSpecs
{
    private static Pop3Command Parse(string line)
    {
        Assert.True(Pop3Parser.TryParse(Encoding.ASCII.GetBytes(line), out var command, out var error), error);
        return command!;
    }

    private static Pop3Maildrop Drop() => new([
        new Pop3Message(1, "0000000a5f000000", 120, 10),
        new Pop3Message(2, "0000000b5f000000", 200, 11),
        new Pop3Message(3, "0000000c5f000000", 80, 12),
    ]);

    /// <summary>A session logged in as jane with the three messages of <see cref="Drop"/>.</summary>
    private static Pop3Protocol LoggedIn()
    {
        var pop = new Pop3Protocol(allowPlaintext: true, "mx.test");
        Assert.Equal(new Pop3Action.Reply("+OK"), pop.Handle(Parse("USER jane@campus.test")));
        Assert.Equal(new Pop3Action.Authenticate("jane@campus.test", "pass word"), pop.Handle(Parse("PASS pass word")));
        pop.LoggedIn("jane@campus.test", Drop());
        return pop;
    }

    private static string Reply(Pop3Protocol pop, string line) => Assert.IsType<Pop3Action.Reply>(pop.Handle(Parse(line))).Text;

    [Theory]
    [InlineData("stat", Pop3Verb.Stat, "")]
    [InlineData("LIST 2", Pop3Verb.List, "2")]
    [InlineData("top 1 10", Pop3Verb.Top, "1|10")]
    [InlineData("PASS  two  spaces ", Pop3Verb.Pass, " two  spaces ")]
    [InlineData("AUTH PLAIN AGphbmUAc2VjcmV0", Pop3Verb.Auth, "PLAIN|AGphbmUAc2VjcmV0")]
    public void Commands_parse_case_insensitively_with_their_arguments(string line, Pop3Verb verb, string args)
    {
        var command = Parse(line);
        Assert.Equal(verb, command.Verb);
        Assert.Equal(args, string.Join("|", command.Args));
    }

    [Theory]
    [InlineData("FROB", "unknown command")]
    [InlineData("RETRIEVE 1", "unknown command")]
    [InlineData("LIST  1", "bad argument")]
    [InlineData("USER aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "bad argument")]
    [InlineData("NOOP \u0001", "bad character in command")]
    public void Bad_lines_are_refused_with_a_reason(string line, string error)
    {
        Assert.False(Pop3Parser.TryParse(Encoding.Latin1.GetBytes(line), out _, out var why));
        Assert.Equal(error, why);
    }

    [Fact]
    public void A_line_over_255_octets_is_refused()
    {
        Assert.False(Pop3Parser.TryParse(Encoding.ASCII.GetBytes("NOOP " + new string('x', 250)), out _, out var why));
        Assert.Equal("line too long", why);
    }

    [Fact]
    public void The_password_never_shows_in_what_a_log_may_print()
    {
        Assert.DoesNotContain("secret", Parse("PASS secret").ForLog, StringComparison.Ordinal);
        Assert.DoesNotContain("AGphbmUAc2VjcmV0", Parse("AUTH PLAIN AGphbmUAc2VjcmV0").ForLog, StringComparison.Ordinal);
    }

    [Fact]
    public void Authorization_takes_user_and_pass_or_auth_plain_and_nothing_else()
    {
        var pop = new Pop3Protocol(allowPlaintext: true, "mx.test");
        Assert.StartsWith("-ERR", Reply(pop, "STAT"), StringComparison.Ordinal);
        Assert.Equal("-ERR USER first", Reply(pop, "PASS x"));
        Assert.Equal(new Pop3Action.Authenticate("jane", "secret"), pop.Handle(Parse("AUTH PLAIN AGphbmUAc2VjcmV0")));
        Assert.IsType<Pop3Action.Continue>(pop.Handle(Parse("AUTH PLAIN")));
        Assert.True(pop.AwaitingSaslResponse);
        Assert.Equal(new Pop3Action.Authenticate("jane", "secret"), pop.SaslResponse("AGphbmUAc2VjcmV0"));
        Assert.Equal("-ERR [AUTH] Invalid base64 data", Assert.IsType<Pop3Action.Reply>(pop.Handle(Parse("AUTH PLAIN !!!!"))).Text);
        // authzid "bob" acting as jane is refused
        Assert.Equal("jane", Assert.IsType<Pop3Action.AuthFailed>(pop.Handle(Parse("AUTH PLAIN Ym9iAGphbmUAc2VjcmV0"))).User); // authzid bob: no master users
        Assert.Equal(Pop3State.Authorization, pop.State);
    }

    [Fact]
    public void Without_a_protected_channel_no_plaintext_login_is_offered_or_taken()
    {
        var pop = new Pop3Protocol(allowPlaintext: false, "mx.test");
        Assert.DoesNotContain("USER", pop.Capabilities.Split("\r\n"));
        Assert.DoesNotContain("SASL PLAIN", pop.Capabilities.Split("\r\n"));
        Assert.StartsWith("-ERR [AUTH]", Reply(pop, "USER jane"), StringComparison.Ordinal);
        Assert.StartsWith("-ERR [AUTH]", Reply(pop, "AUTH PLAIN AGphbmUAc2VjcmV0"), StringComparison.Ordinal);
    }

    [Fact]
    public void STLS_is_offered_until_TLS_is_on_and_then_plaintext_logins_are_taken()
    {
        var pop = new Pop3Protocol(allowPlaintext: false, "mx.test", tlsAvailable: true);
        Assert.Contains("STLS", pop.Capabilities.Split("\r\n"));
        Assert.Equal("-ERR STLS takes no arguments", Reply(pop, "STLS now"));
        Assert.Equal(new Pop3Action.StartTls("+OK Begin TLS negotiation now."), pop.Handle(Parse("STLS")));
        pop.TlsStarted();
        Assert.DoesNotContain("STLS", pop.Capabilities.Split("\r\n"));
        Assert.Contains("USER", pop.Capabilities.Split("\r\n"));
        Assert.Equal("-ERR Command not permitted when TLS active", Reply(pop, "STLS"));
        Assert.Equal("+OK", Reply(pop, "USER jane"));
        Assert.Equal("-ERR STLS is not available", Reply(new Pop3Protocol(allowPlaintext: true, "mx.test"), "STLS"));
    }

    [Fact]
    public void Stat_list_and_uidl_count_live_messages_and_dele_hides_one_until_rset()
    {
        var pop = LoggedIn();
        Assert.Equal(Pop3State.Transaction, pop.State);
        Assert.Equal("+OK 3 400", Reply(pop, "STAT"));
        Assert.Equal("+OK 3 messages\r\n1 120\r\n2 200\r\n3 80\r\n.", Reply(pop, "LIST"));
        Assert.Equal("+OK 2 0000000b5f000000", Reply(pop, "UIDL 2"));
        Assert.Equal("+OK Marked to be deleted.", Reply(pop, "DELE 2"));
        Assert.Equal("+OK 2 200", Reply(pop, "STAT"));
        Assert.Equal("-ERR There's no message with that number.", Reply(pop, "DELE 2"));
        Assert.Equal("-ERR There's no message with that number.", Reply(pop, "RETR 2"));
        Assert.Equal("+OK 2 messages\r\n1 0000000a5f000000\r\n3 0000000c5f000000\r\n.", Reply(pop, "UIDL"));
        Assert.Equal("+OK", Reply(pop, "RSET"));
        Assert.Equal("+OK 3 400", Reply(pop, "STAT"));
    }

    [Theory]
    [InlineData("RETR 0")]
    [InlineData("RETR 4")]
    [InlineData("RETR -1")]
    [InlineData("RETR x")]
    [InlineData("LIST 99999999999999")]
    [InlineData("TOP 1")]
    [InlineData("TOP 1 x")]
    public void Numbers_out_of_range_or_malformed_get_err(string line)
    {
        Assert.StartsWith("-ERR", Reply(LoggedIn(), line), StringComparison.Ordinal);
    }

    [Fact]
    public void Retr_and_top_ask_for_the_message_and_quit_removes_the_deleted_ones()
    {
        var pop = LoggedIn();
        Assert.Equal(new Pop3Action.SendMessage(Drop().All[0], null), pop.Handle(Parse("RETR 1")));
        Assert.Equal(new Pop3Action.SendMessage(Drop().All[2], 5), pop.Handle(Parse("TOP 3 5")));
        pop.Handle(Parse("DELE 1"));
        pop.Handle(Parse("DELE 3"));
        var update = Assert.IsType<Pop3Action.Update>(pop.Handle(Parse("QUIT")));
        Assert.Equal([10L, 12L], update.DeletedUids);
        Assert.Equal(Pop3State.Update, pop.State);
    }

    [Fact]
    public void Quit_before_login_just_closes()
    {
        Assert.IsType<Pop3Action.Close>(new Pop3Protocol(true, "mx.test").Handle(Parse("QUIT")));
    }

    [Theory]
    [InlineData("Subject: a\r\nFrom: b\r\n\r\nline 1\r\nline 2\r\nline 3\r\n", 0, "Subject: a\r\nFrom: b\r\n\r\n")]
    [InlineData("Subject: a\r\nFrom: b\r\n\r\nline 1\r\nline 2\r\nline 3\r\n", 2, "Subject: a\r\nFrom: b\r\n\r\nline 1\r\nline 2\r\n")]
    [InlineData("Subject: a\r\n\r\nline 1\r\n", 10, "Subject: a\r\n\r\nline 1\r\n")]
    [InlineData("Subject: a\n\nbare lf\nsecond\n", 1, "Subject: a\n\nbare lf\n")]
    [InlineData("Subject: no body", 3, "Subject: no body")]
    public void Top_sends_the_header_and_the_first_lines(string message, int lines, string expected)
    {
        var bytes = Encoding.ASCII.GetBytes(message);
        Assert.Equal(expected, Encoding.ASCII.GetString(bytes, 0, Pop3Top.Length(bytes, lines)));
    }
}
