using System.Text.RegularExpressions;

namespace Dropbox.IntegrationTests.Architecture;

/// <summary>
/// Issue 12's bound on the servers' shape, and issue 14's on the client's: no type of the nodes, the appliance, the
/// code they share or the sync client is over about 800 lines, its partial files counted together (<c>MetadataStore</c>
/// was once 2,124 lines over 8 partials, the reader lost in it; the client's <c>SyncEngine</c> 1,157 over 3, its side
/// paths now the named parts <c>CaseConflicts</c> and <c>DisplacedFiles</c>). A type that outgrows it is split by
/// responsibility, not by moving methods to another partial.
/// </summary>
public sealed partial class ClassSizeTests
{
    private const int MaxLines = 800;

    private static readonly string[] Projects = ["src/MetadataNode", "src/StorageNode", "src/Shared", "src/Hosting", "src/Appliance", "src/SyncClient"];

    [Fact]
    public void No_server_or_client_type_is_over_800_lines_with_its_partials()
    {
        var sizes = TypeSizes();
        Assert.Contains(sizes, s => s.Type == "UploadCommit" && s.Files > 1); // partials are found and summed
        Assert.Contains(sizes, s => s.Project == "src/SyncClient" && s.Type == "SyncEngine"); // the client is counted
        var over = sizes.Where(s => s.Lines > MaxLines).Select(s => $"{s.Project} {s.Type}: {s.Lines} lines in {s.Files} file(s)").ToList();
        Assert.True(over.Count == 0, $"Over {MaxLines} lines: {string.Join("; ", over)}");
    }

    [Fact]
    public void Partial_files_are_summed_under_their_type()
    {
        // The counter itself: a type's partials in two files count as one type, a plain type as itself.
        var files = new[]
        {
            ("A.cs", "namespace X;\ninternal sealed partial class A\n{\n}\n"),
            ("A.Part.cs", "namespace X;\n\ninternal sealed partial class A\n{\n    private int _x;\n}\n"),
            ("B.cs", "namespace X;\npublic sealed class B;\n"),
        };
        var sizes = Sum("p", files).ToDictionary(s => s.Type);
        Assert.Equal((10, 2), (sizes["A"].Lines, sizes["A"].Files));
        Assert.Equal((2, 1), (sizes["B"].Lines, sizes["B"].Files));
    }

    private static List<TypeSize> TypeSizes()
    {
        var all = new List<TypeSize>();
        foreach (var project in Projects)
        {
            var root = Path.Combine(Binaries.RepositoryRoot, project);
            var files = Directory.EnumerateFiles(root, "*.cs", SearchOption.AllDirectories)
                .Where(f => !IsBuildOutput(Path.GetRelativePath(root, f)))
                .Select(f => (Path.GetFileName(f), File.ReadAllText(f)));
            all.AddRange(Sum(project, files));
        }

        return all;
    }

    /// <summary>
    /// One entry per type: a file with top-level partial declarations counts for the one named like the file (else its
    /// first), any other file for the type it is named after (one type per file).
    /// </summary>
    private static IEnumerable<TypeSize> Sum(string project, IEnumerable<(string Name, string Text)> files) =>
        files
            .Select(f =>
            {
                var baseName = f.Name.Split('.')[0];
                var partials = PartialDeclaration().Matches(f.Text).Select(m => m.Groups["name"].Value).ToList();
                var type = partials.Count == 0 || partials.Contains(baseName) ? baseName : partials[0];
                return (Type: type, Lines: f.Text.Count(c => c == '\n'));
            })
            .GroupBy(f => f.Type, StringComparer.Ordinal)
            .Select(g => new TypeSize(project, g.Key, g.Sum(f => f.Lines), g.Count()));

    private static bool IsBuildOutput(string relative) =>
        relative.StartsWith("bin" + Path.DirectorySeparatorChar, StringComparison.Ordinal)
        || relative.StartsWith("obj" + Path.DirectorySeparatorChar, StringComparison.Ordinal);

    [GeneratedRegex(@"^(?:\w+\s+)*partial\s+(?:class|struct|interface|record(?:\s+class|\s+struct)?)\s+(?<name>\w+)", RegexOptions.Multiline)]
    private static partial Regex PartialDeclaration();

    private sealed record TypeSize(string Project, string Type, int Lines, int Files);
}
