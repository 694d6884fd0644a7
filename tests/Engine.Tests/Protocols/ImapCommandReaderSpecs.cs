using System.Buffers;
using System.Text;
using Engine.Protocols.Imap;

namespace Engine.Tests.Protocols;

public sealed class ImapCommandReaderSpecs
{
    private const int MaxLine = 200;
    private const long MaxLiteral = 1000;

    /// <summary>Feeds the octets whole, and one octet at a time; both must give the same events, which are returned.</summary>
    private static List<ImapInput> Read(string input)
    {
        var bytes = Encoding.UTF8.GetBytes(input);
        var whole = new List<ImapInput>();
        var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(bytes));
        var all = new ImapCommandReader(MaxLine, MaxLiteral);
        while (!reader.End)
            all.Read(ref reader, whole); // it stops after each command

        var bytewise = new List<ImapInput>();
        var one = new ImapCommandReader(MaxLine, MaxLiteral);
        foreach (var b in bytes)
        {
            var r = new SequenceReader<byte>(new ReadOnlySequence<byte>(new[] { b }));
            one.Read(ref r, bytewise);
        }
        Assert.Equal(whole.Select(Show), bytewise.Select(Show));
        return whole;
    }

    [Fact]
    public void Reading_stops_after_a_command_so_that_the_next_line_can_be_read_as_a_line()
    {
        var reader = new ImapCommandReader(MaxLine, MaxLiteral);
        var events = new List<ImapInput>();
        var octets = new SequenceReader<byte>(new ReadOnlySequence<byte>("a IDLE\r\nDONE\r\nb NOOP\r\n"u8.ToArray()));
        reader.Read(ref octets, events);
        Assert.Equal("a IDLE", Show(Assert.Single(events)));
        reader.ExpectLine = true; // what the session does after "+ idling"
        reader.Read(ref octets, events);
        Assert.Equal("DONE", Assert.IsType<ImapInput.Line>(events[1]).Text);
        reader.Read(ref octets, events);
        Assert.Equal("b NOOP", Show(events[2]));
        Assert.True(octets.End);
    }

    private static string Show(ImapInput input) => input switch
    {
        ImapInput.Command c => c.Value.ToString(),
        ImapInput.Continue c => $"+ {c.Tag}",
        ImapInput.Bad b => $"{b.Tag ?? "*"} BAD {b.Text}",
        ImapInput.TooBig t => $"{t.Tag} NO [TOOBIG] {t.Size}",
        ImapInput.Fatal f => $"* BYE {f.Text}",
        _ => input.ToString(),
    };

    private static ImapCommand Single(string input) => Assert.IsType<ImapInput.Command>(Assert.Single(Read(input))).Value;

    [Fact]
    public void A_simple_command_has_its_tag_upper_case_name_and_atoms()
    {
        var command = Single("a1 select INBOX\r\n");
        Assert.Equal("a1", command.Tag);
        Assert.Equal("SELECT", command.Name);
        Assert.Equal(new ImapToken.Atom("INBOX"), Assert.Single(command.Args));
    }

    [Fact]
    public void Quoted_strings_lists_and_sections_with_spaces_are_single_tokens()
    {
        var command = Single("a2 UID FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (FROM TO)]<0.2048> \"x \\\"y\\\" \\\\z\")\r\n");
        Assert.Equal("UID", command.Name);
        Assert.Equal("FETCH", command.Args[0].Text);
        Assert.Equal("1:*", command.Args[1].Text);
        var list = Assert.IsType<ImapToken.List>(command.Args[2]);
        Assert.Equal(["FLAGS", "BODY.PEEK[HEADER.FIELDS (FROM TO)]<0.2048>", "x \"y\" \\z"], list.Items.Select(t => t.Text));
    }

    [Fact]
    public void A_synchronizing_literal_asks_to_continue_and_a_non_synchronizing_one_does_not()
    {
        var events = Read("a3 LOGIN {4}\r\njane {6+}\r\nse cr\"\r\n");
        Assert.Equal(["+ a3", "a3 LOGIN {4} {6}"], events.Select(Show));
        var login = Assert.IsType<ImapInput.Command>(events[1]).Value;
        Assert.Equal("jane", login.Args[0].Text);
        Assert.Equal("se cr\"", login.Args[1].Text); // octets as they were, quotes and all
    }

    [Fact]
    public void A_literal_may_hold_line_ends_and_binary_and_an_empty_one_is_fine()
    {
        var command = Single("a4 APPEND INBOX (\\Seen) ~{5+}\r\nA\r\n\0B {0+}\r\n\r\n");
        var message = Assert.IsType<ImapToken.Literal>(command.Args[2]);
        Assert.True(message.Binary);
        Assert.Equal("A\r\n\0B"u8.ToArray(), message.Octets);
        Assert.Empty(Assert.IsType<ImapToken.Literal>(command.Args[3]).Octets);
    }

    [Fact]
    public void A_client_that_announces_two_gigabytes_is_refused_before_it_sends_them()
    {
        Assert.Equal(["a5 NO [TOOBIG] 2147483648", "a6 NOOP"], Read("a5 APPEND INBOX {2147483648}\r\na6 NOOP\r\n").Select(Show));
    }

    [Fact]
    public void Many_literals_in_one_command_are_bounded_as_a_whole()
    {
        // Each literal is under the limit (1000), but the command as a whole may hold the limit plus 16 lines.
        var input = "a18 X {900}\r\n" + string.Concat(Enumerable.Repeat(new string('x', 900) + " {900}\r\n", 4));
        Assert.Equal(["+ a18", "+ a18", "+ a18", "+ a18", "a18 NO [TOOBIG] 900"], Read(input).Select(Show));
    }

    [Fact]
    public void A_non_synchronizing_literal_over_the_limit_ends_the_session()
    {
        Assert.Equal(["* BYE Literal too large"], Read("a7 APPEND INBOX {5000+}\r\n").Select(Show));
    }

    [Fact]
    public void A_line_over_the_limit_is_bad_and_the_next_command_is_read()
    {
        var events = Read("a8 NOOP " + new string('x', 400) + "\r\na9 NOOP\r\n");
        Assert.Equal(["a8 BAD Command line too long", "a9 NOOP"], events.Select(Show));
    }

    [Theory]
    [InlineData("\r\n", "* BAD Missing or invalid tag")]
    [InlineData("a10\r\n", "a10 BAD Missing command")]
    [InlineData("a11 FETCH 1 (FLAGS\r\n", "a11 BAD Missing ')'")]
    [InlineData("a12 FETCH 1 FLAGS)\r\n", "a12 BAD Unexpected ')'")]
    [InlineData("a13 LOGIN \"jane\r\n", "a13 BAD Unterminated quoted string")]
    [InlineData("a14 LOGIN \"ja\\ne\" x\r\n", "a14 BAD Invalid escape in quoted string")]
    [InlineData("a15 FETCH 1 BODY[HEADER\r\n", "a15 BAD Unbalanced '['")]
    [InlineData("a16 NOOP \u0001\r\n", "a16 BAD Control character in command")]
    [InlineData("* NOOP\r\n", "* BAD Missing or invalid tag")]
    public void Malformed_commands_are_bad_and_never_throw(string input, string expected)
    {
        Assert.Equal([expected], Read(input).Select(Show));
    }

    [Fact]
    public void Bare_lf_ends_a_line_too()
    {
        Assert.Equal("NOOP", Single("a17 NOOP\n").Name);
    }
}

public sealed class SequenceSetSpecs
{
    private static IReadOnlyList<long> Select(string set, params long[] existing)
    {
        Assert.True(SequenceSet.TryParse(set, out var parsed), set);
        return parsed.Select(existing);
    }

    [Fact]
    public void Star_is_the_largest_existing_number_and_ranges_may_be_reversed()
    {
        Assert.Equal([2L, 3L, 4L], Select("2:*", 1, 2, 3, 4));
        Assert.Equal([1L, 2L, 3L], Select("3:1", 1, 2, 3, 4));
        Assert.Equal([4L], Select("*", 1, 2, 3, 4));
        Assert.Equal([1L, 3L, 10L], Select("1,3:5,10:12", 1, 3, 10, 20));
    }

    [Fact]
    public void One_to_star_on_an_empty_folder_selects_nothing_and_a_huge_range_costs_only_what_exists()
    {
        Assert.Empty(Select("1:*"));
        Assert.Equal([5L, 4294967295L], Select("1:4294967295", 5, 4294967295));
    }

    [Theory]
    [InlineData("")]
    [InlineData("0")]
    [InlineData("1:2:3")]
    [InlineData("a")]
    [InlineData("01")]
    [InlineData("4294967296")]
    [InlineData("1,,2")]
    public void Bad_sets_are_refused(string set)
    {
        Assert.False(SequenceSet.TryParse(set, out _));
    }
}
