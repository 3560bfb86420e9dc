using System.Reflection;
using System.Xml.Linq;
using Dropbox.Appliance;
using Dropbox.IntegrationTests.Client;
using Dropbox.MetadataNode;
using Dropbox.StorageNode;
using Xunit;

namespace Dropbox.IntegrationTests.Architecture;

/// <summary>
/// The two node kinds are built, shipped and changed apart: neither node's assembly nor project references the other's.
/// Only the appliance (<c>standalone</c>) brings both into one process.
/// </summary>
public sealed class NodeIndependenceTests
{
    private static readonly Assembly Metadata = typeof(MetadataNodeHost).Assembly;
    private static readonly Assembly Storage = typeof(StorageNodeHost).Assembly;

    [Fact]
    public void The_metadata_node_assembly_does_not_reference_the_storage_node()
    {
        Assert.DoesNotContain(Storage.GetName().Name, ReferencedNames(Metadata));
    }

    [Fact]
    public void The_storage_node_assembly_does_not_reference_the_metadata_node()
    {
        Assert.DoesNotContain(Metadata.GetName().Name, ReferencedNames(Storage));
    }

    [Fact]
    public void The_appliance_assembly_references_both_nodes()
    {
        // The check above means something only if a real reference shows up in this list.
        var names = ReferencedNames(typeof(ApplianceCommandLine).Assembly);
        Assert.Contains(Metadata.GetName().Name, names);
        Assert.Contains(Storage.GetName().Name, names);
    }

    [Theory]
    [InlineData("src/MetadataNode/Dropbox.MetadataNode.csproj", "StorageNode")]
    [InlineData("src/StorageNode/Dropbox.StorageNode.csproj", "MetadataNode")]
    [InlineData("src/Hosting/Dropbox.Hosting.csproj", "StorageNode")]
    [InlineData("src/Hosting/Dropbox.Hosting.csproj", "MetadataNode")]
    public void A_node_project_has_no_project_reference_to_the_other_node(string project, string forbidden)
    {
        // Also catches a reference the compiler dropped from the assembly because no type of it is used yet.
        var path = Path.Combine(Binaries.RepositoryRoot, project);
        var references = XDocument.Load(path).Descendants("ProjectReference")
            .Select(r => (string?)r.Attribute("Include") ?? string.Empty)
            .ToList();
        Assert.NotEmpty(references);
        Assert.DoesNotContain(references, r => r.Contains(forbidden, StringComparison.Ordinal));
    }

    private static List<string?> ReferencedNames(Assembly assembly) =>
        assembly.GetReferencedAssemblies().Select(a => a.Name).ToList();
}
