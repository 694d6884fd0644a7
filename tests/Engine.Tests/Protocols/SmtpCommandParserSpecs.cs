using System.Text;
using Engine.Primitives;
using Engine.Protocols.Smtp;

namespace Engine.Tests.Protocols;

public sealed class SmtpCommandParserSpecs
{
    private static SmtpParseResult Parse(string line) => new SmtpCommandParser().Parse(Encoding.UTF8.GetBytes(line));

    [Theory]
    [InlineData("EHLO mail.example.org", "EHLO")]
    [InlineData("ehlo [192.0.2.1]", "EHLO")]
    [InlineData("HELO x", "HELO")]
    [InlineData("DATA", "DATA")]
    [InlineData("rset", "RSET")]
    [InlineData("NOOP", "NOOP")]
    [InlineData("QUIT", "QUIT")]
    [InlineData("HELP", "HELP")]
    [InlineData("VRFY jane", "VRFY")]
    [InlineData("BDAT 10", "BDAT")]
    [InlineData("BDAT 0 LAST", "BDAT")]
    public void Parser_should_accept_each_verb(string line, string verb)
    {
        var result = Parse(line);
        Assert.True(result.IsOk, result.Error.ToString());
        Assert.Equal(verb, result.Command!.Verb);
    }

    [Theory]
    [InlineData("XYZZY", SmtpSyntaxError.UnknownCommand, 502, "5.5.2")]
    [InlineData("MAIL", SmtpSyntaxError.BadSyntax, 501, "5.5.4")]
    [InlineData("MAIL FROM:<a@b.example> BODY=BINARYMIME", SmtpSyntaxError.BadParameter, 501, "5.5.4")]
    [InlineData("MAIL FROM:<a@b.example> XFOO", SmtpSyntaxError.UnknownParameter, 555, "5.5.4")]
    [InlineData("MAIL FROM:<a@b.example> AUTH=a+4", SmtpSyntaxError.BadParameter, 501, "5.5.4")]
    [InlineData("RCPT TO:<a@b.example> NOTIFY=NEVER,DELAY", SmtpSyntaxError.BadParameter, 501, "5.5.4")]
    [InlineData("RCPT TO:<a@b..example>", SmtpSyntaxError.BadAddress, 501, "5.1.3")]
    [InlineData("RCPT TO:<a@b.example", SmtpSyntaxError.BadSyntax, 501, "5.5.4")]
    [InlineData("RCPT TO:<>", SmtpSyntaxError.BadSyntax, 501, "5.5.4")]
    [InlineData("MAIL FROM:<ü@b.example>", SmtpSyntaxError.NeedsSmtpUtf8, 553, "5.6.7")]
    [InlineData("EHLO", SmtpSyntaxError.BadSyntax, 501, "5.5.4")]
    [InlineData("QUIT now", SmtpSyntaxError.BadSyntax, 501, "5.5.4")]
    [InlineData("BDAT 1 FIRST", SmtpSyntaxError.BadSyntax, 501, "5.5.4")]
    public void Parser_should_refuse_with_the_matching_reply(string line, SmtpSyntaxError error, int code, string enhanced)
    {
        var result = Parse(line);
        Assert.False(result.IsOk);
        Assert.Equal(error, result.Error);
        var reply = SmtpSyntax.Reply(result.Error, result.Detail);
        Assert.Equal(code, reply.Code);
        Assert.Equal(enhanced, reply.Enhanced);
    }

    [Fact]
    public void Parser_should_limit_command_lines_to_512_octets_and_mail_lines_to_more()
    {
        Assert.True(Parse("NOOP " + new string('x', 505)).IsOk); // 510 + CRLF = 512
        Assert.Equal(SmtpSyntaxError.LineTooLong, Parse("NOOP " + new string('x', 506)).Error);
        var longOrcpt = "RCPT TO:<a@b.example> ORCPT=rfc822;" + new string('c', 600) + "@b.example";
        Assert.True(Parse(longOrcpt).IsOk);
    }

    [Fact]
    public void Parser_should_read_mail_parameters()
    {
        var mail = (MailCommand)Parse("MAIL FROM:<jane@Example.ORG> SIZE=1000 BODY=8bitmime RET=FULL ENVID=abc+2Bdef AUTH=jane+40example.org").Command!;
        Assert.Equal("jane", mail.From.LocalPart);
        Assert.Equal("example.org", mail.From.Domain);
        Assert.Equal(1000, mail.Parameters.Size);
        Assert.Equal(BodyType.EightBitMime, mail.Parameters.Body);
        Assert.Equal(DsnReturn.Full, mail.Parameters.Ret);
        Assert.Equal("abc+def", mail.Parameters.EnvId);
    }

    [Fact]
    public void Parser_should_read_the_null_sender_and_lenient_forms()
    {
        Assert.True(((MailCommand)Parse("MAIL FROM:<>").Command!).From.IsNull);
        Assert.Equal("a@b.example", ((MailCommand)Parse("MAIL FROM: <a@b.example>").Command!).From.ToString());
        Assert.Equal("a@b.example", ((MailCommand)Parse("MAIL FROM:a@b.example").Command!).From.ToString());
    }

    [Fact]
    public void Parser_should_read_rcpt_dsn_parameters()
    {
        var rcpt = (RcptCommand)Parse("RCPT TO:<x@y.example> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;x+2By@y.example").Command!;
        Assert.Equal(DsnNotify.Success | DsnNotify.Delay, rcpt.Parameters.Notify);
        Assert.Equal("rfc822", rcpt.Parameters.OrcptType);
        Assert.Equal("x+y@y.example", rcpt.Parameters.Orcpt);
    }

    [Fact]
    public void Parser_should_accept_bare_postmaster_only_in_rcpt()
    {
        Assert.True(Parse("RCPT TO:<Postmaster>").IsOk);
        Assert.False(Parse("MAIL FROM:<Postmaster>").IsOk);
    }
}
