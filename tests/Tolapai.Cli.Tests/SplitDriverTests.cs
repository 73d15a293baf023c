using System.Diagnostics;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Tolapai.Cli.Tests;

/// <summary>
/// The main job and <c>tolapai cipher</c> through the split driver, end to end: an embedded dom0
/// (or a running <c>tolapai dom0</c>) and guest processes made by the toolstack, every byte through
/// an ixp frontend, the backend and the accelerator.
/// </summary>
[Collection(MultiProcessCollection.Name)]
public sealed class SplitDriverTests : IDisposable
{
    private const string Key8 = "0123456789abcdef";
    private const string Key24 = "0123456789abcdef23456789abcdef01456789abcdef0123";
    private const string Iv = "0011223344556677";
    private readonly TempDirectory _directory = new();

    public void Dispose() => _directory.Dispose();

    private static JsonElement[] Array(JsonElement e, string name) => [.. e.GetProperty(name).EnumerateArray()];

    [Fact]
    public void Perf_with_no_mode_runs_the_sample_in_a_guest_through_the_split_driver_and_writes_the_json()
    {
        string json = _directory.File("split.json");
        CliResult r = CliProcess.Run(null, "perf", "--sizes", "64,4096", "--ops", "2000", "--depth", "32", "--warmup", "100", "--json", json);
        string stdout = Encoding.UTF8.GetString(r.Stdout);
        Assert.True(r.ExitCode == 0, $"{r}\n{stdout}");
        Assert.Contains("perf split", stdout, StringComparison.Ordinal);
        Assert.Contains("0 lost, 0 duplicates", stdout, StringComparison.Ordinal);
        Assert.Contains("payload copies per request: 0.000", stdout, StringComparison.Ordinal);
        Assert.Contains("DMA segments outside the guests' grants: 0 of ", stdout, StringComparison.Ordinal);

        using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(json));
        JsonElement root = doc.RootElement;
        Assert.Equal("split", root.GetProperty("mode").GetString());
        Assert.Equal(1, root.GetProperty("guests").GetInt32());
        Assert.Equal(0.0, root.GetProperty("payloadCopiesPerRequest").GetDouble());
        JsonElement copied = root.GetProperty("payloadBytesCopied");
        Assert.Equal(0, copied.GetProperty("backend").GetInt64());
        Assert.Equal(0, copied.GetProperty("deviceBounce").GetInt64());
        Assert.Equal(0, copied.GetProperty("total").GetInt64());
        Assert.Equal(((2000L + 100) * 64) + ((2000L + 100) * 4096), copied.GetProperty("payloadBytesServed").GetInt64());
        Assert.True(root.GetProperty("dmaSegments").GetInt64() >= 2 * (2000 + 100), "the device's check saw every request's segments");
        Assert.Equal(0, root.GetProperty("dmaSegmentsOutsideGrants").GetInt64());
        JsonElement[] results = Array(root, "results");
        Assert.Equal([64, 4096], results.Select(e => e.GetProperty("size").GetInt32()));
        foreach (JsonElement e in results)
        {
            Assert.Equal(2000, e.GetProperty("ops").GetInt64());
            Assert.True(e.GetProperty("opsPerSec").GetDouble() > 0);
            Assert.True(e.GetProperty("mbps").GetDouble() > 0);
            Assert.True(e.GetProperty("cyclesPerOp").GetDouble() > 0);
            foreach (string p in new[] { "p50", "p99", "p999", "max" })
            {
                Assert.True(e.GetProperty("latencyNs").GetProperty(p).GetInt64() > 0, p);
            }

            Assert.True(e.GetProperty("retries").GetInt64() >= 0);
            Assert.True(e.GetProperty("verified").GetBoolean());
        }

        JsonElement[] timeline = Array(root, "timeline");
        Assert.Equal([64, 4096], timeline.Select(t => t.GetProperty("size").GetInt32()));
        Assert.True(timeline[1].GetProperty("seconds").GetDouble() >= timeline[0].GetProperty("seconds").GetDouble());
        JsonElement guest = Assert.Single(Array(root, "guestResults"));
        Assert.Equal(0, guest.GetProperty("lost").GetInt64());
        Assert.Equal(0, guest.GetProperty("duplicates").GetInt64());
        Assert.Equal(guest.GetProperty("requests").GetInt64(), guest.GetProperty("completed").GetInt64());
        Assert.True(guest.GetProperty("requests").GetInt64() >= 2 * (2000 + 100));
    }

    [Fact]
    public void Perf_with_the_copy_backend_fault_reports_two_copies_per_payload_byte_and_segments_outside_the_grants()
    {
        // The positive control: a backend that stages every payload through a buffer of its own
        // (TOLAPAI_TEST_FAULTS=copy-backend) still gives verified outputs, and both the copy
        // counter and the device's structural check see it.
        string json = _directory.File("copying.json");
        CliResult r = CliProcess.RunWithEnvironment(CopyBackend, null, "perf", "--sizes", "64,4096", "--ops", "500", "--depth", "16", "--warmup", "50", "--json", json);
        string stdout = Encoding.UTF8.GetString(r.Stdout);
        Assert.True(r.ExitCode == 0, $"{r}\n{stdout}");
        Assert.Contains("0 lost, 0 duplicates", stdout, StringComparison.Ordinal);
        Assert.Contains("payload copies per request: 2.000", stdout, StringComparison.Ordinal);

        using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(json));
        JsonElement root = doc.RootElement;
        Assert.All(Array(root, "results"), e => Assert.True(e.GetProperty("verified").GetBoolean()));
        Assert.Equal(2.0, root.GetProperty("payloadCopiesPerRequest").GetDouble());
        JsonElement copied = root.GetProperty("payloadBytesCopied");
        long served = ((500L + 50) * 64) + ((500L + 50) * 4096);
        Assert.Equal(served, copied.GetProperty("payloadBytesServed").GetInt64());
        Assert.Equal(2 * served, copied.GetProperty("backend").GetInt64());
        Assert.Equal(2 * served, copied.GetProperty("total").GetInt64());
        long segments = root.GetProperty("dmaSegments").GetInt64();
        Assert.True(segments >= 2 * (500 + 50), $"{segments} segments");
        Assert.Equal(segments, root.GetProperty("dmaSegmentsOutsideGrants").GetInt64()); // every one in dom0's staging buffer
    }

    private static readonly Dictionary<string, string> CopyBackend = new() { ["TOLAPAI_TEST_FAULTS"] = "copy-backend" };

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Cipher_verbose_counts_the_staging_copies_apart_from_the_data_planes(bool copyBackend)
    {
        byte[] input = new byte[100_000];
        new Random(13).NextBytes(input);
        string[] args = ["cipher", "--verbose", "--alg", "3des-cbc", "--key", Key24, "--iv", Iv];
        CliResult r = copyBackend ? CliProcess.RunWithEnvironment(CopyBackend, input, args) : CliProcess.Run(input, args);

        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal(BouncyReference.Transform("3des-cbc", Convert.FromHexString(Key24), Convert.FromHexString(Iv), false, input), r.Stdout);
        string line = Assert.Single(r.StderrLines, l => l.StartsWith("tolapai: cipher: ", StringComparison.Ordinal));
        Assert.Contains("100000 bytes through the split driver (3des-cbc)", line, StringComparison.Ordinal);
        Assert.Contains("staging copies: 100000 B into the run directory, 100000 B into the guest's granted pages, 100000 B out of them, 100000 B to the output", line, StringComparison.Ordinal);
        Match m = Regex.Match(line, @"data plane: (\d+) B copied \(backend (\d+), device bounce (\d+)\), (\d+) of (\d+) DMA segments outside the guest's grants");
        Assert.True(m.Success, line);
        long[] n = [.. m.Groups.Values.Skip(1).Select(g => long.Parse(g.Value, System.Globalization.CultureInfo.InvariantCulture))];
        Assert.True(n[4] >= 4, line); // 100 000 bytes in 32 KiB requests: at least four, each with its segments
        Assert.Equal(copyBackend ? [200_000, 200_000, 0, n[4], n[4]] : [0, 0, 0, 0, n[4]], n);
    }

    [Fact]
    public void Two_guests_share_the_backend_and_vs_native_runs_the_yardstick_in_the_same_run()
    {
        string json = _directory.File("two.json");
        CliResult r = CliProcess.Run(null, "perf", "--guests", "2", "--alg", "des-cbc", "--sizes", "512", "--ops", "1000", "--depth", "16", "--warmup", "50", "--vs-native", "--json", json);
        string stdout = Encoding.UTF8.GetString(r.Stdout);
        Assert.True(r.ExitCode == 0, $"{r}\n{stdout}");
        Assert.Contains("split/native at   512 B", stdout, StringComparison.Ordinal);

        using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(json));
        JsonElement root = doc.RootElement;
        Assert.Equal(2, root.GetProperty("guests").GetInt32());
        JsonElement[] guests = Array(root, "guestResults");
        Assert.Equal(2, guests.Length);
        Assert.NotEqual(guests[0].GetProperty("domid").GetInt32(), guests[1].GetProperty("domid").GetInt32());
        Assert.All(guests, g => Assert.Equal(0, g.GetProperty("lost").GetInt64() + g.GetProperty("duplicates").GetInt64()));
        Assert.Equal(2000, Array(root, "results")[0].GetProperty("ops").GetInt64()); // both guests' responses
        Assert.True(Array(root, "native")[0].GetProperty("verified").GetBoolean());
    }

    [Theory]
    [InlineData("des-ecb", false)]
    [InlineData("des-cbc", false)]
    [InlineData("3des-ecb", false)]
    [InlineData("3des-cbc", false)]
    [InlineData("3des-cbc", true)]
    [InlineData("3des-ctr", false)]
    public void Cipher_without_local_goes_through_the_split_driver_and_agrees_with_BouncyCastle(string alg, bool decrypt)
    {
        // 100 000 bytes: several 32 KiB operations, the chaining value carried between them.
        byte[] input = new byte[alg.EndsWith("-ctr", StringComparison.Ordinal) ? 100_001 : 100_000];
        new Random(alg.GetHashCode(StringComparison.Ordinal) ^ (decrypt ? 1 : 0)).NextBytes(input);
        string key = alg.StartsWith("3des", StringComparison.Ordinal) ? Key24 : Key8;
        List<string> args = ["cipher", "--alg", alg, "--key", key];
        if (!alg.EndsWith("-ecb", StringComparison.Ordinal))
        {
            args.AddRange(["--iv", Iv]);
        }

        if (decrypt)
        {
            args.Add("--decrypt");
        }

        CliResult r = CliProcess.Run(input, [.. args]);

        Assert.True(r.ExitCode == 0, r.ToString());
        byte[] expected = BouncyReference.Transform(alg, Convert.FromHexString(key), alg.EndsWith("-ecb", StringComparison.Ordinal) ? null : Convert.FromHexString(Iv), decrypt, input);
        Assert.Equal(expected, r.Stdout);
    }

    [Fact]
    public void A_partial_block_through_the_split_driver_is_refused_with_nothing_written()
    {
        string output = _directory.File("out.bin");
        CliResult r = CliProcess.Run(new byte[100], "cipher", "--alg", "des-cbc", "--key", Key8, "--iv", Iv, "--out", output);

        Assert.Equal(2, r.ExitCode);
        Assert.Contains("not a whole number of 8-byte blocks", r.Stderr, StringComparison.Ordinal);
        Assert.False(File.Exists(output));
    }

    [Fact]
    public void Perf_and_cipher_use_a_running_dom0_with_run_dir()
    {
        string runDir = Path.Combine("/dev/shm", "tolapai-cli-split-" + Guid.NewGuid().ToString("N")[..8]);
        using Process dom0 = CliProcess.Start(null, "dom0", "--run-dir", runDir);
        try
        {
            Assert.StartsWith("dom0: run directory", dom0.StandardOutput.ReadLine(), StringComparison.Ordinal);
            byte[] input = new byte[4096];
            new Random(7).NextBytes(input);

            CliResult c = CliProcess.Run(input, "cipher", "--run-dir", runDir, "--alg", "3des-cbc", "--key", Key24, "--iv", Iv);
            Assert.True(c.ExitCode == 0, c.ToString());
            Assert.Equal(BouncyReference.Transform("3des-cbc", Convert.FromHexString(Key24), Convert.FromHexString(Iv), false, input), c.Stdout);

            CliResult p = CliProcess.Run(null, "perf", "--run-dir", runDir, "--sizes", "256", "--ops", "500", "--depth", "8", "--warmup", "10");
            string stdout = Encoding.UTF8.GetString(p.Stdout);
            Assert.True(p.ExitCode == 0, $"{p}\n{stdout}");
            Assert.Contains($"dom0 on {runDir}", stdout, StringComparison.Ordinal);
            Assert.Contains("not known (the dom0 on --run-dir is another process)", stdout, StringComparison.Ordinal);
        }
        finally
        {
            if (!dom0.HasExited)
            {
                dom0.Kill(entireProcessTree: true);
                dom0.WaitForExit();
            }

            if (Directory.Exists(runDir))
            {
                Directory.Delete(runDir, recursive: true);
            }
        }
    }

    [Fact]
    public void A_run_directory_with_no_dom0_is_a_clear_error()
    {
        string none = Path.Combine("/dev/shm", "no-dom0-" + Guid.NewGuid().ToString("N")[..8]);
        CliResult p = CliProcess.Run(null, "perf", "--run-dir", none, "--ops", "10");
        CliResult c = CliProcess.Run(new byte[8], "cipher", "--run-dir", none, "--alg", "des-ecb", "--key", Key8);

        Assert.Equal(1, p.ExitCode);
        Assert.Contains("no dom0 running on", p.Stderr, StringComparison.Ordinal);
        Assert.Equal(1, c.ExitCode);
        Assert.Contains("no dom0 running on", c.Stderr, StringComparison.Ordinal);
        Assert.Empty(c.Stdout);
    }
}
