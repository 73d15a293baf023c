using System.Globalization;
using System.Text.Json;

namespace Tolapai.Perf.Gate;

/// <summary>
/// The split-driver scenarios: <c>tolapai perf --vs-native</c> in a child process per repetition
/// (an embedded dom0, one guest through the ixp split driver, then the same sample natively in
/// that process, then the kernel alone in that process). Per algorithm and packet size, three
/// ratios of that one run: split over native (the split driver's own cost), split over the
/// kernel and native over the kernel (a slower engine, device or backend moves split and native
/// together, so only a raw yardstick sees it); the backend's busy time per request over the
/// kernel's time per request (the backend's own cost is under a microsecond of tens of
/// microseconds a request takes end to end, so no throughput ratio can see it slow down); and
/// payload copies per request (must be 0).
/// <c>--quick</c> runs 3DES-CBC at 4096 bytes; the full gate adds DES-CBC at 4096 and 3DES-CBC
/// at 512 bytes.
/// </summary>
/// <param name="scenarios">Algorithm and packet size of each scenario; null: <see cref="Scenarios"/>.</param>
/// <param name="ops">Operations per run; null: 100 000, quick or not, the README's configuration
/// (<c>tolapai perf --vs-native --sizes 4096 --ops 100000</c>): a 20 000-operation run is mostly
/// warm-up and gave split/native 0.97 where the README's command gives 0.76.</param>
/// <param name="environment">Variables set in each child on top of this process's (a test's <c>TOLAPAI_TEST_FAULTS</c>); null: none.</param>
public sealed class SplitGateProbe(IReadOnlyList<(string Alg, int Size)>? scenarios = null, int? ops = null, IReadOnlyDictionary<string, string>? environment = null) : IGateProbe
{
    /// <summary>Relative change of a split ratio that is still noise: two processes and three busy threads on two cores.</summary>
    public const double Tolerance = 0.25;

    /// <summary>
    /// Relative change of backend-vs-kernel that is still noise: the busy time is wall clock on a
    /// thread that shares two cores with the guest and the engine, so preemption inside a pass
    /// counts, and quieter runs take fewer requests per pass. Six quiet Release runs of
    /// <c>gate --quick</c> gave medians from 0.043 to 0.085 (up to +57 % over their middle), so
    /// 75 %: a backend that costs 1.75 times as much fails, and the slow-backend=4 fault (+200 %
    /// and more) fails by far; see perf/README.md.
    /// </summary>
    public const double BackendTolerance = 0.75;

    /// <summary>
    /// The README's floor for split over native, 3DES-CBC 4096 B, 100 000 operations: at least
    /// 0.65. Five fresh-clone Release runs of the README's command gave 0.76 (0.69–0.85); the
    /// README's older "target 0.85" was never met reproducibly. 0.65 fails a split path that
    /// loses a sixth of today's throughput whatever the baseline says; 0.95 is the execution-model
    /// work's target.
    /// </summary>
    public const double VsNativeTarget = 0.65;

    /// <summary>
    /// The README's floor for the native driver over the same kernel in process, 3DES-CBC 4096 B,
    /// 100 000 operations, both by wall clock: at least 0.60. Five fresh-clone Release runs gave
    /// 0.75 (0.70–0.77). 0.60 fails a 2× slower engine whatever the baseline says; 0.90 is the
    /// execution-model work's target.
    /// </summary>
    public const double NativeVsKernelTarget = 0.60;

    /// <summary>The id of the split-over-native metric of the quick scenario.</summary>
    public const string RatioId = "split.3des-cbc-4096.vs-native";

    /// <summary>The id of the copies metric.</summary>
    public const string CopiesId = "split.payload-copies-per-request";

    /// <summary>The scenarios: algorithm and packet size (256 in flight, one guest).</summary>
    public static IReadOnlyList<(string Alg, int Size)> Scenarios(bool quick) =>
        quick ? [("3des-cbc", 4096)] : [("3des-cbc", 4096), ("des-cbc", 4096), ("3des-cbc", 512)];

    /// <summary>Split Mbit/s over native Mbit/s.</summary>
    public static string VsNativeId(string alg, int size) => $"split.{alg}-{size}.vs-native";

    /// <summary>Split Mbit/s over the kernel's own in the same run.</summary>
    public static string VsKernelId(string alg, int size) => $"split.{alg}-{size}.vs-kernel";

    /// <summary>Native Mbit/s over the kernel's own in the same run (the engine/kernel ratio of <c>--mode native</c>).</summary>
    public static string NativeVsKernelId(string alg, int size) => $"split.{alg}-{size}.native-vs-kernel";

    /// <summary>The backend's busy nanoseconds per request over the kernel's nanoseconds per request of that size, same run.</summary>
    public static string BackendVsKernelId(string alg, int size) => $"split.{alg}-{size}.backend-vs-kernel";

    /// <inheritdoc/>
    public string Name => "split";

    /// <inheritdoc/>
    public IReadOnlyList<MetricResult> Measure(int repetitions, bool quick, Action<string>? progress)
    {
        var results = new List<MetricResult>();
        double copies = 0;
        string json = Path.Combine(Path.GetTempPath(), $"tolapai-gate-split-{Environment.ProcessId}-{Guid.NewGuid():N}.json");
        try
        {
            foreach ((string alg, int size) in scenarios ?? Scenarios(quick))
            {
                var vsNative = new List<double>();
                var vsKernel = new List<double>();
                var nativeVsKernel = new List<double>();
                var backendVsKernel = new List<double>();
                for (int r = 0; r < repetitions; r++)
                {
                    progress?.Invoke($"{alg} {size} B repetition {r + 1}/{repetitions}");
                    RunChild(json, alg, size, ops ?? 100_000);
                    using JsonDocument doc = JsonDocument.Parse(File.ReadAllBytes(json));
                    JsonElement root = doc.RootElement;
                    double split = root.GetProperty("results")[0].GetProperty("mbps").GetDouble();
                    double native = root.GetProperty("native")[0].GetProperty("mbps").GetDouble();
                    // Wall clock, as split and native are: a neighbour's load then hurts both sides of the ratio.
                    double kernel = root.GetProperty("kernel").GetProperty("mbps").GetDouble();
                    vsNative.Add(split / native);
                    vsKernel.Add(split / kernel);
                    nativeVsKernel.Add(native / kernel);
                    backendVsKernel.Add(BackendVsKernel(root, size, kernel));
                    copies = Math.Max(copies, root.GetProperty("payloadCopiesPerRequest").GetDouble());
                }

                // The README states its targets for 3DES-CBC at 4096 B.
                bool stated = alg == "3des-cbc" && size == 4096;
                results.Add(MetricResult.From(
                    new MetricDefinition(VsNativeId(alg, size), $"split driver over native driver throughput, {alg} {size} B, 256 in flight, same run", MetricKind.HigherIsBetter, Tolerance, stated ? VsNativeTarget : null),
                    vsNative));
                results.Add(MetricResult.From(
                    new MetricDefinition(VsKernelId(alg, size), $"split driver throughput over the kernel alone (RunBatch, 256 streams) in the same run, {alg} {size} B", MetricKind.HigherIsBetter, Tolerance),
                    vsKernel));
                results.Add(MetricResult.From(
                    new MetricDefinition(NativeVsKernelId(alg, size), $"native driver throughput over the kernel alone in the same run (engine/kernel), {alg} {size} B", MetricKind.HigherIsBetter, Tolerance, stated ? NativeVsKernelTarget : null),
                    nativeVsKernel));
                results.Add(MetricResult.From(
                    new MetricDefinition(BackendVsKernelId(alg, size), $"ixp backend busy ns per request over the kernel's ns per request (RunBatch, 256 streams) in the same run, {alg} {size} B", MetricKind.LowerIsBetter, BackendTolerance),
                    backendVsKernel));
            }
        }
        finally
        {
            File.Delete(json);
        }

        results.Add(MetricResult.From(new MetricDefinition(CopiesId, "payload bytes copied by the backend or device per payload byte", MetricKind.MustBeZero, 0), [copies]));
        return results;
    }

    /// <summary>The backend's busy time per request over the time the kernel takes for one request of <paramref name="size"/> bytes at <paramref name="kernelMbps"/>.</summary>
    private static double BackendVsKernel(JsonElement root, int size, double kernelMbps)
    {
        if (!root.TryGetProperty("backendBusyNsPerRequest", out JsonElement busy) || busy.ValueKind != JsonValueKind.Number)
        {
            throw new InvalidOperationException("tolapai perf wrote no backendBusyNsPerRequest (the gate runs an embedded dom0, whose backend counters it reads)");
        }

        // Mbit/s is bits per microsecond: one request of size bytes takes size * 8 / Mbps µs.
        double kernelNs = size * 8 * 1000.0 / kernelMbps;
        return busy.GetDouble() / kernelNs;
    }

    private void RunChild(string json, string alg, int size, int count)
    {
        string cli = Path.Combine(AppContext.BaseDirectory, "tolapai.dll");
        if (!File.Exists(cli))
        {
            throw new InvalidOperationException($"the tolapai CLI is not beside the harness ({cli})");
        }

        string dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } h ? h : "dotnet";
        ChildRun.Run(
            "tolapai perf",
            dotnet,
            [cli, "perf", "--vs-native", "--alg", alg, "--sizes", size.ToString(CultureInfo.InvariantCulture), "--ops", count.ToString(CultureInfo.InvariantCulture), "--depth", "256", "--json", json],
            TimeSpan.FromMinutes(3),
            environment);
    }
}
