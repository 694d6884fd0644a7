using System.Text;
using Engine.Filtering.Access;
using Engine.Filtering.Content;
using Engine.Filtering.Restrictions;

namespace Engine.Tests.Filtering;

/// <summary>header_checks, mime_header_checks, nested_header_checks and body_checks on streamed text, fed whole and one byte at a time.</summary>
public sealed class ContentScannerSpecs : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("engine-content-").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    private AccessTable Table(string text)
    {
        var path = Path.Combine(_dir, Guid.NewGuid().ToString("N"));
        File.WriteAllText(path, text);
        return AccessTable.Open("regexp:" + path);
    }

    private const string Message = "Received: from client.test\r\nSubject: hello\r\n  world\r\nX-Spam-Flag: YES\r\nX-Mailer: Old 1.0\r\n"
        + "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\npreamble\r\n--b1\r\nContent-Type: text/plain\r\n\r\n"
        + "a plain line\r\nbuy cheap pills\r\n--b1\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\nFrom: x@y.test\r\n\r\ninner body\r\n"
        + "--b1\r\nContent-Type: application/x-msdownload; name=\"a.exe\"\r\n\r\nTVqQ\r\n--b1--\r\nepilogue\r\n";

    /// <summary>The text through a scanner, whole or in pieces of <paramref name="piece"/> octets.</summary>
    private static (string Output, ContentScanner Scanner) Run(ContentChecks checks, string text, int piece)
    {
        var scanner = new ContentScanner(checks);
        var output = new StringBuilder();
        var bytes = Encoding.UTF8.GetBytes(text);
        for (var i = 0; i < bytes.Length; i += piece)
            output.Append(Encoding.UTF8.GetString(scanner.Scan(bytes.AsSpan(i, Math.Min(piece, bytes.Length - i))).Span));
        output.Append(Encoding.UTF8.GetString(scanner.Finish().Span));
        return (output.ToString(), scanner);
    }

    [Theory]
    [InlineData(int.MaxValue)]
    [InlineData(1)]
    [InlineData(7)]
    public void Headers_are_checked_unfolded_and_ignored_replaced_or_prepended(int piece)
    {
        var checks = new ContentChecks(Table("/^Subject: hello +world$/ WARN folded\n/^X-Spam-Flag:/ IGNORE\n/^X-Mailer: Old/ REPLACE X-Mailer: hidden\n"
            + "/^Received:/ PREPEND X-Seen: yes\n"), null, null, null);
        var (output, scanner) = Run(checks, Message, piece);
        Assert.StartsWith("X-Seen: yes\r\nReceived: from client.test\r\nSubject: hello\r\n  world\r\nX-Mailer: hidden\r\nMIME-Version", output, StringComparison.Ordinal);
        Assert.DoesNotContain("X-Spam-Flag", output);
        Assert.EndsWith("--b1--\r\nepilogue\r\n", output, StringComparison.Ordinal);
        Assert.Null(scanner.Rejection);
        Assert.Contains(scanner.Findings, f => f == new ContentFinding("warn", "header Subject: hello  world", "folded"));
    }

    [Theory]
    [InlineData(int.MaxValue)]
    [InlineData(1)]
    public void Mime_nested_and_body_lines_go_to_their_own_tables(int piece)
    {
        var mime = Table("/^Content-Type: application\\/x-msdownload/ REJECT no executables\n");
        var nested = Table("/^Subject: inner/ HOLD attached inner\n/^Subject: hello/ REJECT not for the outer header\n");
        var body = Table("/cheap pills/ DISCARD pills\n/^--b1/ REJECT boundaries are not body\n/^Content-Type/ REJECT part headers are not body\n");
        var (_, scanner) = Run(new ContentChecks(null, null, nested, body), Message, piece);
        Assert.Null(scanner.Rejection);
        Assert.Equal([new TransactionEffect.Discard("pills"), new TransactionEffect.Hold("attached inner")], scanner.Effects); // in the order of the text

        (_, scanner) = Run(new ContentChecks(null, mime, null, null), Message, piece);
        Assert.Equal("550 5.7.1 no executables", scanner.Rejection?.ToString());
        Assert.Equal("reject", Assert.Single(scanner.Findings).Action);
    }

    [Fact]
    public void A_rejection_stops_the_inspection_and_codes_are_taken_as_given()
    {
        var checks = new ContentChecks(Table("/^Subject:/ REJECT\n/^X-Mailer:/ HOLD too late\n"), null, null, Table("/plain/ 451 4.7.0 try later\n"));
        var (_, scanner) = Run(checks, Message, int.MaxValue);
        Assert.Equal("550 5.7.1 Message content rejected", scanner.Rejection?.ToString());
        Assert.Empty(scanner.Effects);
        (_, scanner) = Run(new ContentChecks(null, null, null, Table("/plain/ 451 4.7.0 try later\n")), Message, 3);
        Assert.Equal("451 4.7.0 try later", scanner.Rejection?.ToString());
        (_, scanner) = Run(new ContentChecks(null, null, null, Table("/plain/ 550\n")), Message, 3);
        Assert.Equal("550 5.7.1 Message content rejected", scanner.Rejection?.ToString());
    }

    [Fact]
    public void A_huge_folded_header_is_written_through_and_a_closing_outer_boundary_ends_the_inner_parts()
    {
        var huge = "Subject: start\r\n" + string.Concat(Enumerable.Repeat(" more words\r\n", 20_000)) + "X-After: 1\r\n\r\nbody\r\n";
        var (output, scanner) = Run(new ContentChecks(Table("/^X-After:/ IGNORE\n/^Subject: start/ WARN long\n"), null, null, null), huge, 4096);
        Assert.Equal(huge.Replace("X-After: 1\r\n", ""), output); // nothing of the long header lost, the next one still checked
        Assert.Equal("warn", Assert.Single(scanner.Findings, f => f.Action == "warn").Action);

        var nested = "Content-Type: multipart/mixed; boundary=outer\r\n\r\n--outer\r\nContent-Type: multipart/alternative; boundary=inner\r\n\r\n"
            + "--inner\r\nContent-Type: text/plain\r\n\r\ninside\r\n--outer--\r\nX-Not-A-Header: after the end\r\n";
        (_, scanner) = Run(new ContentChecks(null, Table("/^Content-Type: text/ WARN part\n"), null, Table("/X-Not-A-Header/ REJECT epilogue is body\n")), nested, 5);
        Assert.Equal("550 5.7.1 epilogue is body", scanner.Rejection?.ToString());
    }
}
