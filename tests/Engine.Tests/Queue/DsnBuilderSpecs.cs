using System.Text;
using Engine.Messages;
using Engine.Primitives;
using Engine.Queue.Bounces;
using MimeKit;

namespace Engine.Tests.Queue;

public sealed class DsnBuilderSpecs
{
    private static readonly DateTimeOffset Arrived = new(2026, 11, 28, 9, 0, 0, TimeSpan.Zero);

    private static readonly Envelope Envelope = new("jane@example.org", [new EnvelopeRecipient("a@remote.example", DsnNotify.Unspecified)],
        BodyType.SevenBit, false, DsnReturn.Full, "env-9", new ClientInfo("192.0.2.1", "c.example", "c.example", "ESMTP"), Arrived, 100);

    private static MemoryStream Original() => new(Encoding.ASCII.GetBytes("From: jane@example.org\r\nSubject: plans\r\n\r\nthe body\r\n"));

    [Theory]
    [InlineData("550 5.1.1 no such user", "5.1.1")]
    [InlineData("451 4.4.1 connect refused", "4.4.1")]
    [InlineData("554 transaction failed", "5.0.0")]
    [InlineData("421 closing", "4.0.0")]
    public void The_status_is_the_enhanced_code_of_the_reply_else_its_class(string reply, string status)
    {
        Assert.Equal(status, DsnBuilder.StatusOf(reply));
    }

    [Fact]
    public void A_delay_warning_says_delayed_until_when_and_returns_only_the_headers()
    {
        var until = Arrived.AddDays(5);
        var dsn = DsnBuilder.Build("mx.example", QueueId.Parse("01M8GNQTR71X5XT3"), Envelope,
            [new ReportedRecipient("a@remote.example", null, "4.4.1", "451 4.4.1 connect refused")], Original(), Arrived.AddHours(4),
            DsnKind.Delay, until);

        Assert.Equal("Delayed Mail (still being retried)", dsn.Subject);
        var report = Assert.IsType<MultipartReport>(dsn.Body);
        Assert.Contains("THIS IS A WARNING ONLY", ((TextPart)report[0]).Text);
        var group = Assert.IsType<MessageDeliveryStatus>(report[1]).StatusGroups[1];
        Assert.Equal("delayed", group["Action"]);
        Assert.Equal("4.4.1", group["Status"]);
        Assert.Equal(MimeKit.Utils.DateUtils.FormatDate(until), group["Will-Retry-Until"]);
        var headers = Assert.IsType<MimePart>(report[2]);
        Assert.Equal("text/rfc822-headers", headers.ContentType.MimeType);
        Assert.Empty(report.OfType<MessagePart>()); // RET=FULL or not, a warning does not carry the body
    }

    [Fact]
    public void A_failure_returns_the_whole_message_and_says_failed()
    {
        var dsn = DsnBuilder.Build("mx.example", QueueId.Parse("01M8GNQTR71X5XT3"), Envelope,
            [new ReportedRecipient("a@remote.example", null, "4.4.1", "451 4.4.1 connect refused")], Original(), Arrived.AddDays(5));

        Assert.Equal("Undelivered Mail Returned to Sender", dsn.Subject);
        var report = Assert.IsType<MultipartReport>(dsn.Body);
        var group = Assert.IsType<MessageDeliveryStatus>(report[1]).StatusGroups[1];
        Assert.Equal("failed", group["Action"]);
        Assert.Equal("4.4.1", group["Status"]); // expired after temporary failures: Postfix keeps the 4.x.x status
        Assert.False(group.Contains("Will-Retry-Until"));
        Assert.Equal("plans", Assert.IsType<MessagePart>(report[2]).Message?.Subject);
    }

    [Fact]
    public void A_failure_for_a_sender_who_asked_ret_hdrs_returns_only_the_headers()
    {
        var dsn = DsnBuilder.Build("mx.example", QueueId.Parse("01M8GNQTR71X5XT3"), Envelope with { Ret = DsnReturn.Headers },
            [new ReportedRecipient("a@remote.example", null, "5.1.1", "550 5.1.1 no")], Original(), Arrived);
        var report = Assert.IsType<MultipartReport>(dsn.Body);
        Assert.Equal("failed", Assert.IsType<MessageDeliveryStatus>(report[1]).StatusGroups[1]["Action"]);
        Assert.Equal("text/rfc822-headers", report[2].ContentType.MimeType);
        var returned = new StreamReader(((MimePart)report[2]).Content!.Open()).ReadToEnd();
        Assert.Contains("Subject: plans", returned, StringComparison.Ordinal);
        Assert.DoesNotContain("the body", returned, StringComparison.Ordinal);
    }

    [Fact]
    public void An_original_over_the_size_limit_is_returned_as_its_headers()
    {
        var dsn = DsnBuilder.Build("mx.example", QueueId.Parse("01M8GNQTR71X5XT3"), Envelope,
            [new ReportedRecipient("a@remote.example", null, "5.1.1", "550 5.1.1 no")], Original(), Arrived, sizeLimit: 20, to: "postmaster@mx.example");
        var report = Assert.IsType<MultipartReport>(dsn.Body);
        Assert.Equal("text/rfc822-headers", Assert.IsType<MimePart>(report[2]).ContentType.MimeType);
        Assert.Equal("postmaster@mx.example", dsn.To.Mailboxes.Single().Address);
    }

    [Fact]
    public void A_success_report_says_each_recipient_s_action_and_returns_only_the_headers_even_for_ret_full()
    {
        var dsn = DsnBuilder.Build("mx.example", QueueId.Parse("01M8GNQTR71X5XT3"), Envelope,
        [
            new ReportedRecipient("a@remote.example", "A@remote.example", "2.0.0", "250 2.0.0 relayed", Action: "relayed"),
            new ReportedRecipient("list@example.org", null, "2.0.0", "250 2.0.0 alias expanded", Action: "expanded"),
            new ReportedRecipient("bob@example.org", null, "2.0.0", "250 2.0.0 delivered to mailbox"),
        ], Original(), Arrived, DsnKind.Success);

        Assert.Equal("Successful Mail Delivery Report", dsn.Subject);
        Assert.EndsWith(".success@mx.example", dsn.MessageId, StringComparison.Ordinal);
        var report = Assert.IsType<MultipartReport>(dsn.Body);
        var groups = Assert.IsType<MessageDeliveryStatus>(report[1]).StatusGroups.Where(g => g.Contains("Final-Recipient")).ToArray();
        Assert.Equal(["relayed", "expanded", "delivered"], groups.Select(g => g["Action"]));
        Assert.All(groups, g => Assert.Equal("2.0.0", g["Status"]));
        Assert.Equal("rfc822; A@remote.example", groups[0]["Original-Recipient"]);
        Assert.Equal(DsnReturn.Full, Envelope.Ret);
        Assert.Equal("text/rfc822-headers", report[2].ContentType.MimeType); // RET=FULL is for "failed" DSNs (RFC 3461 4.3)
    }
}
