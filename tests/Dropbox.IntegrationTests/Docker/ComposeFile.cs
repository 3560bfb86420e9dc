using System.Globalization;
using System.Text.RegularExpressions;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Dropbox.IntegrationTests.Docker;

/// <summary>
/// docker/compose.yaml read as compose reads it (YAML anchors and merge keys resolved, <c>${VAR}</c>,
/// <c>${VAR:-default}</c> and <c>${VAR:?error}</c> substituted), strictly: a service key the tests do not apply fails
/// the read, so a new setting cannot be silently left out of the topology the tests run.
/// </summary>
internal static partial class ComposeFile
{
    /// <summary>The service keys the tests apply (or that do not matter on one machine: image, the tag build.sh gives, restart, healthcheck).</summary>
    private static readonly HashSet<string> KnownServiceKeys = ["image", "build", "restart", "environment", "command", "entrypoint", "healthcheck", "volumes", "ports", "depends_on"];

    public static string DefaultPath => System.IO.Path.Combine(Binaries.RepositoryRoot, "docker", "compose.yaml");

    /// <summary>Reads the services of <paramref name="path"/> with <paramref name="variables"/> as the shell's environment.</summary>
    public static List<ComposeService> Read(string path, IReadOnlyDictionary<string, string> variables)
    {
        var stream = new YamlStream();
        using (var reader = new StringReader(File.ReadAllText(path)))
        {
            stream.Load(new MergingParser(new Parser(reader)));
        }

        var root = (YamlMappingNode)stream.Documents.Single().RootNode;
        var services = new List<ComposeService>();
        foreach (var (key, value) in Mapping(root, "services"))
        {
            var name = Scalar(key);
            var service = (YamlMappingNode)value;
            foreach (var k in service.Children.Keys.Select(Scalar))
            {
                if (!KnownServiceKeys.Contains(k))
                {
                    throw new InvalidOperationException($"{path}: service {name} has '{k}', which the topology tests do not apply: teach ComposeTopology what it means.");
                }
            }

            string Sub(YamlNode node) => Interpolate(Scalar(node), variables, $"{path}, service {name}");

            var build = (YamlMappingNode)(Child(service, "build") ?? throw new InvalidOperationException($"{path}: service {name} has no build:"));
            var dockerfile = Sub(Child(build, "dockerfile") ?? throw new InvalidOperationException($"{path}: service {name} has no build.dockerfile"));
            var command = Child(service, "command") is YamlSequenceNode c ? c.Children.Select(Sub).ToArray() : null;
            if (Child(service, "entrypoint") is not null)
            {
                throw new InvalidOperationException($"{path}: service {name} overrides the image's entrypoint; the tests run the Dockerfile's ENTRYPOINT.");
            }

            var environment = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var (k, v) in Mapping(service, "environment"))
            {
                environment[Scalar(k)] = Sub(v);
            }

            var ports = Sequence(service, "ports").Select(p => ParsePort(Sub(p), path)).ToList();
            var volumes = Sequence(service, "volumes").Select(v => ParseVolume(Sub(v), path)).ToList();
            var dependsOn = Mapping(service, "depends_on")
                .Select(d => (Scalar(d.Key), Scalar(Child((YamlMappingNode)d.Value, "condition") ?? throw new InvalidOperationException($"{path}: service {name} depends on {Scalar(d.Key)} without a condition"))))
                .ToList();
            var image = Child(service, "image") is { } i ? Sub(i) : null;
            services.Add(new ComposeService(name, image, dockerfile, command, environment, ports, volumes, dependsOn));
        }

        return services;
    }

    /// <summary>Compose's variable substitution in one value; an unset <c>${VAR:?message}</c> fails with the message.</summary>
    public static string Interpolate(string value, IReadOnlyDictionary<string, string> variables, string where) =>
        Variable().Replace(value, m =>
        {
            if (m.Value == "$$")
            {
                return "$";
            }

            var name = m.Groups["name"].Success ? m.Groups["name"].Value : m.Groups["bare"].Value;
            var set = variables.TryGetValue(name, out var v);
            var empty = !set || string.IsNullOrEmpty(v);
            var op = m.Groups["op"].Value;
            var arg = m.Groups["arg"].Value;
            return op switch
            {
                "" => v ?? string.Empty,
                ":-" => empty ? arg : v!,
                "-" => set ? v! : arg,
                ":?" => empty ? throw new InvalidOperationException($"{where}: {name} is required: {arg}") : v!,
                "?" => set ? v! : throw new InvalidOperationException($"{where}: {name} is required: {arg}"),
                _ => throw new InvalidOperationException($"{where}: unknown substitution {m.Value}"),
            };
        });

    private static (int Published, int Container) ParsePort(string spec, string path)
    {
        // "HOST:CONTAINER" or "IP:HOST:CONTAINER"; ranges and protocols are not used in the file.
        var parts = spec.Split(':');
        return parts.Length is 2 or 3 && int.TryParse(parts[^2], NumberStyles.None, CultureInfo.InvariantCulture, out var published) && int.TryParse(parts[^1], NumberStyles.None, CultureInfo.InvariantCulture, out var container)
            ? (published, container)
            : throw new InvalidOperationException($"{path}: port '{spec}' is not [IP:]HOST:CONTAINER");
    }

    private static (string Volume, string Target) ParseVolume(string spec, string path)
    {
        // "NAME:/path" or "NAME:/path:ro" (named volumes only: a bind mount would be a host path).
        var parts = spec.Split(':');
        return parts.Length is 2 or 3 && !parts[0].StartsWith('/') && !parts[0].StartsWith('.') && parts[1].StartsWith('/')
            ? (parts[0], parts[1])
            : throw new InvalidOperationException($"{path}: volume '{spec}' is not NAME:/path[:ro]");
    }

    private static YamlNode? Child(YamlMappingNode parent, string key) =>
        parent.Children.Where(c => c.Key is YamlScalarNode { Value: var k } && k == key).Select(c => c.Value).SingleOrDefault();

    private static IEnumerable<KeyValuePair<YamlNode, YamlNode>> Mapping(YamlMappingNode parent, string key) =>
        Child(parent, key) is { } node ? ((YamlMappingNode)node).Children : [];

    private static IEnumerable<YamlNode> Sequence(YamlMappingNode parent, string key) =>
        Child(parent, key) is { } node ? ((YamlSequenceNode)node).Children : [];

    private static string Scalar(YamlNode node) => ((YamlScalarNode)node).Value ?? string.Empty;

    [GeneratedRegex(@"\$\$|\$\{(?<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?<op>:-|-|:\?|\?)(?<arg>[^}]*))?\}|\$(?<bare>[A-Za-z_][A-Za-z0-9_]*)")]
    private static partial Regex Variable();
}
