using Dropbox.StorageNode.Engine.Durable;

namespace Dropbox.StorageNode.Tests.Engine.Durable;

public sealed class RecordLogTests
{
    private static readonly TestRecordCodec Codec = new();

    private static readonly string[] Three = ["first record", "second, a little longer record", "third and last record of the log"];

    private static long WriteRecords(LogBackend backend, string path, IReadOnlyList<string> records)
    {
        using var log = RecordLog<string>.Open(backend.Files, path, Codec, out _);
        log.Append(records);
        log.Sync();
        return log.DurableLength;
    }

    [Theory]
    [MemberData(nameof(LogBackend.Kinds), MemberType = typeof(LogBackend))]
    public void Appended_and_synced_records_read_back_in_order_after_reopen(string kind)
    {
        using var backend = LogBackend.Create(kind);
        var path = backend.PathOf("a.log");
        WriteRecords(backend, path, Three);

        using var log = RecordLog<string>.Open(backend.Files, path, Codec, out var scan);

        Assert.Equal(Three, scan.Records.Select(r => r.Record));
        Assert.Equal(0, scan.TornBytes);
        Assert.Empty(scan.Damaged);
        Assert.Equal(Three, log.Read(0, 10).Select(r => r.Record));
        Assert.Equal(Three.Skip(1), log.Read(scan.Records[0].End, 10).Select(r => r.Record));
    }

    [Theory]
    [MemberData(nameof(LogBackend.Kinds), MemberType = typeof(LogBackend))]
    public void A_torn_last_record_is_cut_at_every_byte_offset_and_the_log_appends_after_it(string kind)
    {
        using var backend = LogBackend.Create(kind);
        var path = backend.PathOf("torn.log");
        WriteRecords(backend, path, Three);
        var whole = backend.ReadAll(path);
        var lastStart = whole.Length - (LogFrame.HeaderSize + Three[2].Length);

        // Every length from just past the start of the last record to one byte short of its end (bounded: ~56 cuts).
        for (var cut = lastStart + 1; cut < whole.Length; cut++)
        {
            backend.WriteAll(path, whole.AsSpan(0, cut));

            using (var log = RecordLog<string>.Open(backend.Files, path, Codec, out var scan))
            {
                Assert.Equal(Three.Take(2), scan.Records.Select(r => r.Record));
                Assert.Equal(cut - lastStart, scan.TornBytes);
                Assert.Equal(lastStart, log.Length);
                Assert.Equal(lastStart, backend.ReadAll(path).Length);
                log.Append(["after the cut"]);
                log.Sync();
            }

            using var reopened = RecordLog<string>.Open(backend.Files, path, Codec, out var again);
            Assert.Equal(Three.Take(2).Append("after the cut"), again.Records.Select(r => r.Record));
            Assert.Equal(0, again.TornBytes);
        }
    }

    [Theory]
    [MemberData(nameof(LogBackend.Kinds), MemberType = typeof(LogBackend))]
    public void A_flipped_byte_in_the_last_record_is_a_torn_tail_and_is_cut(string kind)
    {
        using var backend = LogBackend.Create(kind);
        var path = backend.PathOf("flip-last.log");
        WriteRecords(backend, path, Three);
        var bytes = backend.ReadAll(path);
        bytes[^3] ^= 0x40;
        backend.WriteAll(path, bytes);

        using var log = RecordLog<string>.Open(backend.Files, path, Codec, out var scan);

        Assert.Equal(Three.Take(2), scan.Records.Select(r => r.Record));
        Assert.Empty(scan.Damaged);
        Assert.True(scan.TornBytes > 0);
    }

    [Theory]
    [MemberData(nameof(LogBackend.Kinds), MemberType = typeof(LogBackend))]
    public void A_checksum_mismatch_in_the_middle_is_reported_and_the_records_after_it_are_kept(string kind)
    {
        using var backend = LogBackend.Create(kind);
        var path = backend.PathOf("rot.log");
        WriteRecords(backend, path, Three);
        var bytes = backend.ReadAll(path);
        var secondStart = LogFrame.HeaderSize + Three[0].Length;
        bytes[secondStart + LogFrame.HeaderSize + 3] ^= 0x01;
        backend.WriteAll(path, bytes);

        using var log = RecordLog<string>.Open(backend.Files, path, Codec, out var scan);

        Assert.Equal([secondStart], scan.Damaged);
        Assert.Equal([Three[0], Three[2]], scan.Records.Select(r => r.Record));
        Assert.Equal(0, scan.TornBytes);
        Assert.Equal(bytes.Length, log.Length);
        Assert.Equal([Three[0], Three[2]], log.Read(0, 10).Select(r => r.Record));
    }

    [Theory]
    [MemberData(nameof(LogBackend.Kinds), MemberType = typeof(LogBackend))]
    public void A_rotten_header_in_the_middle_is_reported_and_the_records_after_it_are_kept_not_cut_as_a_torn_tail(string kind)
    {
        using var backend = LogBackend.Create(kind);
        var path = backend.PathOf("rot-header.log");
        WriteRecords(backend, path, Three);
        var bytes = backend.ReadAll(path);
        var secondStart = LogFrame.HeaderSize + Three[0].Length;
        bytes[secondStart + 6] ^= 0x10; // the body length: the header's own hash no longer matches
        backend.WriteAll(path, bytes);

        using (var log = RecordLog<string>.Open(backend.Files, path, Codec, out var scan))
        {
            Assert.Equal([secondStart], scan.Damaged);
            Assert.Equal([Three[0], Three[2]], scan.Records.Select(r => r.Record));
            Assert.Equal(0, scan.TornBytes);
            Assert.Equal([Three[0], Three[2]], log.Read(0, 10).Select(r => r.Record));
            Assert.Equal([Three[2]], log.Read(scan.Records[0].End, 10).Select(r => r.Record));
            log.Append(["fourth"]);
            log.Sync();
        }

        using var reopened = RecordLog<string>.Open(backend.Files, path, Codec, out var again);
        Assert.Equal([Three[0], Three[2], "fourth"], again.Records.Select(r => r.Record));
    }

    [Fact]
    public void A_record_of_a_newer_frame_version_is_a_clear_error()
    {
        var bytes = RecordLog<string>.Encode(Three, Codec);
        var secondStart = LogFrame.HeaderSize + Three[0].Length;

        // A well-formed header (its hash recomputed) that says frame version 2.
        var body = bytes.AsSpan(secondStart + LogFrame.HeaderSize, Three[1].Length).ToArray();
        LogFrame.WriteHeader(bytes.AsSpan(secondStart), Codec.RecordType, Codec.Version, body);
        bytes[secondStart + 8] = 2;
        var rehashed = bytes.AsSpan(secondStart, LogFrame.HeaderSize).ToArray();
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(rehashed.AsSpan(20), (uint)System.IO.Hashing.XxHash3.HashToUInt64(rehashed.AsSpan(0, 20)));
        rehashed.CopyTo(bytes.AsSpan(secondStart));

        var error = Assert.Throws<LogFormatException>(() => RecordLog<string>.Scan(bytes, Codec, "/x/v.log"));

        Assert.Contains("/x/v.log", error.Message);
        Assert.Contains("frame version 2", error.Message);
        Assert.Contains("reads up to version 1", error.Message);
    }

    [Fact]
    public void A_record_of_a_newer_body_version_is_a_clear_error_and_an_older_one_reads()
    {
        var newer = RecordLog<string>.Encode(["from the future"], new TestRecordCodec(version: 3));

        var error = Assert.Throws<LogFormatException>(() => RecordLog<string>.Scan(newer, new TestRecordCodec(version: 2), "v.log"));
        Assert.Contains("test record of version 3", error.Message);
        Assert.Contains("reads up to version 2", error.Message);

        var older = RecordLog<string>.Encode(["from the past"], new TestRecordCodec(version: 1));
        Assert.Equal("from the past", Assert.Single(RecordLog<string>.Scan(older, new TestRecordCodec(version: 2), "v.log").Records).Record);
    }

    [Fact]
    public void A_record_of_another_type_is_a_clear_error()
    {
        var positions = RecordLog<Dropbox.StorageNode.Engine.Positions>.Encode([new(Guid.NewGuid(), 1, 2)], PositionsCodec.Instance);

        var error = Assert.Throws<LogFormatException>(() => RecordLog<string>.Scan(positions, Codec, "mixed.log"));

        Assert.Contains("type 1", error.Message);
        Assert.Contains("not this log", error.Message);
    }

    [Theory]
    [MemberData(nameof(LogBackend.Kinds), MemberType = typeof(LogBackend))]
    public void Garbage_that_is_not_a_frame_after_the_records_is_cut(string kind)
    {
        using var backend = LogBackend.Create(kind);
        var path = backend.PathOf("garbage.log");
        WriteRecords(backend, path, Three);
        var bytes = backend.ReadAll(path).Concat(new byte[100]).ToArray();
        backend.WriteAll(path, bytes);

        using var log = RecordLog<string>.Open(backend.Files, path, Codec, out var scan);

        Assert.Equal(Three, scan.Records.Select(r => r.Record));
        Assert.Equal(100, scan.TornBytes);
        Assert.Equal(bytes.Length - 100, backend.ReadAll(path).Length);
    }

    [Fact]
    public void Records_not_synced_are_lost_on_power_loss_and_synced_ones_survive()
    {
        var files = new Dropbox.StorageNode.Engine.Files.MemoryFiles("/p");
        using (var log = RecordLog<string>.Open(files, "/p/a.log", Codec, out _))
        {
            log.Append(Three.Take(2).ToList());
            log.Sync();
            log.Append([Three[2]]);
            files.CrashNow(new Random(1));
        }

        using var reopened = RecordLog<string>.Open(files.Survivors!, "/p/a.log", Codec, out var scan);

        Assert.Equal(Three.Take(2), scan.Records.Select(r => r.Record));
    }

    [Theory]
    [MemberData(nameof(LogBackend.Kinds), MemberType = typeof(LogBackend))]
    public void Reads_from_any_record_in_batches_across_the_read_window_return_every_record_in_order(string kind)
    {
        using var backend = LogBackend.Create(kind);
        var path = backend.PathOf("window.log");

        // Small records past several windows, one record larger than a window, a record right after it.
        var records = Enumerable.Range(0, 3000).Select(i => $"record {i} " + new string('x', i % 37)).ToList();
        records.Insert(1500, new string('L', ReadWindow.Bytes + 1000));
        WriteRecords(backend, path, records);
        using var log = RecordLog<string>.Open(backend.Files, path, Codec, out var scan);
        Assert.Equal(records, scan.Records.Select(r => r.Record));

        var read = new List<string>();
        var from = 0L;
        for (var batches = 0; batches < 100 && from < log.DurableLength; batches++)
        {
            var batch = log.Read(from, 256);
            Assert.NotEmpty(batch);
            read.AddRange(batch.Select(r => r.Record));
            from = batch[^1].End;
        }

        Assert.Equal(records, read);
        Assert.Equal(log.DurableLength, from);

        // From the middle of the log (any record's start) to the end, each record's end as the scan found it.
        var middle = scan.Records[1499];
        Assert.Equal(scan.Records.Skip(1499).Take(5).Select(r => (r.Record, r.End)), log.Read(middle.Offset, 5));
        Assert.Empty(log.Read(log.DurableLength, 10));
    }

    [Theory]
    [MemberData(nameof(LogBackend.Kinds), MemberType = typeof(LogBackend))]
    public void Reading_many_small_records_takes_one_file_read_per_window_not_two_per_record(string kind)
    {
        using var backend = LogBackend.Create(kind);
        var path = backend.PathOf("reads.log");
        WriteRecords(backend, path, Enumerable.Range(0, 256).Select(i => $"chunk stored event {i}").ToList());
        using var log = RecordLog<string>.Open(backend.Files, path, Codec, out _);
        backend.Files.ResetCount();

        Assert.Equal(256, log.Read(0, 256).Count);

        Assert.Equal(1, backend.Files.Reads); // ~11 KiB of records: one window (two reads per record before: 512)
    }

    [Theory]
    [MemberData(nameof(LogBackend.Kinds), MemberType = typeof(LogBackend))]
    public void A_record_damaged_in_the_middle_is_skipped_by_reads_as_by_the_scan(string kind)
    {
        using var backend = LogBackend.Create(kind);
        var path = backend.PathOf("skip.log");
        WriteRecords(backend, path, Three);
        var bytes = backend.ReadAll(path);
        bytes[LogFrame.HeaderSize + LogFrame.HeaderSize + Three[0].Length + 2] ^= 0x01; // the second record's body
        backend.WriteAll(path, bytes);

        using var log = RecordLog<string>.Open(backend.Files, path, Codec, out var scan);

        Assert.Single(scan.Damaged);
        Assert.Equal([Three[0], Three[2]], log.Read(0, 10).Select(r => r.Record));
    }

    [Theory]
    [MemberData(nameof(LogBackend.Kinds), MemberType = typeof(LogBackend))]
    public void Reads_that_return_short_still_give_every_record_and_a_log_cut_short_ends_the_read_before_the_gap(string kind)
    {
        using var backend = LogBackend.Create(kind);
        var path = backend.PathOf("short.log");
        var records = Enumerable.Range(0, 3000).Select(i => $"event {i} " + new string('y', i % 29)).ToList();
        WriteRecords(backend, path, records);
        using var log = RecordLog<string>.Open(backend.Files, path, Codec, out var scan);
        backend.Files.MaxReadBytes = 1000; // every read of the window stops short of what it asked for

        var read = new List<string>();
        var from = 0L;
        for (var batches = 0; batches < 100 && from < log.DurableLength; batches++)
        {
            var batch = log.Read(from, 512);
            Assert.NotEmpty(batch);
            read.AddRange(batch.Select(r => r.Record));
            from = batch[^1].End;
        }

        Assert.Equal(records, read);

        // The file loses its tail under the log (outside its own writes): the read ends with the last whole record, and
        // the end it gives is that record's (a reader's delivered mark never passes an event it did not read).
        var cut = scan.Records[2000].Offset + 3;
        backend.Files.MaxReadBytes = null;
        using (var file = backend.Files.Open(path, FileMode.Open))
        {
            file.SetLength(cut);
        }

        var afterCut = log.Read(0, 5000);
        Assert.Equal(records.Take(2000), afterCut.Select(r => r.Record));
        Assert.Equal(scan.Records[1999].End, afterCut[^1].End);
    }
}
