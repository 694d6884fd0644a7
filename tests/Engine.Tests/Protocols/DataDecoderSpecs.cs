using System.Buffers;
using System.Text;
using Engine.Protocols.Smtp;
using Engine.Tests.Support;

namespace Engine.Tests.Protocols;

public sealed class DataDecoderSpecs
{
    private static (bool Done, string Body, DataDecoder Decoder, long Consumed) Decode(string input,
        BareNewlinePolicy policy = BareNewlinePolicy.Reject, long maxSize = 1 << 20, int maxLine = 1000)
    {
        var decoder = new DataDecoder(new BodyLimits(maxSize, maxLine, policy));
        var output = new ArrayBufferWriter<byte>();
        var bytes = Encoding.UTF8.GetBytes(input);
        var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(bytes));
        var done = decoder.Decode(ref reader, output);
        return (done, Encoding.UTF8.GetString(output.WrittenSpan), decoder, reader.Consumed);
    }

    [Fact]
    public void DataDecoder_should_end_only_at_crlf_dot_crlf_and_leave_the_rest()
    {
        var (done, body, _, consumed) = Decode("a\r\nb\r\n.\r\nQUIT\r\n");
        Assert.True(done);
        Assert.Equal("a\r\nb\r\n", body);
        Assert.Equal("a\r\nb\r\n.\r\n".Length, consumed);
    }

    [Theory]
    [InlineData(2, null)]
    [InlineData(3, "5.4.6")]
    public void Received_lines_of_the_header_are_counted_as_hops_whatever_the_split(int hops, string? status)
    {
        var header = string.Concat(Enumerable.Range(0, hops).Select(i => $"Received: from hop{i}\r\n\tby next{i}\r\n"));
        var text = header + "RECEIVED-SPF: pass\r\nSubject: loop\r\n\r\nReceived: in the body is not a hop\r\n.\r\n";
        foreach (var split in new[] { text.Length, 1 })
        {
            var decoder = new DataDecoder(new BodyLimits(1 << 20, 1000, BareNewlinePolicy.Reject, MaxHops: 2));
            var output = new ArrayBufferWriter<byte>();
            var bytes = Encoding.ASCII.GetBytes(text);
            for (var at = 0; at < bytes.Length; at += split)
            {
                var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(bytes, at, Math.Min(split, bytes.Length - at)));
                decoder.Decode(ref reader, output);
            }
            Assert.Equal(hops, decoder.Hops);
            Assert.Equal(status, decoder.Rejection?.Enhanced);
        }
    }

    [Fact]
    public void DataDecoder_should_end_an_empty_message_at_once()
    {
        var (done, body, decoder, _) = Decode(".\r\n");
        Assert.True(done);
        Assert.Equal("", body);
        Assert.Null(decoder.Rejection);
    }

    [Fact]
    public void DataDecoder_should_remove_one_leading_dot()
    {
        var (_, body, _, _) = Decode("..a\r\n...\r\n.\r\n");
        Assert.Equal(".a\r\n..\r\n", body);
    }

    [Theory]
    [InlineData("a\n.\nb\r\n.\r\n")]
    [InlineData("a\r.\rb\r\n.\r\n")]
    [InlineData("a\n.\r\nb\r\n.\r\n")]
    [InlineData("a\r\n.\nb\r\n.\r\n")]
    public void DataDecoder_should_not_end_at_a_smuggled_dot_and_should_refuse_the_message(string input)
    {
        var (done, _, decoder, consumed) = Decode(input);
        Assert.True(done);
        Assert.Equal(input.Length, consumed); // read through to the real end
        Assert.True(decoder.SawBareNewline);
        Assert.Equal(550, decoder.Rejection!.Code);
        Assert.Equal("5.5.2", decoder.Rejection.Enhanced);
    }

    [Fact]
    public void DataDecoder_should_normalize_bare_newlines_when_configured()
    {
        var (done, body, decoder, _) = Decode("a\nb\rc\r\n.\r\n", BareNewlinePolicy.Normalize);
        Assert.True(done);
        Assert.Equal("a\r\nb\r\nc\r\n", body);
        Assert.Null(decoder.Rejection);
    }

    [Fact]
    public void DataDecoder_should_keep_bare_newlines_when_allowed()
    {
        var (_, body, decoder, _) = Decode("a\nb\r\n.\r\n", BareNewlinePolicy.Allow);
        Assert.Equal("a\nb\r\n", body);
        Assert.Null(decoder.Rejection);
    }

    [Fact]
    public void DataDecoder_should_refuse_a_message_over_the_size_limit_but_read_it_to_the_end()
    {
        var input = new string('x', 50) + "\r\n" + new string('y', 50) + "\r\n.\r\nNOOP\r\n";
        var (done, _, decoder, consumed) = Decode(input, maxSize: 60);
        Assert.True(done);
        Assert.Equal(input.Length - "NOOP\r\n".Length, consumed);
        Assert.True(decoder.SizeExceeded);
        Assert.Equal(552, decoder.Rejection!.Code);
        Assert.Equal("5.3.4", decoder.Rejection.Enhanced);
    }

    [Fact]
    public void DataDecoder_should_refuse_a_line_over_the_limit()
    {
        var (done, _, decoder, _) = Decode(new string('x', 99) + "\r\n.\r\n", maxLine: 100);
        Assert.True(done);
        Assert.True(decoder.LineTooLong);
        Assert.Equal(500, decoder.Rejection!.Code);
        var (_, _, fits, _) = Decode(new string('x', 98) + "\r\n.\r\n", maxLine: 100);
        Assert.Null(fits.Rejection);
    }

    [Fact]
    public void DataDecoder_should_give_the_same_result_one_byte_at_a_time()
    {
        var input = Encoding.UTF8.GetBytes("..x\r\na\n.\nb\r\r\n.\r\n");
        foreach (var policy in Enum.GetValues<BareNewlinePolicy>())
        {
            var whole = new DataDecoder(new BodyLimits(1 << 20, 1000, policy));
            var wholeOut = new ArrayBufferWriter<byte>();
            var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(input));
            Assert.True(whole.Decode(ref reader, wholeOut));

            var split = new DataDecoder(new BodyLimits(1 << 20, 1000, policy));
            var splitOut = new ArrayBufferWriter<byte>();
            var done = false;
            foreach (var b in input)
            {
                Assert.False(done);
                var one = new SequenceReader<byte>(new ReadOnlySequence<byte>([b]));
                done = split.Decode(ref one, splitOut);
            }
            Assert.True(done);
            Assert.Equal(SmtpWireHarness.Escape(wholeOut.WrittenSpan), SmtpWireHarness.Escape(splitOut.WrittenSpan));
            Assert.Equal(whole.Rejection, split.Rejection);
        }
    }
}
