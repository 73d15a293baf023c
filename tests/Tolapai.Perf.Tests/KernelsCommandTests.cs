using System.Text.Json;
using Tolapai.Kernels.Des;
using Tolapai.Perf.Cli;
using Tolapai.Perf.Kernels;

namespace Tolapai.Perf.Tests;

/// <summary>One very short real <c>kernels</c> run in-process, shared by the tests of the class.</summary>
public sealed class ShortKernelsRun : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("tolapai-perf-tests-").FullName;

    public ShortKernelsRun()
    {
        string json = Path.Combine(_directory, "kernels.json");
        using var output = new StringWriter();
        using var error = new StringWriter();
        Exit = PerfCommands.CreateDispatcher().Run(
            ["kernels", "--seconds", "0.01", "--size", "64", "--stream-bytes", "64", "--json", json],
            output,
            error);
        Table = output.ToString();
        Error = error.ToString();
        if (File.Exists(json))
        {
            using JsonDocument document = JsonDocument.Parse(File.ReadAllText(json));
            Json = document.RootElement.Clone();
        }
    }

    public int Exit { get; }

    public string Table { get; }

    public string Error { get; }

    public JsonElement Json { get; }

    public void Dispose() => Directory.Delete(_directory, recursive: true);
}

/// <summary>The shape of a real <c>kernels</c> run's table and JSON, never its timings.</summary>
public sealed class KernelsCommandTests(ShortKernelsRun run) : IClassFixture<ShortKernelsRun>
{
    private (int Exit, string Table, JsonElement Json) RunShort()
    {
        Assert.True(run.Exit == ExitCodes.Ok, $"exit {run.Exit}: {run.Error}");
        Assert.NotEqual(JsonValueKind.Undefined, run.Json.ValueKind);
        return (run.Exit, run.Table, run.Json);
    }

    private static IEnumerable<DesKernel> Supported() =>
        Enum.GetValues<DesKernel>().Where(k => k != DesKernel.Auto && DesCipher.IsSupported(k));

    [Fact]
    public void A_short_run_writes_the_table_and_every_json_field()
    {
        (_, string table, JsonElement root) = RunShort();

        Assert.Equal(KernelsReport.CurrentSchema, root.GetProperty("schema").GetString());
        Assert.True(root.GetProperty("timestampUtc").TryGetDateTime(out _));

        JsonElement host = root.GetProperty("host");
        Assert.False(string.IsNullOrEmpty(host.GetProperty("runtime").GetString()));
        Assert.True(host.GetProperty("processorCount").GetInt32() > 0);
        JsonElement isa = host.GetProperty("instructionSets");
        foreach (string name in new[] { "Avx512F", "Avx512Vbmi", "Gfni", "Avx2", "Ssse3" })
        {
            Assert.True(isa.GetProperty(name).ValueKind is JsonValueKind.True or JsonValueKind.False, name);
        }

        Assert.Equal(JsonValueKind.Object, host.GetProperty("environment").ValueKind);

        JsonElement settings = root.GetProperty("settings");
        Assert.Equal(0.01, settings.GetProperty("seconds").GetDouble());
        Assert.Equal(64, settings.GetProperty("size").GetInt32());
        Assert.Equal(64, settings.GetProperty("streamBytes").GetInt32());
        Assert.Equal(KernelsOptions.Repetitions, settings.GetProperty("repetitions").GetInt32());
        Assert.Contains(settings.GetProperty("clock").GetString(), new[] { "thread-cpu", "wall" });

        string[] kernels = root.GetProperty("supportedKernels").EnumerateArray().Select(k => k.GetString()!).ToArray();
        Assert.Equal(Supported().Select(k => k.ToString()), kernels);
        Assert.Equal(DesCipher.Best.ToString(), root.GetProperty("bestKernel").GetString());

        Assert.Contains("MB/s", table, StringComparison.Ordinal);
        Assert.Contains("x BC CBC", table, StringComparison.Ordinal);
        Assert.Contains("x ref", table, StringComparison.Ordinal);
        Assert.Contains("Avx512Vbmi=", table, StringComparison.Ordinal);
        Assert.Contains("DOTNET_Enable*", table, StringComparison.Ordinal);
    }

    [Fact]
    public void Every_yardstick_and_every_supported_kernel_in_every_shape_is_measured()
    {
        (_, string table, JsonElement root) = RunShort();
        var rows = root.GetProperty("results").EnumerateArray().ToDictionary(r => r.GetProperty("id").GetString()!);

        foreach (string cipher in new[] { "des", "3des" })
        {
            Assert.Contains($"{cipher}.bouncycastle.cbc-encrypt", rows.Keys);
            Assert.Contains($"{cipher}.bouncycastle.ecb", rows.Keys);
            Assert.Contains($"{cipher}.dotnet.cbc-encrypt", rows.Keys);
            Assert.Contains($"{cipher}.reference.ecb", rows.Keys);
            Assert.Equal(1.0, rows[$"{cipher}.bouncycastle.cbc-encrypt"].GetProperty("vsBouncyCastleCbc").GetDouble(), 9);
            Assert.Equal(1.0, rows[$"{cipher}.reference.ecb"].GetProperty("vsReference").GetDouble(), 9);
            foreach (DesKernel kernel in Supported())
            {
                foreach (string work in new[] { "a-ecb", "a-ctr", "a-cbc-decrypt", "b-batch-64", "b-batch-512", "c-cbc-encrypt" })
                {
                    string id = $"{cipher}.{kernel.ToString().ToLowerInvariant()}.{work}";
                    Assert.True(rows.ContainsKey(id), $"{id} missing");
                }
            }
        }

        foreach (JsonElement row in rows.Values)
        {
            Assert.True(row.GetProperty("megabytesPerSecond").GetDouble() > 0);
            Assert.True(row.GetProperty("wallMegabytesPerSecond").GetDouble() > 0);
            Assert.InRange(row.GetProperty("cpuShare").GetDouble(), 0, 1);
            Assert.True(row.GetProperty("ops").GetInt64() >= KernelsOptions.Repetitions);
            Assert.Equal(KernelsOptions.Repetitions, row.GetProperty("repetitionMegabytesPerSecond").GetArrayLength());
            Assert.True(double.IsFinite(row.GetProperty("vsBouncyCastleCbc").GetDouble()));
            Assert.True(double.IsFinite(row.GetProperty("vsReference").GetDouble()));
            Assert.True(row.GetProperty("allocatedBytesPerOp").GetDouble() >= 0);
        }
    }

    [Fact]
    public void Targets_and_the_allocation_check_are_reported_and_ours_allocate_nothing()
    {
        (_, string table, JsonElement root) = RunShort();

        JsonElement[] targets = root.GetProperty("targets").EnumerateArray().ToArray();
        Assert.Equal(12, targets.Length);
        foreach (JsonElement target in targets)
        {
            Assert.True(target.GetProperty("pass").ValueKind is JsonValueKind.True or JsonValueKind.False);
            Assert.True(target.GetProperty("required").GetDouble() is 20 or 1.2);
            Assert.Equal(DesCipher.Best.ToString(), target.GetProperty("kernel").GetString());
        }

        Assert.Equal(13, table.Split('\n').Count(line => line.TrimStart().StartsWith("PASS", StringComparison.Ordinal) || line.TrimStart().StartsWith("MISS", StringComparison.Ordinal)));

        // The data plane's target: no allocation per call on any of our paths.
        JsonElement allocation = root.GetProperty("allocation");
        Assert.True(allocation.GetProperty("pass").GetBoolean(), $"allocates: {allocation}");
        Assert.Equal(0, allocation.GetProperty("maxAllocatedBytesPerOp").GetDouble());
    }
}
