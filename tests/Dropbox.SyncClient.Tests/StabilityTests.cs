using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.Sync;

namespace Dropbox.SyncClient.Tests;

/// <summary>The daemon's stability rule: the quiet period for files the watcher saw, the stable age for the others.</summary>
public sealed class StabilityTests
{
    private static readonly TimeSpan StableAge = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan Quiet = TimeSpan.FromMilliseconds(250);
    private readonly ManualClock _clock = new();

    private long WrittenAgo(TimeSpan ago) => (_clock.GetUtcNow() - ago).UtcDateTime.Ticks;

    [Fact]
    public void A_file_the_watcher_saw_is_settled_once_neither_an_event_nor_a_write_touched_it_for_the_quiet_period()
    {
        var watched = new WatchedChanges(_clock);
        var rule = new Stability(_clock, StableAge, watched, Quiet);
        watched.Saw("doc.txt");
        var mtime = WrittenAgo(TimeSpan.Zero);

        Assert.True(rule.IsUnsettled("doc.txt", mtime, out var settlesIn));
        Assert.Equal(Quiet, settlesIn);

        _clock.Advance(TimeSpan.FromMilliseconds(200));
        Assert.True(rule.IsUnsettled("doc.txt", mtime, out settlesIn));
        Assert.Equal(TimeSpan.FromMilliseconds(50), settlesIn);

        _clock.Advance(TimeSpan.FromMilliseconds(50));
        Assert.False(rule.IsUnsettled("doc.txt", mtime, out _));
    }

    [Fact]
    public void A_new_watcher_event_restarts_the_quiet_period_even_when_the_mtime_did_not_move()
    {
        var watched = new WatchedChanges(_clock);
        var rule = new Stability(_clock, StableAge, watched, Quiet);
        var mtime = WrittenAgo(TimeSpan.FromMilliseconds(900)); // e.g. a file system with coarse timestamps
        _clock.Advance(TimeSpan.FromMilliseconds(100));
        watched.Saw("doc.txt");

        Assert.True(rule.IsUnsettled("doc.txt", mtime, out var settlesIn));
        Assert.Equal(Quiet, settlesIn);
    }

    [Fact]
    public void A_recent_write_keeps_a_file_unsettled_even_when_its_watcher_event_is_older_than_the_quiet_period()
    {
        var watched = new WatchedChanges(_clock);
        var rule = new Stability(_clock, StableAge, watched, Quiet);
        watched.Saw("doc.txt");
        _clock.Advance(TimeSpan.FromMilliseconds(400)); // the event of the last write is not delivered yet

        Assert.True(rule.IsUnsettled("doc.txt", WrittenAgo(TimeSpan.FromMilliseconds(100)), out var settlesIn));
        Assert.Equal(TimeSpan.FromMilliseconds(150), settlesIn);
    }

    [Fact]
    public void A_young_file_without_watcher_evidence_waits_for_the_stable_age()
    {
        var watched = new WatchedChanges(_clock);
        var rule = new Stability(_clock, StableAge, watched, Quiet);

        Assert.True(rule.IsUnsettled("unseen.txt", WrittenAgo(TimeSpan.FromMilliseconds(500)), out var settlesIn));
        Assert.Equal(TimeSpan.FromMilliseconds(1500), settlesIn);
        Assert.False(rule.IsUnsettled("unseen.txt", WrittenAgo(StableAge), out _));

        // A one-shot pass has no watcher at all: the same stable-age rule.
        Assert.True(new Stability(_clock, StableAge, null, Quiet).IsUnsettled("unseen.txt", WrittenAgo(TimeSpan.FromSeconds(1)), out _));
    }

    [Fact]
    public void After_a_watcher_overflow_the_evidence_is_gone_and_young_files_wait_for_the_stable_age_again()
    {
        var watched = new WatchedChanges(_clock);
        var rule = new Stability(_clock, StableAge, watched, Quiet);
        watched.Saw("doc.txt");
        _clock.Advance(TimeSpan.FromMilliseconds(300));
        var mtime = WrittenAgo(TimeSpan.FromMilliseconds(300));
        Assert.False(rule.IsUnsettled("doc.txt", mtime, out _));

        watched.Forget();

        Assert.True(rule.IsUnsettled("doc.txt", mtime, out var settlesIn));
        Assert.Equal(TimeSpan.FromMilliseconds(1700), settlesIn);
    }

    [Fact]
    public void Old_files_files_stamped_far_in_the_future_and_a_zero_stable_age_are_settled_whatever_the_watcher_saw()
    {
        var watched = new WatchedChanges(_clock);
        watched.Saw("doc.txt");
        var rule = new Stability(_clock, StableAge, watched, Quiet);

        Assert.False(rule.IsUnsettled("doc.txt", WrittenAgo(TimeSpan.FromMinutes(5)), out _));
        Assert.False(rule.IsUnsettled("doc.txt", WrittenAgo(-TimeSpan.FromHours(1)), out _));
        Assert.False(new Stability(_clock, TimeSpan.Zero, watched, Quiet).IsUnsettled("doc.txt", WrittenAgo(TimeSpan.Zero), out _));
    }

    [Fact]
    public void Pruning_drops_only_evidence_older_than_the_given_age()
    {
        var watched = new WatchedChanges(_clock);
        watched.Saw("old.txt");
        _clock.Advance(TimeSpan.FromSeconds(3));
        watched.Saw("new.txt");

        watched.Prune(TimeSpan.FromSeconds(2));

        Assert.Null(watched.SinceLastEvent("old.txt"));
        Assert.Equal(TimeSpan.Zero, watched.SinceLastEvent("new.txt"));
    }
}
