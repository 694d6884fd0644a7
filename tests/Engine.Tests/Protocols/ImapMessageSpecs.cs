using System.Text;
using Engine.Protocols.Imap;

namespace Engine.Tests.Protocols;

/// <summary>FETCH's view of a message: sections as exact octets, ENVELOPE, BODYSTRUCTURE, and the FETCH and SEARCH parsers.</summary>
public sealed class ImapMessageSpecs
{
    private const string Nested =
        "From: Jane Doe <jane@campus.example>\r\n" +
        "To: bob@example.net, \"Rolf Ä\" <rolf@example.org>\r\n" +
        "Subject: parts\r\n" +
        "Date: Sat, 28 Nov 2026 12:00:00 +0000\r\n" +
        "Message-ID: <m1@campus.example>\r\n" +
        "MIME-Version: 1.0\r\n" +
        "Content-Type: multipart/mixed; boundary=\"outer\"\r\n" +
        "\r\n" +
        "preamble\r\n" +
        "--outer\r\n" +
        "Content-Type: text/plain; charset=utf-8\r\n" +
        "\r\n" +
        "first part\r\n" +
        "two lines\r\n" +
        "--outer\r\n" +
        "Content-Type: message/rfc822\r\n" +
        "\r\n" +
        "From: inner@example.net\r\n" +
        "Subject: inner\r\n" +
        "\r\n" +
        "inner body\r\n" +
        "--outer\r\n" +
        "Content-Type: application/octet-stream\r\n" +
        "Content-Transfer-Encoding: base64\r\n" +
        "Content-Disposition: attachment; filename=\"a.bin\"\r\n" +
        "\r\n" +
        "AAEC\r\n" +
        "--outer--\r\n";

    private static MessageStructure Parse(string text) => MessageStructure.Of(Encoding.UTF8.GetBytes(text));

    private static string Section(MessageStructure m, string section)
    {
        Assert.True(BodySection.TryParse(section, out var parsed), section);
        return m.Section(parsed) is { } octets ? Encoding.UTF8.GetString(octets.Span) : "<none>";
    }

    [Theory]
    [InlineData("1", "first part\r\ntwo lines")]
    [InlineData("1.MIME", "Content-Type: text/plain; charset=utf-8\r\n\r\n")]
    [InlineData("2.HEADER", "From: inner@example.net\r\nSubject: inner\r\n\r\n")]
    [InlineData("2.TEXT", "inner body")]
    [InlineData("2.1", "inner body")]
    [InlineData("3", "AAEC")]
    [InlineData("4", "<none>")]
    [InlineData("1.2", "<none>")]
    [InlineData("1.2.3.4.5", "<none>")]
    [InlineData("HEADER.FIELDS (SUBJECT message-id)", "Subject: parts\r\nMessage-ID: <m1@campus.example>\r\n\r\n")]
    public void Sections_should_be_the_exact_octets_of_the_stored_message(string section, string expected)
    {
        Assert.Equal(expected, Section(Parse(Nested), section));
    }

    [Fact]
    public void Header_and_text_should_split_the_message_at_the_blank_line()
    {
        var m = Parse(Nested);
        var header = Section(m, "HEADER");
        var text = Section(m, "TEXT");
        Assert.EndsWith("boundary=\"outer\"\r\n\r\n", header);
        Assert.StartsWith("preamble\r\n--outer", text);
        Assert.Equal(Nested, header + text);
        Assert.Equal(Nested, Section(m, ""));
    }

    [Theory]
    [InlineData("Subject: a\n\nbody\n", "Subject: a\n\n", "body\n")]
    [InlineData("Subject: a\r\nX: b\r\n", "Subject: a\r\nX: b\r\n", "")]
    [InlineData("\r\nonly a body", "\r\n", "only a body")]
    public void The_header_ends_after_the_first_blank_line_whatever_the_line_ends(string message, string header, string text)
    {
        var m = Parse(message);
        Assert.Equal(header, Section(m, "HEADER"));
        Assert.Equal(text, Section(m, "TEXT"));
    }

    [Fact]
    public void Header_fields_not_should_keep_folded_lines_of_the_fields_it_keeps()
    {
        var m = Parse("Subject: a\r\n long subject\r\nX-Spam: yes\r\n  more\r\nTo: b@example.net\r\n\r\nbody\r\n");
        Assert.Equal("Subject: a\r\n long subject\r\nTo: b@example.net\r\n\r\n", Section(m, "HEADER.FIELDS.NOT (X-SPAM)"));
    }

    [Fact]
    public void Binary_should_undo_the_transfer_encoding()
    {
        Assert.True(BodySection.TryParse("3", out var part));
        Assert.Equal(new byte[] { 0, 1, 2 }, Parse(Nested).Binary(part)!.Value.ToArray());
    }

    [Fact]
    public void Envelope_should_list_addresses_with_sender_and_reply_to_from_from()
    {
        var envelope = Parse(Nested).Envelope();
        Assert.Equal(
            "(\"Sat, 28 Nov 2026 12:00:00 +0000\" \"parts\" ((\"Jane Doe\" NIL \"jane\" \"campus.example\")) ((\"Jane Doe\" NIL \"jane\" \"campus.example\")) " +
            "((\"Jane Doe\" NIL \"jane\" \"campus.example\")) ((NIL NIL \"bob\" \"example.net\")(\"Rolf =?utf-8?b?w4Q=?=\" NIL \"rolf\" \"example.org\")) " +
            "NIL NIL NIL \"<m1@campus.example>\")", envelope);
    }

    [Fact]
    public void Bodystructure_should_give_sizes_and_lines_of_each_part()
    {
        var structure = Parse(Nested).BodyStructure(extensible: false);
        Assert.Equal(
            "((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" 21 2)" +
            "(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 53 (NIL \"inner\" ((NIL NIL \"inner\" \"example.net\")) ((NIL NIL \"inner\" \"example.net\")) " +
            "((NIL NIL \"inner\" \"example.net\")) NIL NIL NIL NIL NIL) (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 10 1) 4)" +
            "(\"application\" \"octet-stream\" NIL NIL NIL \"base64\" 4) \"mixed\")", structure);
        Assert.Contains("(\"attachment\" (\"filename\" \"a.bin\"))", Parse(Nested).BodyStructure(extensible: true));
    }

    [Fact]
    public void A_message_without_mime_structure_should_still_be_fetched_whole()
    {
        const string broken = "Content-Type: multipart/mixed; boundary=never\r\nSubject: x\r\n\r\nno boundary ever\r\n";
        var m = Parse(broken);
        Assert.Equal(broken, Section(m, ""));
        Assert.Equal("no boundary ever\r\n", Section(m, "TEXT"));
        Assert.StartsWith("(", m.BodyStructure(true));
    }

    [Theory]
    [InlineData("ALL", 4)]
    [InlineData("FAST", 3)]
    [InlineData("(UID FLAGS BODY.PEEK[HEADER.FIELDS (FROM TO)] BODY[]<0.100>)", 4)]
    [InlineData("BINARY.SIZE[1]", 1)]
    public void Fetch_items_should_parse(string items, int count)
    {
        var reader = new ImapCommandReader(8192, 1024);
        var events = new List<ImapInput>();
        var bytes = new System.Buffers.ReadOnlySequence<byte>(Encoding.ASCII.GetBytes($"a FETCH 1 {items}\r\n"));
        var sequence = new System.Buffers.SequenceReader<byte>(bytes);
        reader.Read(ref sequence, events);
        var command = Assert.IsType<ImapInput.Command>(Assert.Single(events)).Value;
        Assert.True(FetchRequest.TryParse(command.Args[1], out var parsed, out var error), error);
        Assert.Equal(count, parsed.Count);
    }

    [Theory]
    [InlineData("BODY[1.0]")]
    [InlineData("BODY[MIME]")]
    [InlineData("BODY[]<5>")]
    [InlineData("BINARY[HEADER]")]
    [InlineData("NOSUCH")]
    [InlineData("(ALL FLAGS)")]
    public void Bad_fetch_items_should_be_refused(string items)
    {
        ImapToken token = items.StartsWith('(')
            ? new ImapToken.List(items.Trim('(', ')').Split(' ').Select(i => (ImapToken)new ImapToken.Atom(i)).ToArray())
            : new ImapToken.Atom(items);
        Assert.False(FetchRequest.TryParse(token, out _, out _));
    }
}
