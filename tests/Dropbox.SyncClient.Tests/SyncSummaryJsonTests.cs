using System.Text.Json;
using Dropbox.SyncClient.Sync;

namespace Dropbox.SyncClient.Tests;

public sealed class SyncSummaryJsonTests
{
    [Fact]
    public void The_summary_line_is_byte_for_byte_what_the_serializer_wrote_for_the_same_fields_including_escaped_messages()
    {
        var summary = new SyncSummary();
        summary.AddFileUploaded();
        summary.AddFileUploaded();
        summary.AddFileDownloaded();
        summary.AddFileDeleted();
        summary.AddFileMoved();
        summary.AddBytesUploaded(5_000_000_000);
        summary.AddChunksUploaded(7);
        summary.AddChunksDeduplicated(3);
        summary.AddBytesDownloaded(11);
        summary.AddChunksDownloaded(13);
        summary.AddChunksReused(17);
        summary.AddConflict();
        summary.AddSkipped();
        summary.AddPending();
        summary.AddUnreadable();
        summary.AddError("'a \"quoted\" <name>' & 'd\u00e9j\u00e0 \u65e5\u672c' \u001b[31m\\ failed\r\n");
        summary.AddError("second");
        summary.AddRefused("refused 'x/../y'");

        var line = summary.ToJson();

        // What the client printed before (the reflection serializer over a dictionary, default options); only the
        // peak memory differs from one call to the next, so it is taken from the line itself.
        var peak = JsonDocument.Parse(line).RootElement.GetProperty("peakMemoryBytes").GetInt64();
        var expected = JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["filesUploaded"] = 2L,
            ["filesDownloaded"] = 1L,
            ["filesDeleted"] = 1L,
            ["bytesUploaded"] = 5_000_000_000L,
            ["chunksUploaded"] = 7L,
            ["chunksDeduplicated"] = 3L,
            ["bytesDownloaded"] = 11L,
            ["conflicts"] = 1L,
            ["errors"] = 2L,
            ["filesMoved"] = 1L,
            ["chunksDownloaded"] = 13L,
            ["chunksReused"] = 17L,
            ["skipped"] = 1L,
            ["repairs"] = 0L,
            ["pending"] = 1L,
            ["unreadable"] = 1L,
            ["refused"] = 1L,
            ["peakMemoryBytes"] = peak,
            ["refusals"] = new[] { "refused 'x/../y'" },
            ["errorMessages"] = new[] { "'a \"quoted\" <name>' & 'd\u00e9j\u00e0 \u65e5\u672c' \u001b[31m\\ failed\r\n", "second" },
        });
        Assert.Equal(expected, line);
        Assert.True(peak > 0, $"peak memory {peak}");
    }

    [Fact]
    public void The_summary_line_lists_at_most_the_first_hundred_messages_while_the_count_keeps_them_all()
    {
        var summary = new SyncSummary();
        for (var i = 0; i < 150; i++)
        {
            summary.AddError($"error {i}");
        }

        var root = JsonDocument.Parse(summary.ToJson()).RootElement;

        Assert.Equal(150, root.GetProperty("errors").GetInt64());
        var messages = root.GetProperty("errorMessages").EnumerateArray().Select(e => e.GetString()).ToList();
        Assert.Equal(100, messages.Count);
        Assert.Equal("error 0", messages[0]);
        Assert.Equal("error 99", messages[99]);
        Assert.Empty(root.GetProperty("refusals").EnumerateArray());
    }
}
