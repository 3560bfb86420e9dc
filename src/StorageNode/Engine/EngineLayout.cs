namespace Dropbox.StorageNode.Engine;

/// <summary>Where the engine keeps what, under its root folder.</summary>
internal sealed record EngineLayout(string Segments, string Index, string Quarantine, string Faster, string Positions)
{
    /// <summary>The layout of <paramref name="options"/>.</summary>
    public static EngineLayout Of(EngineOptions options)
    {
        var index = Path.Combine(options.Directory, "index");
        return new EngineLayout(
            Path.Combine(options.Directory, "segments"),
            index,
            Path.Combine(options.Directory, "quarantine"),
            options.IndexDirectory ?? Path.Combine(index, "faster"),
            Path.Combine(index, PositionsFile.Name));
    }
}
