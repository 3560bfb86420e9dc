using Dropbox.MetadataNode.Domain;
using Dropbox.MetadataNode.Storage;
using Dropbox.MetadataNode.Tests.Infrastructure;

namespace Dropbox.MetadataNode.Tests.Store;

public sealed class WriteQueueTests
{
    [Fact]
    public async Task Every_mutation_runs_on_the_writer_thread_in_order_and_a_failing_one_fails_alone()
    {
        using var dir = new TempFolder();
        using var engine = RocksEngine.Open(dir.Path);
        using var queue = new WriteQueue(engine, sync: true);
        var order = new List<int>();

        var tasks = Enumerable.Range(0, 500).Select(n => queue.RunAsync(() =>
        {
            Assert.Equal("metadata-writer", Thread.CurrentThread.Name);
            if (n == 250)
            {
                throw new InvalidOperationException("mutation 250 refused");
            }

            order.Add(n);
            return n;
        })).ToList();

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => tasks[250].WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Equal("mutation 250 refused", error.Message);
        var results = await Task.WhenAll(tasks.Where((_, i) => i != 250)).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(Enumerable.Range(0, 500).Where(n => n != 250), results);
        Assert.Equal(Enumerable.Range(0, 500).Where(n => n != 250), order);
    }

    [Fact]
    public async Task A_disposed_queue_refuses_new_mutations_after_finishing_the_queued_ones()
    {
        using var dir = new TempFolder();
        using var engine = RocksEngine.Open(dir.Path);
        var queue = new WriteQueue(engine, sync: false);
        var queued = queue.RunAsync(() => 7);
        queue.Dispose();

        Assert.Equal(7, await queued.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Throws<ObjectDisposedException>(() => { _ = queue.RunAsync(() => 8); });
    }
}
