using Dropbox.Shared.Chunks;
using System.Reflection;
using Dropbox.SyncClient.State;

namespace Dropbox.SyncClient.Tests;

/// <summary>
/// One writer of the local db: the sync code changes the synced tree, the cursor and the rest only through
/// <see cref="LocalDbWriter"/>. Checked on the compiled client (every method body's calls), so a new write from a side
/// path fails here rather than in a review.
/// </summary>
public sealed class LocalDbWriterTests
{
    /// <summary>The write methods of the local db: <see cref="LocalState"/>'s and those of the row stores it exposes.</summary>
    private static readonly HashSet<(Type, string)> WriteMethods =
    [
        (typeof(LocalState), nameof(LocalState.SetSetting)), (typeof(LocalState), nameof(LocalState.PutFile)), (typeof(LocalState), nameof(LocalState.PutFiles)),
        (typeof(LocalState), nameof(LocalState.TouchFile)), (typeof(LocalState), nameof(LocalState.RemoveFile)), (typeof(LocalState), nameof(LocalState.MoveFile)), (typeof(LocalState), nameof(LocalState.MoveFiles)),
        (typeof(LocalState), nameof(LocalState.ResetSyncState)), (typeof(WithheldStore), nameof(WithheldStore.Set)), (typeof(IgnoreRulesStore), nameof(IgnoreRulesStore.Set)),
        (typeof(UploadProgressStore), nameof(UploadProgressStore.Begin)), (typeof(UploadProgressStore), nameof(UploadProgressStore.AddProgress)),
        (typeof(UploadProgressStore), nameof(UploadProgressStore.End)), (typeof(LocalState), nameof(LocalState.SetUnknownChangeTimes)),
        (typeof(LocalState), nameof(LocalState.SetExecutableBit)), (typeof(LocalState), nameof(LocalState.ResetExecutableBits)),
    ];

    [Fact]
    public void The_guarded_list_names_every_write_method_of_the_local_state_and_its_row_stores()
    {
        // The reads return what they read; a public method returning nothing (Dispose aside) can only write. A new one
        // missing from the list would be callable from any side path without the guard below noticing.
        // LocalState and every row store it exposes (a property of a type of the State namespace): a new store is checked too.
        var stores = typeof(LocalState).GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Select(p => p.PropertyType).Where(t => t.Namespace == typeof(LocalState).Namespace && t.Name.EndsWith("Store", StringComparison.Ordinal));
        var writes = stores.Prepend(typeof(LocalState)).Distinct()
            .SelectMany(t => t.GetMethods(BindingFlags.Public | BindingFlags.Instance | BindingFlags.DeclaredOnly))
            .Where(m => m.ReturnType == typeof(void) && m.Name != nameof(LocalState.Dispose))
            .Select(m => (m.DeclaringType!, m.Name)).ToHashSet();

        Assert.Contains((typeof(LocalState), nameof(LocalState.PutFile)), writes);
        Assert.Contains((typeof(WithheldStore), nameof(WithheldStore.Set)), writes);
        Assert.Contains((typeof(UploadProgressStore), nameof(UploadProgressStore.Begin)), writes);
        Assert.Empty(writes.Except(WriteMethods).Select(w => $"{w.Item1.Name}.{w.Item2}").Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Only_the_db_writer_and_the_cli_configuration_call_the_local_state_write_methods()
    {
        var callers = WriteCallers();

        // The scan sees calls at all: the writer itself is found, and so is the login command's configuration.
        Assert.Contains(typeof(LocalDbWriter).FullName!, callers);
        Assert.Contains(callers, c => c.StartsWith("Dropbox.SyncClient.Cli.", StringComparison.Ordinal));
        Assert.Equal([typeof(LocalDbWriter).FullName!], callers.Where(c => !c.StartsWith("Dropbox.SyncClient.Cli.", StringComparison.Ordinal)));
    }

    /// <summary>The outermost types (lambdas and async state machines count for the type they are written in) whose code calls a write method.</summary>
    [Theory]
    [InlineData(StateKeys.Cursor)]
    [InlineData(StateKeys.FolderId)]
    [InlineData(StateKeys.Token)]
    public void A_pass_setting_write_refuses_any_other_key_and_writes_nothing(string key)
    {
        using var dir = new TempFolder();
        using var state = LocalState.Open(dir.Path);
        state.SetSetting(key, "before");

        var e = Assert.Throws<ArgumentException>(() => state.Writer.SetPassSetting(key, "after"));
        state.Writer.SetPassSetting(StateKeys.LastSync, "now");

        Assert.Contains("not a pass setting", e.Message, StringComparison.Ordinal);
        Assert.Equal("before", state.GetSetting(key));
        Assert.Equal("now", state.GetSetting(StateKeys.LastSync));
    }

    [Fact]
    public void A_move_whose_new_row_cannot_be_written_keeps_the_old_row()
    {
        // Arrange: a synced file with its chunk rows.
        using var dir = new TempFolder();
        using var state = LocalState.Open(dir.Path);
        var chunk = ChunkRef.Raw(ChunkId.Compute("moved bytes"u8), 11);
        state.PutFile(new FileRecord("a.bin", FileKind.File, 11, 1_000, 3, [1, 2, 3]), [chunk]);

        // Act: the new row is refused (an empty path) after the old one was deleted in the same move.
        var e = Assert.Throws<ArgumentException>(() => state.Writer.RecordMove("a.bin", new FileRecord("", FileKind.File, 11, 1_000, 4, [1, 2, 3]), [chunk]));

        // Assert: the move is one transaction, so nothing of it was written (three statements used to forget a.bin here).
        Assert.Contains("empty path", e.Message, StringComparison.Ordinal);
        Assert.Equal(3UL, state.GetFile("a.bin")?.Version);
        Assert.Equal([chunk], state.GetChunks("a.bin"));
    }

    [Fact]
    public void The_rows_moves_and_the_case_memory_are_written_together_or_not_at_all()
    {
        // Arrange: two synced files and a case-conflict memory as it was.
        using var dir = new TempFolder();
        using var state = LocalState.Open(dir.Path);
        var chunk = ChunkRef.Raw(ChunkId.Compute("moved bytes"u8), 11);
        state.PutFile(new FileRecord("d/a.bin", FileKind.File, 11, 1_000, 3, [1, 2, 3]), [chunk]);
        state.PutFile(new FileRecord("d/b.bin", FileKind.File, 11, 1_000, 5, [1, 2, 3]), [chunk]);
        state.SetSetting(StateKeys.CaseFollowedMoves, "[]");

        // Act: the second move's new row is refused (an empty path) after the first move and before the memory.
        var e = Assert.Throws<ArgumentException>(() => state.Writer.RecordMoves(
            [("d/a.bin", new FileRecord("e/a.bin", FileKind.File, 11, 1_000, 4, [1, 2, 3]), [chunk]), ("d/b.bin", new FileRecord("", FileKind.File, 11, 1_000, 6, [1, 2, 3]), [chunk])],
            "[\"remembered\"]"));

        // Assert: nothing of it was written; then the same without the bad row writes all of it.
        Assert.Contains("empty path", e.Message, StringComparison.Ordinal);
        Assert.Equal(3UL, state.GetFile("d/a.bin")?.Version);
        Assert.Null(state.GetFile("e/a.bin"));
        Assert.Equal("[]", state.GetSetting(StateKeys.CaseFollowedMoves));

        state.Writer.RecordMoves([("d/a.bin", new FileRecord("e/a.bin", FileKind.File, 11, 1_000, 4, [1, 2, 3]), [chunk])], "[\"remembered\"]");
        Assert.Null(state.GetFile("d/a.bin"));
        Assert.Equal(4UL, state.GetFile("e/a.bin")?.Version);
        Assert.Equal([chunk], state.GetChunks("e/a.bin"));
        Assert.Equal("[\"remembered\"]", state.GetSetting(StateKeys.CaseFollowedMoves));
    }

    private static SortedSet<string> WriteCallers()
    {
        const BindingFlags all = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;
        var callers = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var type in typeof(LocalState).Assembly.GetTypes())
        {
            foreach (var method in type.GetMethods(all).Cast<MethodBase>().Concat(type.GetConstructors(all)))
            {
                var il = method.GetMethodBody()?.GetILAsByteArray();
                if (il is null || type == typeof(LocalState))
                {
                    continue;
                }

                for (var i = 0; i + 4 < il.Length; i++)
                {
                    // call / callvirt followed by a method token (MethodDef, MemberRef, MethodSpec); a byte that only looks
                    // like one resolves to nothing or to some other method.
                    if (il[i] is not (0x28 or 0x6F) || il[i + 4] is not (0x06 or 0x0A or 0x2B) || Resolve(type, method, BitConverter.ToInt32(il, i + 1)) is not { } callee)
                    {
                        continue;
                    }

                    if (callee.DeclaringType is { } declaringType && WriteMethods.Contains((declaringType, callee.Name)))
                    {
                        var outer = type;
                        while (outer.DeclaringType is { } declaring)
                        {
                            outer = declaring;
                        }

                        callers.Add(outer.FullName!);
                    }
                }
            }
        }

        return callers;
    }

    private static MethodBase? Resolve(Type type, MethodBase method, int token)
    {
        try
        {
            return type.Module.ResolveMethod(token, type.IsGenericType ? type.GetGenericArguments() : null, method.IsGenericMethod ? method.GetGenericArguments() : null);
        }
        catch (Exception e) when (e is ArgumentException or BadImageFormatException or TypeLoadException or MissingMethodException)
        {
            return null;
        }
    }
}
