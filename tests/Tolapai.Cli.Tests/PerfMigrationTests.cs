using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Tolapai.Cli.Tests;

/// <summary><c>tolapai perf --hosts 2 --migrate-every S [--live]</c> end to end, in a real process.</summary>
[Collection(MultiProcessCollection.Name)]
public sealed partial class PerfMigrationTests : IDisposable
{
    private readonly TempDirectory _directory = new();

    public void Dispose() => _directory.Dispose();

    [GeneratedRegex(@"^hosts: (?<a>/\S+), (?<b>/\S+);", RegexOptions.Multiline)]
    private static partial Regex HostsLine();

    [Theory]
    [InlineData("--migrate-every", "perf", "--migrate-every", "1")]
    [InlineData("add --hosts 2", "perf", "--migrate-every", "1")]
    [InlineData("--hosts '3'", "perf", "--hosts", "3", "--migrate-every", "1")]
    [InlineData("needs --migrate-every", "perf", "--hosts", "2")]
    [InlineData("--live", "perf", "--live")]
    [InlineData("--migrate-every '0'", "perf", "--hosts", "2", "--migrate-every", "0")]
    [InlineData("--migrate-every '0.01'", "perf", "--hosts", "2", "--migrate-every", "0.01")]
    [InlineData("--migrate-every 'abc'", "perf", "--hosts", "2", "--migrate-every", "abc")]
    [InlineData("--hosts", "perf", "--mode", "native", "--hosts", "2", "--migrate-every", "1")]
    [InlineData("go with --mode split", "perf", "--mode", "software", "--live")]
    [InlineData("--run-dir", "perf", "--hosts", "2", "--migrate-every", "1", "--run-dir", "/tmp/x")]
    [InlineData("--trace", "perf", "--hosts", "2", "--migrate-every", "1", "--trace", "/tmp/x")]
    public void Bad_migration_flags_give_one_line_and_exit_2(string message, params string[] args) => PerfCommandTests.AssertUsageError(message, args);

    [Fact]
    public void Help_describes_the_migration_flags()
    {
        CliResult r = CliProcess.Run(null, "perf", "--help");
        Assert.Equal(0, r.ExitCode);
        string usage = Encoding.UTF8.GetString(r.Stdout);
        Assert.Contains("--hosts 2 --migrate-every S", usage, StringComparison.Ordinal);
        Assert.Contains("--live", usage, StringComparison.Ordinal);
    }

    // 10000 operations of 1 KiB at depth 64 (plus the default 2000 warm-up): each pass lasted 3-7 s
    // on a loaded 2-core machine in a Debug build (load average 5-8), with 5 to 11 migrations at
    // one every 0.5 s; the whole test about 10 s. No figure is compared with a threshold.
    [Fact]
    public void Cold_migrations_every_half_second_lose_nothing_and_write_the_json_fields()
    {
        string json = Path.Combine(_directory.Path, "perf.json");
        CliResult r = CliProcess.Run(null, "perf", "--hosts", "2", "--migrate-every", "0.5", "--sizes", "1024", "--ops", "10000", "--depth", "64", "--json", json);
        string stdout = Encoding.UTF8.GetString(r.Stdout);

        // Both embedded hosts' run directories are gone afterwards (removed here too, so that a
        // failure leaves nothing in /dev/shm, then asserted).
        Match hosts = HostsLine().Match(r.Stderr);
        Assert.True(hosts.Success, $"no 'hosts:' line: {r}\n{stdout}");
        string[] runDirectories = [hosts.Groups["a"].Value, hosts.Groups["b"].Value];
        string[] left = [.. runDirectories.Where(Directory.Exists)];
        foreach (string d in left)
        {
            Assert.StartsWith("/dev/shm/tolapai-", d, StringComparison.Ordinal);
            Directory.Delete(d, recursive: true);
        }

        Assert.True(r.ExitCode == 0, $"{r}\n{stdout}");
        Assert.Empty(left);
        Assert.Contains("migrations: ", stdout, StringComparison.Ordinal);
        Assert.Contains("throughput with migrations", stdout, StringComparison.Ordinal);

        using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(json));
        JsonElement root = doc.RootElement;
        Assert.Equal(2, root.GetProperty("hosts").GetInt32());
        Assert.Equal(0.5, root.GetProperty("migrateEverySeconds").GetDouble());
        Assert.False(root.GetProperty("live").GetBoolean());
        int migrations = root.GetProperty("migrations").GetInt32();
        Assert.True(migrations >= 1, $"no migration happened: {r}");
        Assert.Empty(root.GetProperty("migrationFailures").EnumerateArray());
        JsonElement downtime = root.GetProperty("downtimeMs");
        Assert.True(downtime.GetProperty("p50").GetDouble() > 0);
        Assert.True(downtime.GetProperty("max").GetDouble() > 0);
        Assert.True(downtime.GetProperty("max").GetDouble() >= downtime.GetProperty("p50").GetDouble());
        Assert.True(root.GetProperty("throughputRatio").GetDouble() > 0);

        JsonElement[] events = [.. root.GetProperty("migrationEvents").EnumerateArray()];
        Assert.Equal(migrations, events.Length);
        foreach (JsonElement e in events)
        {
            Assert.True(e.GetProperty("downtimeMs").GetDouble() > 0);
            Assert.False(e.GetProperty("live").GetBoolean());
            Assert.Equal(0, e.GetProperty("rounds").GetInt32());
            Assert.True(e.GetProperty("pagesSent").GetInt64() > 0);
            Assert.InRange(e.GetProperty("toHost").GetInt32(), 0, 1);
        }

        // The first migration goes to the second host, and each one after it back the other way.
        Assert.Equal(Enumerable.Range(0, events.Length).Select(i => (i + 1) % 2), events.Select(e => e.GetProperty("toHost").GetInt32()));

        JsonElement[] guests = [.. root.GetProperty("guestResults").EnumerateArray()];
        Assert.NotEmpty(guests);
        foreach (JsonElement g in guests)
        {
            Assert.Equal(0, g.GetProperty("lost").GetInt64());
            Assert.Equal(0, g.GetProperty("duplicates").GetInt64());
            Assert.Equal(g.GetProperty("requests").GetInt64(), g.GetProperty("completed").GetInt64());
            Assert.All(g.GetProperty("results").EnumerateArray(), e => Assert.True(e.GetProperty("verified").GetBoolean()));
        }

        foreach (string results in new[] { "results", "referenceResults" })
        {
            JsonElement[] rows = [.. root.GetProperty(results).EnumerateArray()];
            Assert.Equal([1024], rows.Select(e => e.GetProperty("size").GetInt32()));
            foreach (JsonElement e in rows)
            {
                Assert.Equal(10000, e.GetProperty("ops").GetInt64());
                Assert.True(e.GetProperty("verified").GetBoolean(), results);
                Assert.Equal(0, e.GetProperty("lost").GetInt64());
                Assert.Equal(0, e.GetProperty("duplicates").GetInt64());
            }
        }
    }
}
