using System.Text;
using System.Text.Json;

namespace Tolapai.Cli.Tests;

/// <summary><c>tolapai perf --mode native</c> end to end, in a real process.</summary>
[Collection(MultiProcessCollection.Name)]
public sealed class PerfCommandTests : IDisposable
{
    private readonly TempDirectory _directory = new();

    public void Dispose() => _directory.Dispose();

    [Theory]
    [InlineData("fast", "poll")]
    [InlineData("strict", "interrupt")]
    public void Native_perf_runs_verifies_and_writes_the_json_fields(string coherence, string completion)
    {
        string json = Path.Combine(_directory.Path, "perf.json");
        CliResult r = CliProcess.Run(null, "perf", "--mode", "native", "--sizes", "64,4096", "--ops", "300", "--depth", "32",
            "--warmup", "10", "--ring", "16", "--coherence", coherence, "--completion", completion, "--json", json);
        string stdout = Encoding.UTF8.GetString(r.Stdout);
        Assert.True(r.ExitCode == 0, $"{r}\n{stdout}");
        Assert.Contains("engine/kernel at 4096 B", stdout, StringComparison.Ordinal);
        Assert.Contains("verified", stdout, StringComparison.Ordinal);

        using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(json));
        JsonElement root = doc.RootElement;
        Assert.Equal("native", root.GetProperty("mode").GetString());
        Assert.Equal(coherence, root.GetProperty("coherence").GetString());
        JsonElement[] results = [.. root.GetProperty("results").EnumerateArray()];
        Assert.Equal([64, 4096], results.Select(e => e.GetProperty("size").GetInt32()));
        foreach (JsonElement e in results)
        {
            Assert.Equal(300, e.GetProperty("ops").GetInt64());
            Assert.True(e.GetProperty("opsPerSec").GetDouble() > 0);
            Assert.True(e.GetProperty("mbps").GetDouble() > 0);
            Assert.True(e.GetProperty("cyclesPerOp").GetDouble() > 0);
            JsonElement lat = e.GetProperty("latencyNs");
            foreach (string p in new[] { "p50", "p99", "p999", "max" })
            {
                Assert.True(lat.GetProperty(p).GetInt64() > 0, p);
            }

            Assert.True(e.GetProperty("retries").GetInt64() >= 0);
            Assert.True(e.GetProperty("verified").GetBoolean());
        }

        Assert.True(root.GetProperty("kernel").GetProperty("mbps").GetDouble() > 0);
        Assert.True(root.GetProperty("engineOverKernel").GetDouble() > 0);
    }

    [Theory]
    [InlineData("go with --mode split", "perf", "--mode", "native", "--guests", "2")]
    [InlineData("go with --mode split", "perf", "--mode", "software", "--run-dir", "/tmp")]
    [InlineData("--guests", "perf", "--guests", "0")]
    [InlineData("--guests", "perf", "--guests", "17")]
    [InlineData("describe an embedded dom0", "perf", "--run-dir", "/tmp", "--engines", "2")]
    [InlineData("unknown --mode", "perf", "--mode", "cloud")]
    [InlineData("unknown --alg", "perf", "--mode", "native", "--alg", "aes")]
    [InlineData("--sizes", "perf", "--mode", "native", "--sizes", "64,abc")]
    [InlineData("--sizes", "perf", "--mode", "native", "--sizes", "0")]
    [InlineData("multiple of the 8-byte block", "perf", "--mode", "native", "--sizes", "100")]
    [InlineData("--ops", "perf", "--mode", "native", "--ops", "0")]
    [InlineData("--depth", "perf", "--mode", "native", "--depth", "-1")]
    [InlineData("--engines", "perf", "--mode", "native", "--engines", "x")]
    [InlineData("power of two", "perf", "--mode", "native", "--ring", "100")]
    [InlineData("unknown --coherence", "perf", "--mode", "native", "--coherence", "lazy")]
    [InlineData("unknown --completion", "perf", "--mode", "native", "--completion", "irq")]
    [InlineData("unknown option", "perf", "--mode", "native", "--bogus")]
    [InlineData("needs a value", "perf", "--mode", "native", "--json")]
    [InlineData("given twice", "perf", "--mode", "native", "--ops", "1", "--ops", "2")]
    [InlineData("does not exist", "perf", "--mode", "native", "--json", "/nonexistent-dir/x.json")]
    public void Bad_flags_give_one_line_and_exit_2(string message, params string[] args) => AssertUsageError(message, args);

    /// <summary>The CLI run with <paramref name="args"/> exits 2 with one stderr line, prefixed, that says <paramref name="message"/>.</summary>
    internal static void AssertUsageError(string message, string[] args)
    {
        CliResult r = CliProcess.Run(null, args);
        Assert.Equal(2, r.ExitCode);
        Assert.Single(r.StderrLines);
        Assert.StartsWith("tolapai: ", r.StderrLines[0], StringComparison.Ordinal);
        Assert.Contains(message, r.StderrLines[0], StringComparison.Ordinal);
    }

    [Fact]
    public void Help_describes_the_command()
    {
        CliResult r = CliProcess.Run(null, "perf", "--help");
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("--mode native", Encoding.UTF8.GetString(r.Stdout), StringComparison.Ordinal);
    }
}
