namespace Dropbox.Hosting;

/// <summary>
/// Lets a node that runs as another program's child die with it. The parent gives the child a pipe as its standard
/// input and never writes to it; the child reads it on a background thread. When the parent exits, however it exits
/// (SIGKILL included), the kernel closes the pipe's write end and the read returns end-of-file: the child then stops
/// gracefully, and exits at once if that has not finished within the grace period. Unlike polling the parent's pid
/// (which the system may reuse) this needs no timer and sees the death at once.
/// </summary>
public static class ParentWatch
{
    /// <summary>The command-line flag that turns the watch on (the parent must hand its child a pipe on stdin).</summary>
    public const string Flag = "--exit-with-parent";

    /// <summary>
    /// Starts watching standard input: on end-of-file (or a read error) calls <paramref name="stop"/>, then kills the
    /// process (SIGKILL on Linux) if it is still running after <paramref name="grace"/>. Not Environment.Exit: that
    /// runs the ProcessExit handlers, and the host's console lifetime waits there for the very shutdown that overran
    /// (up to twice its timeout) and then sets exit code 0, as if the node had stopped cleanly.
    /// </summary>
    public static void WatchStandardInput(Action stop, TimeSpan grace) =>
        Watch(Console.OpenStandardInput(), stop, grace, KillSelf);

    private static void KillSelf()
    {
        using var self = System.Diagnostics.Process.GetCurrentProcess();
        self.Kill();
    }

    /// <summary>The same over any stream (tests): <paramref name="exit"/> is called if the graceful stop overruns.</summary>
    public static Thread Watch(Stream input, Action stop, TimeSpan grace, Action exit)
    {
        ArgumentNullException.ThrowIfNull(input);
        var thread = new Thread(() =>
        {
            var buffer = new byte[256];
            try
            {
                // Whatever a parent writes is ignored: only the end of the stream means anything.
                while (input.Read(buffer) > 0)
                {
                }
            }
            catch (IOException)
            {
                // A broken pipe is a dead parent too.
            }
            catch (ObjectDisposedException)
            {
            }

            stop();
            Thread.Sleep(grace);
            exit();
        })
        {
            IsBackground = true,
            Name = "parent watch",
        };
        thread.Start();
        return thread;
    }
}
