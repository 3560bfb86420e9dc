namespace Dropbox.IntegrationTests.Docker;

/// <summary>One service of docker/compose.yaml, with the compose variables already substituted.</summary>
/// <param name="Name">The service's name (also its host name inside the compose network).</param>
/// <param name="Image">Its <c>image:</c> (the tag it runs, and gives what it builds), or null.</param>
/// <param name="Dockerfile">The Dockerfile it is built from, relative to the repository root.</param>
/// <param name="Command">Its <c>command:</c> (replaces the image's CMD), or null to run the image's CMD.</param>
/// <param name="Environment">Its <c>environment:</c>.</param>
/// <param name="Ports">Its <c>ports:</c> as (published host port, container port).</param>
/// <param name="Volumes">Its <c>volumes:</c> as (named volume, path in the container).</param>
/// <param name="DependsOn">Its <c>depends_on:</c> as (service, condition).</param>
internal sealed record ComposeService(
    string Name,
    string? Image,
    string Dockerfile,
    string[]? Command,
    IReadOnlyDictionary<string, string> Environment,
    IReadOnlyList<(int Published, int Container)> Ports,
    IReadOnlyList<(string Volume, string Target)> Volumes,
    IReadOnlyList<(string Service, string Condition)> DependsOn);
