using Engine.Cli;
using Engine.Cli.Admin;

namespace Engine.Tests.Cli;

public sealed class MailqSpecs
{
    private static readonly DateTimeOffset Arrival = new(2026, 11, 28, 9, 5, 7, TimeSpan.Zero);

    [Fact]
    public void Mailq_prints_postfix_shape_with_flags_reasons_pending_recipients_and_the_total()
    {
        QueueEntry[] messages =
        [
            new("01M8GNQTR71X5XT3", "active", Arrival, 1500, "jane@campus.test", [new RecipientState("bob@example.net", "pending")]),
            new("01M8GNQTR71X5XT4", "deferred", Arrival, 900, "", [
                new RecipientState("carol@example.org", "deferred", "connect to mx.example.org[192.0.2.1]:25: Connection refused", 3),
                new RecipientState("dave@example.org", "delivered"),
            ]),
            new("01M8GNQTR71X5XT5", "hold", Arrival, 0, "x@y.test", [new RecipientState("z@y.test", "pending")]),
        ];
        var pad = new string(' ', 47);
        Assert.Equal(
            "-Queue ID-        --Size-- ----Arrival Time---- -Sender/Recipient-------\n"
            + "01M8GNQTR71X5XT3*     1500  Sat Nov 28 09:05:07  jane@campus.test\n"
            + pad + "bob@example.net\n"
            + "\n"
            + "01M8GNQTR71X5XT4       900  Sat Nov 28 09:05:07  MAILER-DAEMON\n"
            + "(connect to mx.example.org[192.0.2.1]:25: Connection refused)\n"
            + pad + "carol@example.org\n"
            + "\n"
            + "01M8GNQTR71X5XT5!        0  Sat Nov 28 09:05:07  x@y.test\n"
            + pad + "z@y.test\n"
            + "\n-- 2 Kbytes in 3 Requests.\n",
            Mailq.Format(messages, TimeZoneInfo.Utc));
    }

    [Fact]
    public void An_empty_queue_says_so_and_one_message_is_one_request()
    {
        Assert.Equal("Mail queue is empty\n", Mailq.Format([], TimeZoneInfo.Utc));
        Assert.EndsWith("\n-- 0 Kbytes in 1 Request.\n", Mailq.Format([new("01M8GNQTR71X5XT3", "incoming", Arrival, 10, "a@b.test", [])], TimeZoneInfo.Utc),
            StringComparison.Ordinal);
    }
}
