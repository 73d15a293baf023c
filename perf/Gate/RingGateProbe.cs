using System.Reflection;
using System.Text.Json;

namespace Tolapai.Perf.Gate;

/// <summary>
/// The ring scenario: <c>perf ring --quick</c> in a child process per repetition (it starts its own
/// backend process and host), read back from its JSON: the Xen ring round trip at one request in
/// flight over the raw ping-pong round trip of the same run, and bytes allocated per entry.
/// </summary>
public sealed class RingGateProbe : IGateProbe
{
    /// <summary>Relative change of the latency ratio that is still noise: round trips across cores wander.</summary>
    public const double Tolerance = 0.35;

    /// <summary>The README's target for the ring round trip: at most 2x the raw ping-pong.</summary>
    public const double Target = 2.0;

    /// <summary>The id of the latency ratio metric.</summary>
    public const string RatioId = "ring.rtt64-vs-pingpong";

    /// <summary>The id of the allocation metric.</summary>
    public const string AllocationId = "ring.allocated-bytes-per-entry";

    /// <inheritdoc/>
    public string Name => "ring";

    /// <inheritdoc/>
    public IReadOnlyList<MetricResult> Measure(int repetitions, bool quick, Action<string>? progress)
    {
        var ratios = new List<double>();
        double maxAllocated = 0;
        string json = Path.Combine(Path.GetTempPath(), $"tolapai-gate-ring-{Environment.ProcessId}.json");
        try
        {
            for (int r = 0; r < repetitions; r++)
            {
                progress?.Invoke($"repetition {r + 1}/{repetitions}");
                RunChild(json, quick);
                using JsonDocument doc = JsonDocument.Parse(File.ReadAllBytes(json));
                JsonElement root = doc.RootElement;
                ratios.Add(root.GetProperty("ring_rtt_64").GetProperty("ratio_to_pingpong_p50").GetDouble());
                foreach (JsonProperty p in root.EnumerateObject())
                {
                    if (p.Value.ValueKind == JsonValueKind.Object && p.Value.TryGetProperty("alloc_bytes_per_entry", out JsonElement a))
                    {
                        maxAllocated = Math.Max(maxAllocated, a.GetDouble());
                    }
                }
            }
        }
        finally
        {
            File.Delete(json);
        }

        return
        [
            MetricResult.From(new MetricDefinition(RatioId, "Xen ring round trip p50 (64 B, 1 in flight) over raw ping-pong p50, two processes", MetricKind.LowerIsBetter, Tolerance, Target), ratios),
            MetricResult.From(new MetricDefinition(AllocationId, "most bytes allocated per ring entry at any depth", MetricKind.MustBeZero, 0), [maxAllocated]),
        ];
    }

    private static void RunChild(string json, bool quick)
    {
        // This harness again (its apphost, or dotnet with its assembly), as `perf ring`.
        string host = Environment.ProcessPath ?? "dotnet";
        List<string> args = Path.GetFileNameWithoutExtension(host) == "dotnet" ? [Assembly.GetEntryAssembly()!.Location] : [];
        args.AddRange(["ring", "--json", json]);
        if (quick)
        {
            args.Add("--quick");
        }

        ChildRun.Run("perf ring", host, args, TimeSpan.FromMinutes(2));
    }
}
