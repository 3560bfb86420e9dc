using System.Globalization;
using System.Threading.RateLimiting;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Protos.Metadata;
using Dropbox.SyncClient.Remote;

namespace Dropbox.SyncClient.Cli;

/// <summary>
/// <c>--limit-up</c> / <c>--limit-down</c>: chunk bytes moved through <paramref name="inner"/> are paced by token buckets
/// (System.Threading.RateLimiting) holding one second of each rate. A put waits for its bytes' tokens before it starts;
/// a get pays for its bytes once they arrived (their size is known only then), so the next one waits. The average
/// over a few seconds keeps to the limit; single chunks (up to 4 MiB) still move at full speed.
/// </summary>
internal sealed class RateLimitedTransfer(IChunkTransfer inner, long? bytesUpPerSecond, long? bytesDownPerSecond) : IChunkTransfer, IDisposable
{
    private static readonly TimeSpan Period = TimeSpan.FromMilliseconds(100);
    private readonly Pace? _up = Pace.For(bytesUpPerSecond);
    private readonly Pace? _down = Pace.For(bytesDownPerSecond);

    public async Task PutChunksAsync(string grpcUrl, IReadOnlyList<OutgoingChunk> chunks, CancellationToken ct)
    {
        await PayAsync(_up, chunks.Sum(c => (long)c.Stored.Length), ct).ConfigureAwait(false);
        await inner.PutChunksAsync(grpcUrl, chunks, ct).ConfigureAwait(false);
    }

    public async Task PutChunksAsync(ChunkLocation node, IReadOnlyList<OutgoingChunk> chunks, CancellationToken ct)
    {
        await PayAsync(_up, chunks.Sum(c => (long)c.Stored.Length), ct).ConfigureAwait(false);
        await inner.PutChunksAsync(node, chunks, ct).ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<IncomingChunk>> GetChunksAsync(string grpcUrl, IReadOnlyList<ChunkId> ids, string token, CancellationToken ct) =>
        await PaidAsync(await inner.GetChunksAsync(grpcUrl, ids, token, ct).ConfigureAwait(false), ct).ConfigureAwait(false);

    public async Task<IReadOnlyList<IncomingChunk>> GetChunksAsync(ChunkLocation node, IReadOnlyList<ChunkId> ids, string token, CancellationToken ct) =>
        await PaidAsync(await inner.GetChunksAsync(node, ids, token, ct).ConfigureAwait(false), ct).ConfigureAwait(false);

    public void Dispose()
    {
        _up?.Bucket.Dispose();
        _down?.Bucket.Dispose();
    }

    /// <summary>
    /// A rate: bytes per second with an optional unit, k, M or G (powers of 1024; "500k", "2M", "1.5G"); 0 means no limit
    /// (null). Throws <see cref="UsageException"/> naming the option.
    /// </summary>
    public static long? ParseRate(string option, string? text)
    {
        if (text is null)
        {
            return null;
        }

        var t = text.Trim();
        var scale = 1L;
        if (t.Length > 0 && char.ToLowerInvariant(t[^1]) is 'k' or 'm' or 'g')
        {
            scale = char.ToLowerInvariant(t[^1]) switch { 'k' => 1L << 10, 'm' => 1L << 20, _ => 1L << 30 };
            t = t[..^1];
        }

        if (!double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out var n) || n < 0 || double.IsNaN(n) || n * scale > 1e15)
        {
            throw new UsageException($"--{option} must be bytes per second such as 500k, 2M or 1G (0: no limit), got '{text}'.");
        }

        var rate = (long)(n * scale);
        if (rate != 0 && rate < MinimumRate)
        {
            throw new UsageException(
                $"--{option} must be at least 64k (64 KiB/s) or 0 for no limit, got '{text}': the server's transfer tokens last 15 minutes, " +
                "and at a lower rate the chunks a pass has in flight (several MiB) could outlive them and fail.");
        }

        return rate == 0 ? null : rate;
    }

    /// <summary>
    /// The lowest limit taken: 4 batches of up to 8 MiB in flight at once must go within a 15-minute token's life
    /// (32 MiB / 900 s is about 36 KiB/s; 64 KiB/s leaves room).
    /// </summary>
    public const long MinimumRate = 64 << 10;

    private async Task<IReadOnlyList<IncomingChunk>> PaidAsync(IReadOnlyList<IncomingChunk> chunks, CancellationToken ct)
    {
        try
        {
            await PayAsync(_down, chunks.Sum(c => (long)c.Stored.Length), ct).ConfigureAwait(false);
            return chunks;
        }
        catch
        {
            foreach (var c in chunks)
            {
                c.Dispose();
            }

            throw;
        }
    }

    /// <summary>Takes <paramref name="bytes"/> tokens, at most a bucket's worth (one second of the rate) at a time.</summary>
    private static async Task PayAsync(Pace? pace, long bytes, CancellationToken ct)
    {
        if (pace is null)
        {
            return;
        }

        while (bytes > 0)
        {
            var take = (int)Math.Min(bytes, pace.Size);
            using var lease = await pace.Bucket.AcquireAsync(take, ct).ConfigureAwait(false);
            if (!lease.IsAcquired)
            {
                throw new InvalidOperationException("The rate limiter refused a lease it should have queued.");
            }

            bytes -= take;
        }
    }

    /// <summary>A token bucket of <see cref="Size"/> tokens (bytes), refilled every 100 ms by a tenth of the rate.</summary>
    private sealed record Pace(TokenBucketRateLimiter Bucket, int Size)
    {
        public static Pace? For(long? bytesPerSecond)
        {
            if (bytesPerSecond is not { } rate)
            {
                return null;
            }

            var size = (int)Math.Min(rate, int.MaxValue);
            return new Pace(new TokenBucketRateLimiter(new TokenBucketRateLimiterOptions
            {
                TokenLimit = size,
                TokensPerPeriod = Math.Max(1, size / 10),
                ReplenishmentPeriod = Period,
                AutoReplenishment = true,
                QueueLimit = int.MaxValue,
                QueueProcessingOrder = QueueProcessingOrder.OldestFirst,
            }), size);
        }
    }
}
