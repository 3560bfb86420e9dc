namespace Dropbox.SyncClient.Tests;

/// <summary>
/// A remote delete carried to a path the server never held (a file another device deleted right before this client's
/// case-conflict move of its folder: remembered at the row's new path with the rows' move, or put there from the feed by
/// <see cref="Sync.DeletesBeforeCaseMoves"/>), taken by a pass that withholds that path here (a link where the file was)
/// and stores its cursor. Only the path was remembered with the withheld ones, and its lookup, once the path was free,
/// found nothing on the server (the move never carried the file there): the delete was dropped, the file stayed here as
/// synced while the server lacked it, and a reconcile would send it back (the other device's delete undone; the planner
/// model's seeds 5yuK37HOMIz1, dQA4QpKZjAj2, epw5NXtMdS62). The delete is now kept with the followed moves while its path
/// is withheld. Real files, the real engine, a <see cref="FakeServer"/>; set-up as <see cref="GoneBeforeMoveFakeServerTests"/>.
/// </summary>
public sealed class WithheldCarriedDeleteTests : IDisposable
{
    private const string Moved = CaseClash.Moved;
    private const string Carried = Moved + "/x.txt";

    private readonly TempFolder _dir = new();
    private readonly FakeServer _server = new();

    public void Dispose() => _dir.Dispose();

    /// <summary>
    /// 'docs' renamed to its case-conflict name (on the server first), docs/x.txt deleted by another device right before the
    /// move; with <paramref name="listingFails"/> the listing after the move fails, so the delete is not remembered with the
    /// rows and the next pass takes it from the feed instead. x.txt is here under the new name after that pass.
    /// </summary>
    private async Task<TestClient> RenamedWithTheDeleteCarriedAsync(bool listingFails)
    {
        var a = await CaseClash.SyncedAsync(_dir, _server);
        CaseClash.DeleteBeforeTheMove(_server, "docs/x.txt");
        if (listingFails)
        {
            _server.BeforeListFiles = () => throw new Dropbox.Shared.Errors.DropboxException(Dropbox.Shared.Errors.ErrorKind.Unavailable, "the fake server is down for listings");
        }

        var renamed = await a.SyncAsync();
        _server.BeforeListFiles = null;
        Assert.Equal(0, renamed.Errors);
        Assert.True(File.Exists(a.PathOf(Carried)), "no rename: " + string.Join(" | ", renamed.Notes));
        Assert.Equal(listingFails, renamed.Notes.Any(n => n.Contains("could not be read after its move", StringComparison.Ordinal)));
        return a;
    }

    /// <summary>The user moves x.txt out of the folder and leaves a link in its place: the path is withheld here.</summary>
    private string PutALinkInPlace(TestClient a)
    {
        var aside = _dir.Sub("x kept aside.txt");
        File.Move(a.PathOf(Carried), aside);
        File.CreateSymbolicLink(a.PathOf(Carried), aside);
        return aside;
    }

    /// <summary>The link goes and the file comes back as it was (its bytes and mtime).</summary>
    private static void PutTheFileBack(TestClient a, string aside)
    {
        File.Delete(a.PathOf(Carried));
        File.Move(aside, a.PathOf(Carried));
    }

    private string State(TestClient a, IEnumerable<string> notes) =>
        $"here [{string.Join(", ", TestClient.FilesIn(a.Folder, option: SearchOption.AllDirectories).Select(f => Path.GetRelativePath(a.Folder, f)).Order(StringComparer.Ordinal))}]; "
        + $"server has x.txt: {_server.Current(Carried) is not null}; notes: [{string.Join(" | ", notes)}]";

    [Theory]
    [InlineData(false)] // remembered with the rows' move (LocalCaseRenames.GoneBeforeMove)
    [InlineData(true)] // read from the feed by the next pass (DeletesBeforeCaseMoves)
    public async Task A_carried_delete_taken_while_its_path_is_withheld_is_applied_once_the_path_is_free(bool listingFails)
    {
        using var a = await RenamedWithTheDeleteCarriedAsync(listingFails);
        var aside = PutALinkInPlace(a);

        var withheld = await a.SyncAsync();
        Assert.Equal(0, withheld.Errors);
        Assert.Contains(Carried, a.State.Withheld.Load());
        PutTheFileBack(a, aside);

        var notes = await Convergence.SettleAsync(a);

        Assert.False(File.Exists(a.PathOf(Carried)), "x.txt, deleted by the other device before the move, is still here: " + State(a, notes));
        Assert.Null(_server.Current(Carried));
        Assert.Equal("x as synced", File.ReadAllText(Directory.GetFiles(Path.Combine(a.State.StateDirectory, "trash"), "x*.txt", SearchOption.AllDirectories).Single()));
        await Convergence.AssertSameAsync(_server, a, notes);
    }

    /// <summary>
    /// While the path is withheld, another device makes x.txt at the new name on the server (after the pass that kept the
    /// delete): the newer file wins, never the kept delete (which shadowed the path's lookup, had it stayed).
    /// </summary>
    [Fact]
    public async Task A_file_made_on_the_server_at_the_path_since_wins_over_the_kept_delete()
    {
        using var a = await RenamedWithTheDeleteCarriedAsync(listingFails: false);
        var aside = PutALinkInPlace(a);
        Assert.Equal(0, (await a.SyncAsync()).Errors);
        await TestClient.CommitAsOtherClientAsync(_dir, _server, Carried, "made again by another device", client: "web4");
        Assert.Equal(0, (await a.SyncAsync()).Errors); // still withheld: the new file is skipped, its path remembered
        PutTheFileBack(a, aside);

        var notes = await Convergence.SettleAsync(a);

        Assert.Equal("made again by another device", a.Read(Carried));
        Assert.Equal("made again by another device".Length, (long)_server.Current(Carried)!.Size);
        await Convergence.AssertSameAsync(_server, a, notes);
    }

    /// <summary>The file comes back edited: the kept delete never takes the edit; it is kept and sent.</summary>
    [Fact]
    public async Task A_file_edited_while_withheld_is_kept_and_sent_over_the_kept_delete()
    {
        using var a = await RenamedWithTheDeleteCarriedAsync(listingFails: false);
        var aside = PutALinkInPlace(a);
        Assert.Equal(0, (await a.SyncAsync()).Errors);
        File.WriteAllText(aside, "edited while it was aside");
        File.SetLastWriteTimeUtc(aside, DateTime.UtcNow.AddMinutes(-5));
        PutTheFileBack(a, aside);

        var notes = await Convergence.SettleAsync(a);

        Assert.Equal("edited while it was aside", a.Read(Carried));
        Assert.Equal("edited while it was aside".Length, (long)_server.Current(Carried)!.Size);
        await Convergence.AssertSameAsync(_server, a, notes);
    }
}
