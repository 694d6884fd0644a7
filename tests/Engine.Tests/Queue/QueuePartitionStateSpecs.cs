using Engine.Messages;
using Engine.Messages.Queue;
using Engine.Primitives;
using Engine.Queue;

namespace Engine.Tests.Queue;

/// <summary>The queue states of one message as events apply to it (Postfix's incoming, deferred, hold, corrupt).</summary>
public sealed class QueuePartitionStateSpecs
{
    private static readonly QueueId Id = QueueId.Parse("01M8GNQTR71X5XT3");
    private static readonly DateTimeOffset At = new(2026, 11, 28, 9, 0, 0, TimeSpan.Zero);

    private static readonly Envelope Envelope = new("jane@example.org",
        [new EnvelopeRecipient("a@remote.example", DsnNotify.Unspecified), new EnvelopeRecipient("b@remote.example", DsnNotify.Unspecified)],
        BodyType.SevenBit, false, DsnReturn.Unspecified, null, new ClientInfo("192.0.2.1", "c.example", "c.example", "ESMTP"), At, 100);

    private static QueuedMessage After(params object[] events)
    {
        var state = QueuePartitionState.Empty.Apply(new QueueEvents.MessageQueued(Id, Envelope, "0/x", At));
        foreach (var e in events)
            state = state.Apply(e);
        return state.Messages[Id];
    }

    private static QueueEvents.MessageDeferred Deferred(int minutes, params string[] targets) =>
        new(Id, targets.ToDictionary(t => t, t => $"451 4.4.1 {t} refused at {minutes}"), At.AddMinutes(minutes + 5), At.AddMinutes(minutes));

    [Fact]
    public void A_new_message_is_incoming_with_no_attempts()
    {
        var message = After();
        Assert.Equal(QueueState.Incoming, message.State);
        Assert.Equal(0, message.Attempts);
        Assert.Null(message.NextAttemptAt);
    }

    [Fact]
    public void Each_deferral_counts_an_attempt_per_target_and_keeps_the_last_reply_and_next_time()
    {
        var message = After(Deferred(0, "a@remote.example", "b@remote.example"), Deferred(5, "a@remote.example"));
        Assert.Equal(QueueState.Deferred, message.State);
        Assert.Equal(2, message.DeferralOf["a@remote.example"].Attempts);
        Assert.Equal("451 4.4.1 a@remote.example refused at 5", message.DeferralOf["a@remote.example"].Reply);
        Assert.Equal(1, message.DeferralOf["b@remote.example"].Attempts);
        Assert.Equal(2, message.Attempts);
        Assert.Equal(At.AddMinutes(10), message.NextAttemptAt);
        Assert.Equal(["a@remote.example", "b@remote.example"], QueuePartitionState.DeferredTargets(message).Order());
    }

    [Fact]
    public void A_target_delivered_or_bounced_after_deferrals_is_no_longer_deferred()
    {
        var message = After(Deferred(0, "a@remote.example", "b@remote.example"),
            new QueueEvents.RecipientDelivered(Id, "a@remote.example", 0, At.AddMinutes(6)),
            new QueueEvents.RecipientBounced(Id, "b@remote.example", "550 5.1.1 no", At.AddMinutes(6)));
        Assert.Empty(message.DeferralOf);
        Assert.Empty(QueuePartitionState.DeferredTargets(message));
        Assert.Equal(0, message.Attempts);
    }

    [Fact]
    public void A_held_message_stays_held_through_deferrals_and_is_released_to_where_it_was()
    {
        var held = After(Deferred(0, "a@remote.example"), new QueueEvents.MessageHeld(Id, "spam run", At.AddMinutes(1)),
            Deferred(2, "a@remote.example"));
        Assert.Equal(QueueState.Hold, held.State);
        Assert.Equal("spam run", held.Reason);

        var released = After(Deferred(0, "a@remote.example"), new QueueEvents.MessageHeld(Id, "x", At.AddMinutes(1)),
            new QueueEvents.MessageReleased(Id, At.AddMinutes(2)));
        Assert.Equal(QueueState.Deferred, released.State);
        Assert.Null(released.Reason);
        Assert.Null(released.NextAttemptAt); // tried at once

        var fresh = After(new QueueEvents.MessageHeld(Id, "x", At), new QueueEvents.MessageReleased(Id, At.AddMinutes(1)));
        Assert.Equal(QueueState.Incoming, fresh.State);
    }

    [Fact]
    public void A_corrupt_message_stays_corrupt_and_release_does_not_apply_to_it()
    {
        var message = After(new QueueEvents.MessageCorrupt(Id, "body missing", At), Deferred(1, "a@remote.example"),
            new QueueEvents.MessageReleased(Id, At.AddMinutes(2)));
        Assert.Equal(QueueState.Corrupt, message.State);
        Assert.Equal("body missing", message.Reason);
    }
}
