namespace Dropbox.StorageNode.Tests.Services;

/// <summary>Waits, bounded, for what a node's background agent does (a report reaching the fake metadata node).</summary>
internal static class AgentWait
{
    /// <summary>Polls <paramref name="condition"/> every 20 ms; fails the test naming <paramref name="what"/> after 30 s.</summary>
    public static async Task UntilAsync(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "timed out waiting for " + what);
            await Task.Delay(20);
        }
    }
}
