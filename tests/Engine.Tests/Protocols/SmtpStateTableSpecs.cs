using Engine.Primitives;
using Engine.Protocols.Smtp;

namespace Engine.Tests.Protocols;

public sealed class SmtpStateTableSpecs
{
    private static readonly MailCommand Mail = new(EmailAddress.Null, MailParameters.None);
    private static readonly RcptCommand Rcpt = new(new EmailAddress("a", "b.example"), RcptParameters.None);

    [Theory]
    [InlineData(SmtpPhase.Connected, "MAIL", 503)]
    [InlineData(SmtpPhase.Mail, "MAIL", 503)]
    [InlineData(SmtpPhase.Greeted, "RCPT", 503)]
    [InlineData(SmtpPhase.Greeted, "DATA", 503)]
    [InlineData(SmtpPhase.Mail, "DATA", 503)]
    [InlineData(SmtpPhase.Bdat, "DATA", 503)]
    [InlineData(SmtpPhase.Bdat, "MAIL", 503)]
    public void StateTable_should_refuse_commands_out_of_order(SmtpPhase phase, string verb, int code)
    {
        SmtpCommand command = verb switch { "MAIL" => Mail, "RCPT" => Rcpt, _ => DataCommand.Instance };
        var reply = SmtpStateTable.Check(phase, command);
        Assert.NotNull(reply);
        Assert.Equal(code, reply.Code);
        Assert.Equal(code == 503 ? "5.5.1" : "5.5.1", reply.Enhanced);
    }

    [Theory]
    [InlineData(SmtpPhase.Greeted, "MAIL")]
    [InlineData(SmtpPhase.Mail, "RCPT")]
    [InlineData(SmtpPhase.Rcpt, "RCPT")]
    [InlineData(SmtpPhase.Rcpt, "DATA")]
    [InlineData(SmtpPhase.Bdat, "BDAT")]
    [InlineData(SmtpPhase.Bdat, "RSET")]
    public void StateTable_should_allow_commands_in_order(SmtpPhase phase, string verb)
    {
        SmtpCommand command = verb switch
        {
            "MAIL" => Mail,
            "RCPT" => Rcpt,
            "BDAT" => new BdatCommand(1, false),
            "RSET" => RsetCommand.Instance,
            _ => DataCommand.Instance,
        };
        Assert.Null(SmtpStateTable.Check(phase, command));
    }

    [Fact]
    public void StateTable_should_answer_no_valid_recipients_when_every_rcpt_was_refused()
    {
        var reply = SmtpStateTable.Check(SmtpPhase.Mail, DataCommand.Instance, rcptRefused: true)!;
        Assert.Equal(554, reply.Code);
        Assert.Contains("no valid recipients", reply.Text);
        Assert.Contains("need RCPT", SmtpStateTable.Check(SmtpPhase.Mail, DataCommand.Instance)!.Text);
    }

    [Fact]
    public void StateTable_should_take_MAIL_before_HELO_only_when_helo_is_not_required()
    {
        Assert.Equal("503 5.5.1 Error: send HELO/EHLO first", SmtpStateTable.Check(SmtpPhase.Connected, Mail)!.ToString());
        Assert.Null(SmtpStateTable.Check(SmtpPhase.Connected, Mail, heloRequired: false));
        Assert.NotNull(SmtpStateTable.Check(SmtpPhase.Connected, Rcpt, heloRequired: false));
    }
}
