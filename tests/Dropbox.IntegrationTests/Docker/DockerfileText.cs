using System.Text.Json;
using System.Text.RegularExpressions;

namespace Dropbox.IntegrationTests.Docker;

/// <summary>
/// The instructions of one of docker/Dockerfile.*, read strictly enough for tests: continuation lines joined, comments
/// dropped, and the parts the tests run (ARG defaults, FROM, COPY, ENTRYPOINT, CMD, HEALTHCHECK) taken apart. An
/// instruction of a shape the tests do not know fails the read rather than being skipped.
/// </summary>
internal sealed partial class DockerfileText
{
    private DockerfileText(string path, List<(string Keyword, string Arguments)> instructions)
    {
        Path = path;
        Instructions = instructions;
    }

    public string Path { get; }

    /// <summary>Every instruction in order: its keyword (upper case) and the rest of its (joined) line.</summary>
    public List<(string Keyword, string Arguments)> Instructions { get; }

    /// <summary>The default of each <c>ARG NAME=DEFAULT</c> (null for an <c>ARG NAME</c> without one).</summary>
    public Dictionary<string, string?> ArgDefaults
    {
        get
        {
            var args = new Dictionary<string, string?>(StringComparer.Ordinal);
            foreach (var (_, a) in Instructions.Where(i => i.Keyword == "ARG"))
            {
                var eq = a.IndexOf('=', StringComparison.Ordinal);
                args[eq < 0 ? a.Trim() : a[..eq].Trim()] = eq < 0 ? null : a[(eq + 1)..].Trim();
            }

            return args;
        }
    }

    /// <summary>The image of each FROM as written (<c>${BASE}</c>, <c>name:tag</c>), without any <c>AS stage</c>.</summary>
    public List<string> FromImages => Instructions.Where(i => i.Keyword == "FROM").Select(i => i.Arguments.Split(' ', StringSplitOptions.RemoveEmptyEntries)[0]).ToList();

    /// <summary>Each COPY without <c>--from</c>: its sources (paths in the build context) and its destination.</summary>
    public List<(string[] Sources, string Destination)> ContextCopies =>
        Instructions.Where(i => i.Keyword == "COPY" && !i.Arguments.Contains("--from=", StringComparison.Ordinal))
            .Select(i => i.Arguments.Split(' ', StringSplitOptions.RemoveEmptyEntries).Where(w => !w.StartsWith("--", StringComparison.Ordinal)).ToArray())
            .Select(words => (words[..^1], words[^1]))
            .ToList();

    /// <summary>The exec-form ENTRYPOINT (a JSON array).</summary>
    public string[] Entrypoint => ExecForm("ENTRYPOINT") ?? throw new InvalidOperationException($"{Path} has no exec-form ENTRYPOINT.");

    /// <summary>The exec-form CMD, or null when the Dockerfile has none.</summary>
    public string[]? Cmd => ExecForm("CMD");

    /// <summary>The shell command of <c>HEALTHCHECK [OPTIONS] CMD command</c>, or null when there is none.</summary>
    public string? HealthcheckCommand
    {
        get
        {
            var health = Instructions.Where(i => i.Keyword == "HEALTHCHECK").Select(i => i.Arguments).SingleOrDefault();
            if (health is null)
            {
                return null;
            }

            var m = HealthcheckCmd().Match(health);
            return m.Success ? m.Groups[1].Value : throw new InvalidOperationException($"{Path}: HEALTHCHECK is not 'HEALTHCHECK [--options] CMD command': {health}");
        }
    }

    public static DockerfileText Read(string path)
    {
        var instructions = new List<(string, string)>();
        var pending = string.Empty;
        foreach (var raw in File.ReadAllLines(path))
        {
            var line = raw.TrimEnd();
            if (line.TrimStart().StartsWith('#') || (line.Length == 0 && pending.Length == 0))
            {
                continue;
            }

            if (line.EndsWith('\\'))
            {
                pending += line[..^1] + " ";
                continue;
            }

            var whole = (pending + line).Trim();
            pending = string.Empty;
            var m = InstructionLine().Match(whole);
            if (!m.Success)
            {
                throw new InvalidOperationException($"{path}: not an instruction: {whole}");
            }

            instructions.Add((m.Groups[1].Value.ToUpperInvariant(), Spaces().Replace(m.Groups[2].Value, " ").Trim()));
        }

        return pending.Length == 0 ? new DockerfileText(path, instructions) : throw new InvalidOperationException($"{path} ends inside a continued line.");
    }

    private string[]? ExecForm(string keyword)
    {
        var found = Instructions.Where(i => i.Keyword == keyword).Select(i => i.Arguments).ToList();
        if (found.Count == 0)
        {
            return null;
        }

        // Only the last one counts, as in Docker.
        var json = found[^1];
        return json.StartsWith('[') ? JsonSerializer.Deserialize<string[]>(json) : throw new InvalidOperationException($"{Path}: {keyword} is not in exec form (a JSON array): {json}");
    }

    [GeneratedRegex(@"^([A-Za-z]+)\s+(.*)$")]
    private static partial Regex InstructionLine();

    [GeneratedRegex(@"\s+")]
    private static partial Regex Spaces();

    [GeneratedRegex(@"^(?:--\S+\s+)*CMD\s+(.+)$")]
    private static partial Regex HealthcheckCmd();
}
