using System.Buffers;
using System.Text;
using Engine.Primitives;
using Engine.Protocols.Smtp;

namespace Engine.Tests.Protocols;

public sealed class SmtpClientCodecSpecs
{
    private static List<SmtpReply> ReadAll(string wire, bool byteAtATime)
    {
        var reader = new SmtpReplyReader();
        var replies = new List<SmtpReply>();
        var bytes = Encoding.ASCII.GetBytes(wire);
        var pending = new List<byte>();
        foreach (var chunk in byteAtATime ? bytes.Select(b => new[] { b }) : [bytes])
        {
            pending.AddRange(chunk);
            var sequence = new SequenceReader<byte>(new ReadOnlySequence<byte>(pending.ToArray()));
            while (reader.TryRead(ref sequence, out var reply))
                replies.Add(reply);
            pending.RemoveRange(0, (int)sequence.Consumed);
        }
        return replies;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ReplyReader_should_read_multiline_replies_and_enhanced_codes(bool byteAtATime)
    {
        var replies = ReadAll("220 mx.example ESMTP\r\n250-mx.example\r\n250-PIPELINING\r\n250 SIZE 1000\r\n250 2.1.0 Ok\r\n550 5.1.1 <x@y>: no such user\r\n421 Bye\r\n", byteAtATime);
        Assert.Equal([220, 250, 250, 550, 421], replies.Select(r => r.Code));
        Assert.Equal(["mx.example", "PIPELINING", "SIZE 1000"], replies[1].Lines);
        Assert.Null(replies[1].Enhanced);
        Assert.Equal("2.1.0", replies[2].Enhanced);
        Assert.Equal("Ok", replies[2].Text);
        Assert.Equal("5.1.1", replies[3].Enhanced);
        Assert.Null(replies[4].Enhanced);
    }

    [Theory]
    [InlineData("hello\r\n")]
    [InlineData("25O bad code\r\n")]
    [InlineData("250-a\r\n251 b\r\n")]
    public void ReplyReader_should_refuse_what_is_not_a_reply(string wire)
    {
        Assert.Throws<FormatException>(() => ReadAll(wire, byteAtATime: false));
    }

    [Fact]
    public void DotStuffer_should_double_leading_dots_across_chunks_and_end_the_text()
    {
        var stuffer = new DotStuffer();
        var output = new ArrayBufferWriter<byte>();
        foreach (var part in new[] { "a\r\n", ".", "b\r\n..c\r\n", "d" })
            stuffer.Write(Encoding.ASCII.GetBytes(part), output);
        stuffer.Finish(output);
        Assert.Equal("a\r\n..b\r\n...c\r\nd\r\n.\r\n", Encoding.ASCII.GetString(output.WrittenSpan));
    }

    [Fact]
    public void DotStuffer_and_DataDecoder_should_be_inverses()
    {
        var text = "Subject: x\r\n\r\n.\r\n..\r\n.a\r\nend\r\n";
        var stuffer = new DotStuffer();
        var wire = new ArrayBufferWriter<byte>();
        stuffer.Write(Encoding.ASCII.GetBytes(text), wire);
        stuffer.Finish(wire);
        var decoder = new DataDecoder(new BodyLimits(1 << 20, 1000, BareNewlinePolicy.Reject));
        var back = new ArrayBufferWriter<byte>();
        var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(wire.WrittenMemory));
        Assert.True(decoder.Decode(ref reader, back));
        Assert.Equal(text, Encoding.ASCII.GetString(back.WrittenSpan));
    }
}
