using Engine.Cli;
using Engine.Cli.Admin;

namespace Engine.Tests.Cli;

/// <summary>mailq in the shape of Postfix 3's postqueue -p with long queue ids (showq_compat.c's formats).</summary>
public sealed class MailqSpecs
{
    private static readonly DateTimeOffset Arrival = new(2026, 11, 8, 9, 5, 7, TimeSpan.Zero);
    private static readonly string Blank = new(' ', 47);

    /// <summary>printf("%*s(%s)\n", 76 - strlen(reason), "", reason), as postqueue.</summary>
    private static string Reason(string text) => new string(' ', 76 - text.Length) + "(" + text + ")\n";

    [Fact]
    public void Mailq_prints_postfix_shape_with_flags_reasons_pending_recipients_and_the_total()
    {
        QueueEntry[] messages =
        [
            new("4JMhxB6T8Fz9nsBq", "active", Arrival, 1910, "jane@campus.test", [new RecipientState("bob@example.net", "pending")]),
            new("4JMhxB6T8Fz9nsBr", "deferred", Arrival, 900, "", [
                new RecipientState("carol@example.org", "deferred", "connect to mx.example.org[192.0.2.1]:25: Connection refused", 3),
                new RecipientState("erin@example.org", "deferred", "connect to mx.example.org[192.0.2.1]:25: Connection refused", 3),
                new RecipientState("dave@example.org", "delivered"),
                new RecipientState("frank@example.com", "pending"),
            ]),
            new("4JMhxB6T8Fz9nsBs", "hold", Arrival, 0, "x@y.test", [new RecipientState("z@y.test", "pending")]),
        ];
        Assert.Equal(
            "----Queue ID----- --Size-- ---Arrival Time---- --Sender/Recipient------\n"
            + "4JMhxB6T8Fz9nsBq*     1910 Sun Nov  8 09:05:07 jane@campus.test\n"
            + Blank + "bob@example.net\n"
            + "\n"
            + "4JMhxB6T8Fz9nsBr       900 Sun Nov  8 09:05:07 MAILER-DAEMON\n"
            + Reason("connect to mx.example.org[192.0.2.1]:25: Connection refused")
            + Blank + "carol@example.org\n"
            + Blank + "erin@example.org\n"
            + Reason("reason unavailable")
            + Blank + "frank@example.com\n"
            + "\n"
            + "4JMhxB6T8Fz9nsBs!        0 Sun Nov  8 09:05:07 x@y.test\n"
            + Blank + "z@y.test\n"
            + "\n-- 2 Kbytes in 3 Requests.\n",
            Mailq.Format(messages, TimeZoneInfo.Utc));
    }

    [Fact]
    public void An_empty_queue_says_so_and_one_message_is_one_request()
    {
        Assert.Equal("Mail queue is empty\n", Mailq.Format([], TimeZoneInfo.Utc));
        Assert.EndsWith("\n-- 0 Kbytes in 1 Request.\n", Mailq.Format([new("4JMhxB6T8Fz9nsBq", "incoming", Arrival, 10, "a@b.test", [])], TimeZoneInfo.Utc),
            StringComparison.Ordinal);
    }

    [Fact]
    public void Text_from_mail_cannot_drive_the_terminal()
    {
        Assert.Equal("Subject: ?[2J cleared\n\tfolded", Text.Safe("Subject: \u001b[2J cleared\n\tfolded"));
        Assert.Equal("plain", Text.Safe("plain"));
    }
}
