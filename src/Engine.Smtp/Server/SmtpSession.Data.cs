using System.Text;
using Akka.Actor;
using Engine.Filtering.Content;
using Engine.Filtering.Restrictions;
using Engine.Messages;
using Engine.Messages.Queue;
using Engine.Primitives;
using Engine.Protocols.Smtp;
using Envelope = Engine.Messages.Envelope;

namespace Engine.Smtp.Server;

internal sealed partial class SmtpSession
{
    private sealed record QueueTimedOut(QueueId Id);

    /// <summary>
    /// How often a queue entry not yet answered is asked for again: a request that reached a partition as its shard was
    /// handed to another node (a rolling restart) is lost with it; the partition answers a repeat as the first time.
    /// </summary>
    private static readonly TimeSpan EnqueueResend = TimeSpan.FromSeconds(5);

    private BodyTarget? _body;
    private SmtpReply? _chunkRefusal;
    private ICancelable? _queueTimer;
    private ICancelable? _queueResend;
    private QueueCommands.Enqueue? _enqueue;
    private DateTime _enqueuedAt;
    private int _notQueuedAgain;
    /// <summary>Between Enqueue and the queue's answer (a restriction decision must not resume the stash then).</summary>
    private bool _queueing;

    /// <summary>DATA (RFC 5321 section 4.1.1.4): the data restrictions, then the connection streams the text into the spool.</summary>
    private void Data() => Decide(() => _restrictions.DataAsync(Facts(null)), outcome =>
    {
        if (DataRefused(outcome) is { } refusal)
        {
            Count("DATA", ok: false);
            RefuseBody(DataCommand.Instance, refusal);
            return;
        }
        StartData();
    });

    /// <summary>The refusal of the data restrictions (logged), or null with their effects kept.</summary>
    private SmtpReply? DataRefused(Outcome outcome)
    {
        var to = string.Join(",", _recipients.Select(r => r.Address));
        LogOutcome(outcome, "DATA", to);
        if (outcome.Refusal is { } refusal)
        {
            SmtpMetrics.Reject("DATA", refusal);
            Log.Reject(_log, LogId, "DATA", ClientLabel, refusal.ToString(), _mail!.From.ToString(), to, Protocol, _helo);
            return refusal;
        }
        _effects.AddRange(outcome.Effects.Where(e => e is not TransactionEffect.Warn));
        return null;
    }

    private void StartData()
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

    /// <summary>BDAT (RFC 3030): each chunk is read whole; the LAST one ends the message. The data restrictions run at the first.</summary>
    private void Bdat(BdatCommand bdat)
    {
        if (_phase == SmtpPhase.Bdat)
        {
            StartChunk(bdat);
            return;
        }
        Decide(() => _restrictions.DataAsync(Facts(null)), outcome =>
        {
            if (DataRefused(outcome) is { } refusal)
                RefuseBody(bdat, refusal);
            else
                StartChunk(bdat);
        });
    }

    private void StartChunk(BdatCommand bdat)
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
        // PREPEND actions go above the Received: header, in the order they were asked for, as Postfix puts them.
        var header = string.Concat(_effects.OfType<TransactionEffect.Prepend>().Select(p => p.Header + "\r\n"))
            + ReceivedHeader.Format(_helo, ClientName, _connection.RemoteAddress.ToString(), _settings.Hostname,
            Protocol, _queueId, recipients, DateTimeOffset.Now, _tls);
        try
        {
            return new BodyTarget(_blobs.Create(_queueId), Encoding.UTF8.GetBytes(header), decoder,
                _restrictions.Content.Any ? new ContentScanner(_restrictions.Content) : null);
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
            SmtpMetrics.Reject($"END-OF-MESSAGE ({stage})", rejection);
            Log.Reject(_log, _queueId.Value, $"END-OF-MESSAGE ({stage})", ClientLabel, rejection.ToString(), _mail!.From.ToString(),
                string.Join(",", _recipients.Select(r => r.Address)), Protocol, _helo);
            ResetTransaction();
            Error(rejection);
            return;
        }
        if (last && ContentRefused() is { } refused)
        {
            var reference = _body!.Writer.Ref;
            _body = null;
            _blobs.Delete(reference);
            ResetTransaction();
            Error(refused);
            return;
        }
        if (last)
            Decide(() => _restrictions.EndOfDataAsync(Facts(null) with { Size = _body!.Decoder.Size }), EndOfData);
    }

    /// <summary>What the content checks found, logged as Postfix's cleanup logs it; their rejection, or null with their effects kept.</summary>
    private SmtpReply? ContentRefused()
    {
        if (_body?.Scanner is not { } scanner)
            return null;
        var to = string.Join(",", _recipients.Select(r => r.Address));
        foreach (var finding in scanner.Findings)
            Log.Content(_log, _queueId.Value, finding.Action, finding.Where, ClientLabel, _mail!.From.ToString(), to, Protocol, _helo, finding.Text);
        _effects.AddRange(scanner.Effects);
        return scanner.Rejection;
    }

    /// <summary>After the body: the end-of-data restrictions, then DISCARD (answered as accepted, dropped) or the queue.</summary>
    private void EndOfData(Outcome outcome)
    {
        var to = string.Join(",", _recipients.Select(r => r.Address));
        LogOutcome(outcome, "END-OF-MESSAGE", to);
        _effects.AddRange(outcome.Effects.Where(e => e is not TransactionEffect.Warn));
        if (outcome.Refusal is not null || _effects.OfType<TransactionEffect.Discard>().Any())
        {
            var reference = _body!.Writer.Ref;
            var id = _queueId;
            _body = null;
            _blobs.Delete(reference);
            if (outcome.Refusal is { } refusal)
            {
                SmtpMetrics.Reject("END-OF-MESSAGE", refusal);
                Log.Reject(_log, id.Value, "END-OF-MESSAGE", ClientLabel, refusal.ToString(), _mail!.From.ToString(), to, Protocol, _helo);
                ResetTransaction();
                Error(refusal);
                return;
            }
            ResetTransaction();
            Send(new SmtpReply(250, "2.0.0", $"Ok: queued as {id}"));
            return;
        }
        Enqueue();
    }

    /// <summary>The body is durable; now the queue entry. "250" only after the partition has written it.</summary>
    private void Enqueue()
    {
        var mail = _mail!;
        // REDIRECT: every recipient replaced by the one address (the last asked for wins, as in Postfix).
        var recipients = _effects.OfType<TransactionEffect.Redirect>().LastOrDefault() is { } redirect
            ? [new EnvelopeRecipient(redirect.Address, DsnNotify.Unspecified)]
            : _recipients.ToArray();
        var envelope = new Envelope(
            mail.From.ToString(),
            recipients,
            mail.Parameters.Body,
            mail.Parameters.SmtpUtf8,
            mail.Parameters.Ret,
            mail.Parameters.EnvId,
            new ClientInfo(_connection.RemoteAddress.ToString(), ClientName, _helo, Protocol),
            DateTimeOffset.UtcNow,
            _body!.Decoder.Size,
            _effects.OfType<TransactionEffect.Filter>().LastOrDefault()?.Transport);
        var hold = _effects.OfType<TransactionEffect.Hold>().FirstOrDefault()?.Reason;
        var enqueue = new QueueCommands.Enqueue(_queueId.Partition(_settings.QueuePartitions), _queueId, envelope, _body.Writer.Ref, hold);
        _queue.Tell(enqueue);
        (_enqueue, _enqueuedAt, _notQueuedAgain) = (enqueue, DateTime.UtcNow, 0);
        _queueTimer = Context.System.Scheduler.ScheduleTellOnceCancelable(_settings.QueueTimeout, Self, new QueueTimedOut(_queueId), Self);
        var resend = Context.System.Scheduler.ScheduleTellRepeatedlyCancelable(EnqueueResend, EnqueueResend, _queue, enqueue, Self);
        _queueResend = resend;
        // No repeat in the last 10 s before the 451: one that landed after it would queue what the client sends again.
        // Cancelled with the repeats, so that the scheduler drops it at its next pass instead of keeping it (and what it
        // holds) for the whole wait after every message.
        var stopAt = _settings.QueueTimeout - TimeSpan.FromSeconds(10);
        Context.System.Scheduler.Advanced.ScheduleOnce(stopAt > TimeSpan.Zero ? stopAt : TimeSpan.Zero, resend.Cancel, resend);
        _queueing = true;
        Become(AwaitingQueue);
    }

    /// <summary>Until the queue answers, later pipelined commands wait, so replies keep their order.</summary>
    private void AwaitingQueue(object message)
    {
        switch (message)
        {
            case QueueReplies.Queued queued when queued.Id == _queueId:
                StopQueueTimers();
                Log.Queued(_log, _queueId.Value, _mail!.From.ToString(), _body!.Decoder.Size, _recipients.Count);
                SmtpMetrics.Queued(_recipients.Count);
                var id = _queueId;
                _body = null; // the queue owns the body now
                ResetTransaction();
                Send(new SmtpReply(250, "2.0.0", $"Ok: queued as {id}"));
                Resume();
                break;
            case QueueReplies.NotQueued notQueued when notQueued.Id == _queueId && _notQueuedAgain < 3
                                                       && DateTime.UtcNow - _enqueuedAt < _settings.QueueTimeout - TimeSpan.FromSeconds(10):
                // The partition's journal write failed (a database restarting, a table made by another node at that moment)
                // and the partition stopped. Whether the write landed is not known, but the partition started again answers a
                // repeat from its journal: ask again in a second, up to three times, before a 451.
                _notQueuedAgain++;
                Context.System.Scheduler.ScheduleTellOnce(TimeSpan.FromSeconds(1), _queue, _enqueue, Self);
                break;
            case QueueReplies.NotQueued notQueued when notQueued.Id == _queueId:
                // Whether the write landed is not always known (a failed commit may still be on disk),
                // so the body stays; the queue's sweep of bodies without an entry removes it.
                StopQueueTimers();
                Log.NotQueued(_log, _queueId.Value, notQueued.Reason);
                _body = null;
                NotQueued();
                break;
            case QueueTimedOut timedOut when timedOut.Id == _queueId:
                // The write may still land; the body stays for it. The client will retry: at worst a duplicate.
                StopQueueTimers();
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

    private void StopQueueTimers()
    {
        _queueTimer?.Cancel();
        _queueResend?.Cancel();
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
        _queueing = false;
        Become(Ready);
        Stash.UnstashAll();
        CloseIfDrainingAndIdle(); // a transaction still open (after an RCPT) may finish first
    }

    private void AbortTransaction()
    {
        _body?.Writer.Abort();
        _body = null;
    }
}
