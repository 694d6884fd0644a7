using System.Text;
using Akka.Actor;
using Engine.Messages;
using Engine.Messages.Queue;
using Engine.Primitives;
using Engine.Protocols.Smtp;
using Envelope = Engine.Messages.Envelope;

namespace Engine.Smtp.Server;

internal sealed partial class SmtpSession
{
    private sealed record QueueTimedOut(QueueId Id);

    private BodyTarget? _body;
    private SmtpReply? _chunkRefusal;
    private ICancelable? _queueTimer;

    /// <summary>DATA (RFC 5321 section 4.1.1.4): the connection streams the text into the spool.</summary>
    private void Data()
    {
        _body = NewBody(new DataDecoder(_settings.BodyLimits));
        if (_body is null)
        {
            Count("DATA", ok: false);
            RefuseBody(DataCommand.Instance, SpoolError);
            return;
        }
        Count("DATA", ok: true);
        Send(new SmtpReply(354, null, "End data with <CR><LF>.<CR><LF>"));
        _connection.Proceed(_body);
        ReadBody();
    }

    /// <summary>BDAT (RFC 3030): each chunk is read whole; the LAST one ends the message.</summary>
    private void Bdat(BdatCommand bdat)
    {
        if (_phase != SmtpPhase.Bdat)
        {
            _body = NewBody(new BdatDecoder(_settings.BodyLimits));
            if (_body is null)
            {
                RefuseBody(bdat, SpoolError);
                return;
            }
            _phase = SmtpPhase.Bdat;
        }
        _connection.Proceed(_body);
        ReadBody();
    }

    private void ReadBody()
    {
        _inBody = true;
        Become(ReadingBody);
    }

    private static SmtpReply SpoolError => new(451, "4.3.0", "Error: queue file write error");

    /// <summary>DATA or BDAT out of order: the connection still has to consume a BDAT chunk, then we answer.</summary>
    private void RefuseBody(SmtpCommand command, SmtpReply reply)
    {
        if (command is BdatCommand)
        {
            _chunkRefusal = reply;
            _connection.Proceed(null);
            ReadBody();
            return;
        }
        _connection.Proceed(null);
        Error(reply);
    }

    /// <summary>A spool file and the Received: header for the body; null (and logged) when the spool fails.</summary>
    private BodyTarget? NewBody(BodyDecoder decoder)
    {
        var recipients = _recipients.Select(r => r.Address).ToArray();
        var header = ReceivedHeader.Format(_helo, _clientName, _connection.RemoteAddress.ToString(), _settings.Hostname,
            Protocol, _queueId, recipients, DateTimeOffset.Now, _tls);
        try
        {
            return new BodyTarget(_blobs.Create(_queueId), Encoding.UTF8.GetBytes(header), decoder);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Log.NotQueued(_log, _queueId.Value, $"spool: {e.Message}");
            return null;
        }
    }

    /// <summary>While the connection reads message text: nothing else arrives but the outcome.</summary>
    private void ReadingBody(object message)
    {
        switch (message)
        {
            case SessionInput.DataRead read:
                _inBody = false;
                Become(Ready);
                BodyRead(read.Rejection, read.Error, last: true, "DATA");
                break;
            case SessionInput.ChunkRead chunk:
                _inBody = false;
                Become(Ready);
                if (_chunkRefusal is not null)
                {
                    Error(_chunkRefusal);
                    _chunkRefusal = null;
                    return;
                }
                Count("BDAT", chunk.Rejection is null && chunk.Error is null);
                if (!chunk.Last && chunk.Rejection is null && chunk.Error is null)
                {
                    Send(new SmtpReply(250, "2.0.0", $"Ok: {chunk.ChunkSize} octets received"));
                    return;
                }
                BodyRead(chunk.Rejection, chunk.Error, chunk.Last, "BDAT");
                break;
            default:
                Common(message);
                break;
        }
    }

    private void BodyRead(SmtpReply? rejection, Exception? error, bool last, string stage)
    {
        if (error is not null)
        {
            Log.NotQueued(_log, _queueId.Value, error.Message);
            ResetTransaction();
            Error(SpoolError);
            return;
        }
        if (rejection is not null)
        {
            Log.Reject(_log, _queueId.Value, $"END-OF-MESSAGE ({stage})", _client, rejection.ToString(), _mail!.From.ToString(),
                string.Join(",", _recipients.Select(r => r.Address)), Protocol, _helo);
            ResetTransaction();
            Error(rejection);
            return;
        }
        if (last)
            Enqueue();
    }

    /// <summary>The body is durable; now the queue entry. "250" only after the partition has written it.</summary>
    private void Enqueue()
    {
        var mail = _mail!;
        var envelope = new Envelope(
            mail.From.ToString(),
            _recipients.ToArray(),
            mail.Parameters.Body,
            mail.Parameters.SmtpUtf8,
            mail.Parameters.Ret,
            mail.Parameters.EnvId,
            new ClientInfo(_connection.RemoteAddress.ToString(), _clientName, _helo, Protocol),
            DateTimeOffset.UtcNow,
            _body!.Decoder.Size);
        _queue.Tell(new QueueCommands.Enqueue(_queueId.Partition(_settings.QueuePartitions), _queueId, envelope, _body.Writer.Ref));
        _queueTimer = Context.System.Scheduler.ScheduleTellOnceCancelable(_settings.QueueTimeout, Self, new QueueTimedOut(_queueId), Self);
        Become(AwaitingQueue);
    }

    /// <summary>Until the queue answers, later pipelined commands wait, so replies keep their order.</summary>
    private void AwaitingQueue(object message)
    {
        switch (message)
        {
            case QueueReplies.Queued queued when queued.Id == _queueId:
                _queueTimer?.Cancel();
                Log.Queued(_log, _queueId.Value, _mail!.From.ToString(), _body!.Decoder.Size, _recipients.Count);
                var id = _queueId;
                _body = null; // the queue owns the body now
                ResetTransaction();
                Send(new SmtpReply(250, "2.0.0", $"Ok: queued as {id}"));
                Resume();
                break;
            case QueueReplies.NotQueued notQueued when notQueued.Id == _queueId:
                // Whether the write landed is not always known (a failed commit may still be on disk),
                // so the body stays; the queue's sweep of bodies without an entry removes it.
                _queueTimer?.Cancel();
                Log.NotQueued(_log, _queueId.Value, notQueued.Reason);
                _body = null;
                NotQueued();
                break;
            case QueueTimedOut timedOut when timedOut.Id == _queueId:
                // The write may still land; the body stays for it. The client will retry: at worst a duplicate.
                Log.NotQueued(_log, _queueId.Value, "queue did not answer in time");
                _body = null;
                NotQueued();
                break;
            case QueueReplies.Queued or QueueReplies.NotQueued or QueueTimedOut:
                break; // a late answer about an earlier message
            default:
                WhileWaiting(message);
                break;
        }
    }

    /// <summary>What a behaviour waiting for an answer does with everything else: commands wait in the stash, in order.</summary>
    private void WhileWaiting(object message)
    {
        switch (message)
        {
            case SessionControl.Drain:
                _draining = true;
                break;
            case SessionInput.Command or SessionInput.Refused:
                Stash.Stash();
                break;
            default:
                Common(message);
                break;
        }
    }

    private void NotQueued()
    {
        ResetTransaction();
        Error(SpoolError);
        Resume();
    }

    private void Resume()
    {
        Become(Ready);
        Stash.UnstashAll();
        if (_draining)
            CloseWith(ShuttingDown);
    }

    private void AbortTransaction()
    {
        _body?.Writer.Abort();
        _body = null;
    }
}
