using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;

namespace Dropbox.IntegrationTests.Observability;

/// <summary>
/// A scraped Prometheus text exposition, parsed strictly enough for tests: every non-comment line must be
/// <c>name{labels} value</c>, or the parse fails (so a broken exposition fails the test that scrapes it).
/// </summary>
internal sealed partial class PrometheusText
{
    private PrometheusText(List<(string Name, Dictionary<string, string> Labels, double Value)> samples, string text)
    {
        Samples = samples;
        Text = text;
    }

    public List<(string Name, Dictionary<string, string> Labels, double Value)> Samples { get; }

    public string Text { get; }

    /// <summary>GETs <paramref name="url"/> (HTTP/1.1), checks the content type and parses the body.</summary>
    public static async Task<PrometheusText> ScrapeAsync(HttpClient http, string url)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, url) { Version = System.Net.HttpVersion.Version11, VersionPolicy = HttpVersionPolicy.RequestVersionExact };
        using var response = await http.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"GET {url}: {(int)response.StatusCode} {body}");
        Assert.Equal(new Version(1, 1), response.Version);
        Assert.StartsWith("text/plain", response.Content.Headers.ContentType?.MediaType, StringComparison.Ordinal);
        return Parse(body);
    }

    public static PrometheusText Parse(string text)
    {
        var samples = new List<(string, Dictionary<string, string>, double)>();
        foreach (var line in text.Split('\n'))
        {
            if (line.Length == 0 || line.StartsWith('#'))
            {
                continue;
            }

            var m = SampleLine().Match(line);
            Assert.True(m.Success, $"Not a Prometheus sample line: '{line}'");
            var labels = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (Match label in LabelPair().Matches(m.Groups["labels"].Value))
            {
                labels[label.Groups[1].Value] = label.Groups[2].Value;
            }

            var value = m.Groups["value"].Value switch
            {
                "+Inf" => double.PositiveInfinity,
                "-Inf" => double.NegativeInfinity,
                "NaN" => double.NaN,
                var v => double.Parse(v, NumberStyles.Float, CultureInfo.InvariantCulture),
            };
            samples.Add((m.Groups["name"].Value, labels, value));
        }

        return new PrometheusText(samples, text);
    }

    /// <summary>
    /// Runs <c>promtool check metrics</c> (Debian's prometheus package; .ci/run installs it) on the exposition: the
    /// format and the naming conventions Prometheus lints for.
    /// </summary>
    public async Task AssertPromtoolAcceptsAsync()
    {
        var promtool = new[] { "/usr/bin/promtool", "/usr/local/bin/promtool" }.FirstOrDefault(File.Exists);
        Assert.True(promtool is not null, "promtool is not installed: apt-get install prometheus (Debian's package ships it; .ci/run installs it).");
        var info = new ProcessStartInfo(promtool!, ["check", "metrics"]) { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.StandardInput.WriteAsync(Text);
        process.StandardInput.Close();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await process.WaitForExitAsync(timeout.Token);
        var output = await stdout + await stderr;
        Assert.True(process.ExitCode == 0 && output.Trim().Length == 0, $"promtool check metrics: exit {process.ExitCode}\n{output}");
    }

    /// <summary>The sum of every sample named <paramref name="name"/> whose labels include <paramref name="labels"/>.</summary>
    public double Sum(string name, params (string Key, string Value)[] labels) =>
        Samples.Where(s => s.Name == name && labels.All(l => s.Labels.TryGetValue(l.Key, out var v) && v == l.Value)).Sum(s => s.Value);

    /// <summary>The one sample named <paramref name="name"/> (fails if absent).</summary>
    public double Single(string name)
    {
        var found = Samples.Where(s => s.Name == name).ToList();
        Assert.True(found.Count == 1, $"Expected one sample '{name}', found {found.Count} in:\n{Text}");
        return found[0].Value;
    }

    [GeneratedRegex(@"^(?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?<labels>(?:[a-zA-Z_][a-zA-Z0-9_]*=""(?:[^""\\]|\\.)*"",?)*)\})? (?<value>\S+)( \d+)?$")]
    private static partial Regex SampleLine();

    [GeneratedRegex(@"([a-zA-Z_][a-zA-Z0-9_]*)=""((?:[^""\\]|\\.)*)""")]
    private static partial Regex LabelPair();
}
