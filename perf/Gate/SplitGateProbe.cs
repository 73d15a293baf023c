using System.Globalization;
using System.Text.Json;

namespace Tolapai.Perf.Gate;

/// <summary>
/// The split-driver scenarios: <c>tolapai perf --vs-native</c> in a child process per repetition
/// (an embedded dom0, one guest through the ixp split driver, then the same sample natively in
/// that process): split throughput over native throughput of the same run, per algorithm and
/// packet size, and payload copies per request (must be 0). <c>--quick</c> runs 3DES-CBC at 4096
/// bytes; the full gate adds DES-CBC at 4096 and 3DES-CBC at 512 bytes.
/// </summary>
public sealed class SplitGateProbe : IGateProbe
{
    /// <summary>Relative change of split/native that is still noise: two processes and three busy threads on two cores.</summary>
    public const double Tolerance = 0.25;

    /// <summary>The id of the ratio metric of the quick scenario.</summary>
    public const string RatioId = "split.3des-cbc-4096.vs-native";

    /// <summary>The scenarios: algorithm and packet size (256 in flight, one guest).</summary>
    public static IReadOnlyList<(string Alg, int Size)> Scenarios(bool quick) =>
        quick ? [("3des-cbc", 4096)] : [("3des-cbc", 4096), ("des-cbc", 4096), ("3des-cbc", 512)];

    /// <summary>The id of the copies metric.</summary>
    public const string CopiesId = "split.payload-copies-per-request";

    /// <inheritdoc/>
    public string Name => "split";

    /// <inheritdoc/>
    public IReadOnlyList<MetricResult> Measure(int repetitions, bool quick, Action<string>? progress)
    {
        var results = new List<MetricResult>();
        double copies = 0;
        string json = Path.Combine(Path.GetTempPath(), $"tolapai-gate-split-{Environment.ProcessId}.json");
        try
        {
            foreach ((string alg, int size) in Scenarios(quick))
            {
                var ratios = new List<double>();
                for (int r = 0; r < repetitions; r++)
                {
                    progress?.Invoke($"{alg} {size} B repetition {r + 1}/{repetitions}");
                    RunChild(json, alg, size, quick ? 20_000 : 100_000);
                    using JsonDocument doc = JsonDocument.Parse(File.ReadAllBytes(json));
                    JsonElement root = doc.RootElement;
                    double split = root.GetProperty("results")[0].GetProperty("mbps").GetDouble();
                    double native = root.GetProperty("native")[0].GetProperty("mbps").GetDouble();
                    ratios.Add(split / native);
                    copies = Math.Max(copies, root.GetProperty("payloadCopiesPerRequest").GetDouble());
                }

                results.Add(MetricResult.From(
                    new MetricDefinition($"split.{alg}-{size}.vs-native", $"split driver over native driver throughput, {alg} {size} B, 256 in flight, same run", MetricKind.HigherIsBetter, Tolerance),
                    ratios));
            }
        }
        finally
        {
            File.Delete(json);
        }

        results.Add(MetricResult.From(new MetricDefinition(CopiesId, "payload bytes copied by the backend or device per payload byte", MetricKind.MustBeZero, 0), [copies]));
        return results;
    }

    private static void RunChild(string json, string alg, int size, int ops)
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
            [cli, "perf", "--vs-native", "--alg", alg, "--sizes", size.ToString(CultureInfo.InvariantCulture), "--ops", ops.ToString(CultureInfo.InvariantCulture), "--depth", "256", "--json", json],
            TimeSpan.FromMinutes(3));
    }
}
