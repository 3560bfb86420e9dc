using Dropbox.SyncClient.Sync;

namespace Dropbox.SyncClient.Tests;

/// <summary>
/// The table of paths waiting to be looked at again (clashing folders the walk could not look at whole, files that could not
/// be read): waits grow per path, and a full table keeps the long waits it holds.
/// </summary>
public sealed class UncheckedFolderBackoffTests
{
    private static readonly TimeSpan Retry = TimeSpan.FromSeconds(30);

    [Fact]
    public void A_file_that_stays_unreadable_waits_30_s_three_times_then_1_min_doubling_to_1_h()
    {
        var clock = new ManualClock();
        var backoff = new UncheckedFolderBackoff();
        var waits = new List<TimeSpan>();
        for (var i = 0; i < 10; i++)
        {
            waits.Add(backoff.ReadError("f.txt", clock, Retry));
            clock.Advance(waits[^1]);
        }

        Assert.Equal([30, 30, 30, 60, 120, 240, 480, 960, 1920, 3600], waits.Select(w => (int)w.TotalSeconds));
    }

    [Fact]
    public void With_more_paths_than_it_holds_the_paths_already_waiting_keep_growing_their_waits()
    {
        // Past its capacity the table used to start again from empty: with more unreadable files than it held, every file
        // went back to a 30 s wait each pass, so the daemon read them all (a pass) every 30 s for good.
        var clock = new ManualClock();
        var backoff = new UncheckedFolderBackoff(capacity: 100);
        var paths = Enumerable.Range(0, 150).Select(i => $"f{i:D3}.txt").ToList();
        var waits = new Dictionary<string, TimeSpan>();
        for (var pass = 0; pass < 6; pass++)
        {
            foreach (var path in paths)
            {
                if (backoff.WaitLeft(path, clock) is null)
                {
                    waits[path] = backoff.ReadError(path, clock, Retry);
                }
            }

            clock.Advance(Retry);
        }

        // The first 100 paths were remembered: after 6 passes 30 s apart they have backed off past 30 s (1 min and more).
        Assert.All(paths.Take(100), p => Assert.True(waits[p] > Retry, $"{p} still waits {waits[p]}"));
        Assert.All(paths.Take(100), p => Assert.NotNull(backoff.WaitLeft(p, clock)));

        // The 50 it had no room for are not remembered: each time their first wait.
        Assert.All(paths.Skip(100), p => Assert.Equal(Retry, waits[p]));
    }

    [Fact]
    public void A_full_table_makes_room_by_forgetting_the_paths_whose_wait_is_over()
    {
        var clock = new ManualClock();
        var backoff = new UncheckedFolderBackoff(capacity: 2);
        backoff.Missed("a", clock); // 1 min
        clock.Advance(TimeSpan.FromSeconds(10));
        backoff.Missed("b", clock);
        backoff.Missed("b", clock); // 2 min
        clock.Advance(TimeSpan.FromSeconds(55)); // a's wait is over, b's is not

        Assert.Equal(UncheckedFolderBackoff.First, backoff.Missed("c", clock));

        Assert.Null(backoff.WaitLeft("a", clock)); // forgotten
        Assert.NotNull(backoff.WaitLeft("b", clock)); // kept its 2 min
        Assert.NotNull(backoff.WaitLeft("c", clock));
        Assert.Equal(TimeSpan.FromMinutes(4), backoff.Missed("b", clock));
    }
}
