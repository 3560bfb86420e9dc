using Dropbox.SyncClient.Local;

namespace Dropbox.SyncClient.Tests;

/// <summary>The case probe: its temp file is one the scan sweeps, and a probe that could not tell is asked again.</summary>
public sealed class CaseProbeTests : IDisposable
{
    private readonly TempFolder _dir = new();
    private readonly FakeServer _server = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void The_probe_file_is_named_as_a_temp_file_the_scan_sweeps_when_left_behind()
    {
        Assert.True(TempName.IsOwn(TempName.New()));
    }

    [Fact]
    public void A_probe_on_a_case_sensitive_folder_says_so_and_leaves_nothing_behind()
    {
        var folder = _dir.CreateSub("plain");

        Assert.False(CaseProbe.Folds(folder));
        Assert.Empty(Directory.EnumerateFileSystemEntries(folder));
    }

    [Fact]
    public void A_probe_that_could_not_tell_is_asked_again_and_a_definite_answer_is_kept()
    {
        var asked = 0;
        using var mac = new TestClient(_dir, "mac", _server, caseProbe: _ => ++asked == 1 ? null : true);

        var first = mac.Context.FoldsCase; // could not tell: said so, whatever the platform (no default stands in)
        var second = mac.Context.FoldsCase;
        var third = mac.Context.FoldsCase;

        Assert.Null(first);
        Assert.True(second);
        Assert.True(third);
        Assert.Equal(2, asked);
    }
}
