using System.Diagnostics;
using System.Globalization;
using System.Xml.Linq;
using Tolapai.Perf.Cli;

namespace Tolapai.Perf.Tests;

/// <summary>Runs only where Chromium is installed (.ci/run installs Debian's chromium).</summary>
public sealed class ChromiumFactAttribute : FactAttribute
{
    public ChromiumFactAttribute()
    {
        if (Path is null)
        {
            Skip = "Chromium not installed (/usr/bin/chromium missing): apt-get install -y chromium";
        }
    }

    public static string? Path { get; } = new[] { "/usr/bin/chromium", "/usr/bin/chromium-browser" }.FirstOrDefault(File.Exists);
}

[Collection(MultiProcessCollection.Name)]
public sealed class ReportTests : IDisposable
{
    private static readonly XNamespace Svg = "http://www.w3.org/2000/svg";
    private static readonly XNamespace Xhtml = "http://www.w3.org/1999/xhtml";
    private readonly string _dir = Directory.CreateTempSubdirectory("tolapai-report-tests-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static (int Exit, string Out, string Err) Run(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        int exit = PerfCommands.CreateDispatcher().Run(args, output, error);
        return (exit, output.ToString(), error.ToString());
    }

    private string WriteRun(string name, string mode, double scale, bool timeline)
    {
        int[] sizes = [64, 128, 256, 512, 1024, 2048, 4096];
        string results = string.Join(",\n", sizes.Select((s, i) => string.Create(CultureInfo.InvariantCulture,
            $$"""{ "size": {{s}}, "ops": 10000, "opsPerSec": {{100000 * scale / (i + 1)}}, "mbps": {{(double)s * 8 * 100000 * scale / (i + 1) / 1e6}}, "cyclesPerOp": 1000, "latencyNs": { "p50": {{2000 + (i * 500)}}, "p99": {{8000 + (i * 900)}}, "p999": {{20000 + i}}, "max": {{90000 + i}} }, "retries": 0, "verified": true }""")));
        string time = timeline
            ? """, "timeline": [ { "seconds": 0.5, "mbps": 900 }, { "seconds": 1.0, "mbps": 950 }, { "seconds": 1.5, "mbps": 300 }, { "seconds": 2.0, "mbps": 940 } ], "migrationEvents": [ { "seconds": 1.4, "downtimeMs": 12.5 } ]"""
            : "";
        string path = Path.Combine(_dir, name);
        File.WriteAllText(path, $$"""{ "mode": "{{mode}}", "alg": "3des-cbc", "guests": 1, "results": [ {{results}} ]{{time}} }""");
        return path;
    }

    private (string Html, XDocument Doc) Build()
    {
        string native = WriteRun("native.json", "native", 1.0, timeline: false);
        string split = WriteRun("split.json", "split", 0.9, timeline: true);
        string html = Path.Combine(_dir, "report.html");
        (int exit, string output, string error) = Run("report", "--html", html, "--inputs", $"{native},{split}");
        Assert.True(exit == ExitCodes.Ok, error);
        Assert.Contains("report:", output, StringComparison.Ordinal);
        string text = File.ReadAllText(html);
        return (html, XDocument.Parse(text.Replace("<!DOCTYPE html>", "", StringComparison.Ordinal)));
    }

    [Fact]
    public void The_report_is_one_well_formed_page_with_every_chart_and_no_external_reference()
    {
        (string html, XDocument doc) = Build();
        string text = File.ReadAllText(html);

        string[] charts = doc.Descendants(Svg + "svg").Select(s => (string)s.Attribute("id")!).ToArray();
        Assert.Equal(["throughput-vs-size", "latency-vs-size", "latency-distribution", "throughput-over-time"], charts);
        Assert.DoesNotContain("http://", text.Replace("http://www.w3.org/", "", StringComparison.Ordinal), StringComparison.Ordinal);
        Assert.DoesNotContain("https://", text, StringComparison.Ordinal);
        Assert.DoesNotContain(" src=", text, StringComparison.Ordinal);
        Assert.Equal(15, doc.Descendants(Xhtml + "tr").Count()); // 7 sizes x 2 runs
    }

    [Fact]
    public void Each_chart_draws_one_line_per_run_with_a_point_per_size()
    {
        (_, XDocument doc) = Build();
        XElement Chart(string id) => doc.Descendants(Svg + "svg").Single(s => (string?)s.Attribute("id") == id);
        string[] Labels(string id) => Chart(id).Descendants(Svg + "polyline").Select(p => (string)p.Attribute("data-label")!).ToArray();

        Assert.Equal(["native 3des-cbc", "split 3des-cbc 1 guest"], Labels("throughput-vs-size"));
        Assert.All(Chart("throughput-vs-size").Descendants(Svg + "polyline"), p => Assert.Equal(7, ((string)p.Attribute("points")!).Split(' ').Length));
        Assert.Equal(4, Labels("latency-vs-size").Length); // p50 and p99 per run
        Assert.Single(Labels("throughput-over-time")); // only the split run has a timeline
        Assert.Single(Chart("throughput-over-time").Descendants(Svg + "line"), l => (string?)l.Attribute("class") == "marker");
        // Points are inside the plot area.
        foreach (XElement line in doc.Descendants(Svg + "polyline"))
        {
            foreach (string pair in ((string)line.Attribute("points")!).Split(' '))
            {
                double[] xy = pair.Split(',').Select(v => double.Parse(v, CultureInfo.InvariantCulture)).ToArray();
                Assert.InRange(xy[0], 0, 720);
                Assert.True(xy[1] is >= 0 and <= 360, $"{line.Attribute("data-label")}: {line.Attribute("points")}");
            }
        }
    }

    [Fact]
    public void A_split_run_with_its_native_yardstick_draws_both_lines()
    {
        string split = WriteRun("both.json", "split", 0.9, timeline: true);
        string text = File.ReadAllText(split);
        string results = text[text.IndexOf('[', StringComparison.Ordinal)..(text.IndexOf(']', StringComparison.Ordinal) + 1)];
        File.WriteAllText(split, text.TrimEnd().TrimEnd('}') + ", \"native\": " + results + " }");
        string html = Path.Combine(_dir, "both.html");

        (int exit, _, string error) = Run("report", "--html", html, "--inputs", split);

        Assert.True(exit == ExitCodes.Ok, error);
        XDocument doc = XDocument.Parse(File.ReadAllText(html).Replace("<!DOCTYPE html>", "", StringComparison.Ordinal));
        string[] labels = doc.Descendants(Svg + "svg").Single(e => (string?)e.Attribute("id") == "throughput-vs-size")
            .Descendants(Svg + "polyline").Select(p => (string)p.Attribute("data-label")!).ToArray();
        Assert.Equal(["split 3des-cbc 1 guest", "native 3des-cbc 1 guest (same run)"], labels);
    }

    [ChromiumFact]
    public async Task A_headless_browser_renders_every_line()
    {
        (string html, XDocument doc) = Build();
        var psi = new ProcessStartInfo(ChromiumFactAttribute.Path!) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in (string[])["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", $"--user-data-dir={System.IO.Path.Combine(_dir, "profile")}", "--virtual-time-budget=2000", "--dump-dom", new Uri(html).AbsoluteUri])
        {
            psi.ArgumentList.Add(a);
        }

        using Process p = Process.Start(psi)!;
        Task<string> stderr = p.StandardError.ReadToEndAsync();
        string dom = await p.StandardOutput.ReadToEndAsync();
        Assert.True(p.WaitForExit(60_000), "chromium did not finish");
        string log = await stderr;
        int lines = doc.Descendants(Svg + "polyline").Count();
        Assert.True(dom.Contains($"data-rendered=\"{lines}\"", StringComparison.Ordinal), "the page's load script did not run: " + log);
        string[] lengths = System.Text.RegularExpressions.Regex.Matches(dom, "data-drawn-length=\"(\\d+)\"").Select(m => m.Groups[1].Value).ToArray();
        Assert.Equal(lines, lengths.Length);
        Assert.All(lengths, l => Assert.True(int.Parse(l, CultureInfo.InvariantCulture) > 10, "a line was drawn with no length"));
    }

    [Fact]
    public void Bad_inputs_are_one_clear_line_and_a_non_zero_exit()
    {
        string notJson = Path.Combine(_dir, "bad.json");
        File.WriteAllText(notJson, "{ nope");
        string noResults = Path.Combine(_dir, "empty.json");
        File.WriteAllText(noResults, "{ \"mode\": \"split\" }");
        string negative = Path.Combine(_dir, "negative.json");
        File.WriteAllText(negative, "{ \"results\": [ { \"size\": 64, \"mbps\": -5, \"opsPerSec\": 1, \"latencyNs\": { \"p50\": 1, \"p99\": 1, \"p999\": 1, \"max\": 1 } } ] }");
        string html = Path.Combine(_dir, "r.html");

        foreach (string input in new[] { notJson, noResults, negative, Path.Combine(_dir, "missing.json") })
        {
            (int exit, string output, string error) = Run("report", "--html", html, "--inputs", input);
            Assert.Equal(ExitCodes.Failed, exit);
            Assert.Equal("", output);
            Assert.Single(error.TrimEnd('\n').Split('\n'));
            Assert.Contains(Path.GetFileName(input), error, StringComparison.Ordinal);
        }

        Assert.Equal(ExitCodes.Usage, Run("report").Exit);
        Assert.Equal(ExitCodes.Usage, Run("report", "--html", html, "--inputs", ",").Exit);
        Assert.False(File.Exists(html));
    }
}
