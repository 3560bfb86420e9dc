namespace Dropbox.Benchmarks.Client;

/// <summary>
/// Finds a built executable project's dll in its own output (<c>src/P/bin/CONFIG/net10.0/</c>, with its own deps and
/// runtime config: the copy beside the benchmarks shares their dependency versions, which need not match), else beside.
/// </summary>
internal static class BuiltBinaries
{
    public static string Find(string project, string dll)
    {
        var here = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        var configuration = here.Parent?.Name ?? "Release"; // .../bin/<Configuration>/net10.0/
        for (var d = here; d is not null; d = d.Parent)
        {
            var own = Path.Combine(d.FullName, "src", project, "bin", configuration, "net10.0", dll);
            if (File.Exists(Path.Combine(d.FullName, "Dropbox.sln")) && File.Exists(own))
            {
                return own;
            }
        }

        var beside = Path.Combine(AppContext.BaseDirectory, dll);
        return File.Exists(beside) ? beside : throw new FileNotFoundException($"{dll} is not built; build {project} in Release.");
    }
}
