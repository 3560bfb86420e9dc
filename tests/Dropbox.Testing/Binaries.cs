namespace Dropbox.Testing;

/// <summary>Finds the built node and client dlls (each in its own project's output, with its own deps and runtime config).</summary>
public static class Binaries
{
    private static readonly Lazy<(string Root, string Configuration)> Layout = new(() =>
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        var configuration = dir.Parent?.Name ?? "Debug"; // .../bin/<Configuration>/net10.0/
        for (var d = dir; d is not null; d = d.Parent)
        {
            if (File.Exists(Path.Combine(d.FullName, "Dropbox.sln")))
            {
                return (d.FullName, configuration);
            }
        }

        throw new InvalidOperationException($"Could not find Dropbox.sln above {AppContext.BaseDirectory}.");
    });

    /// <summary>The repository root (where Dropbox.sln is).</summary>
    public static string RepositoryRoot => Layout.Value.Root;

    public static string MetadataNode => Find("MetadataNode", "Dropbox.MetadataNode.dll");

    /// <summary>The standalone appliance (metadata and storage node in one process).</summary>
    public static string Appliance => Find("Appliance", "Dropbox.Appliance.dll");

    public static string StorageNode => Find("StorageNode", "Dropbox.StorageNode.dll");

    public static string SyncClient => Find("SyncClient", "Dropbox.SyncClient.dll");

    private static string Find(string project, string dll)
    {
        var (root, configuration) = Layout.Value;
        var own = Path.Combine(root, "src", project, "bin", configuration, "net10.0", dll);
        if (File.Exists(own))
        {
            return own;
        }

        var beside = Path.Combine(AppContext.BaseDirectory, dll);
        return File.Exists(beside) ? beside : throw new FileNotFoundException($"{dll} is not built (looked in {own} and beside the tests).");
    }
}
