using System.Text.Json.Serialization;

namespace Tolapai.Perf.Gate;

/// <summary>How a metric is judged.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<MetricKind>))]
public enum MetricKind
{
    /// <summary>A ratio measured in one run; larger is better (kernel over scalar, split over native).</summary>
    HigherIsBetter,

    /// <summary>A ratio measured in one run; smaller is better (ring round trip over raw ping-pong).</summary>
    LowerIsBetter,

    /// <summary>Must be exactly zero (bytes allocated per request): any other value fails, whatever the baseline.</summary>
    MustBeZero,
}

/// <summary>
/// One gated metric: what it measures, how it is judged and how far it may move before a change
/// counts. Metrics are ratios of two things measured in the same run (or counts that must be 0),
/// never absolute times, so they hold on a noisy shared machine (DESIGN.md §7).
/// </summary>
/// <param name="Id">Stable id, e.g. <c>kernels.3des.vector512.ecb-vs-scalar</c>.</param>
/// <param name="Description">What the ratio is.</param>
/// <param name="Kind">How it is judged.</param>
/// <param name="Tolerance">Relative change (0.15 = 15 %) that is still noise; a worse change beyond it, if also significant, is a regression.</param>
/// <param name="Target">
/// The README's stated target for this figure, if it states one: a floor for
/// <see cref="MetricKind.HigherIsBetter"/>, a ceiling for <see cref="MetricKind.LowerIsBetter"/>. A
/// median on the wrong side of it fails the gate whatever the baseline, tolerance or p-value.
/// </param>
public sealed record MetricDefinition(string Id, string Description, MetricKind Kind, double Tolerance, double? Target = null);

/// <summary>One metric's repetitions.</summary>
/// <param name="Id">The metric id.</param>
/// <param name="Description">What it is.</param>
/// <param name="Kind">How it is judged.</param>
/// <param name="Tolerance">Relative change that is still noise (a baseline file may tighten or loosen it).</param>
/// <param name="Samples">One value per repetition.</param>
/// <param name="Median">Median of <paramref name="Samples"/>.</param>
/// <param name="Target">The README's target (floor or ceiling, see <see cref="MetricDefinition.Target"/>); null when it states none.</param>
public sealed record MetricResult(string Id, string Description, MetricKind Kind, double Tolerance, IReadOnlyList<double> Samples, double Median, double? Target = null)
{
    /// <summary>Builds the result of <paramref name="definition"/> from its samples.</summary>
    public static MetricResult From(MetricDefinition definition, IReadOnlyList<double> samples)
    {
        ArgumentNullException.ThrowIfNull(definition);
        ArgumentNullException.ThrowIfNull(samples);
        return new MetricResult(definition.Id, definition.Description, definition.Kind, definition.Tolerance, samples, MedianOf(samples), definition.Target);
    }

    /// <summary>Median, the mean of the middle two for an even count; NaN when empty.</summary>
    public static double MedianOf(IReadOnlyList<double> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        if (values.Count == 0)
        {
            return double.NaN;
        }

        double[] sorted = [.. values];
        Array.Sort(sorted);
        int mid = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    }
}

/// <summary>A gate run's results, also the format of a baseline file (schema <c>tolapai.perf.gate/1</c>).</summary>
/// <param name="Schema">Format name and version.</param>
/// <param name="TimestampUtc">When the run started.</param>
/// <param name="Machine">Runtime, CPU and ISA summary, for the reader.</param>
/// <param name="Repetitions">Repetitions per metric.</param>
/// <param name="Quick">True when measured with the short budgets of <c>--quick</c>.</param>
/// <param name="Metrics">Every metric measured.</param>
/// <param name="Host">The measuring machine's CPU flags and runtime switches (null in files written before they were kept).</param>
/// <param name="Scenarios">The probes that ran (<c>kernels</c>, <c>ring</c>, <c>split</c>; null: all of them).</param>
public sealed record GateResults(string Schema, DateTime TimestampUtc, string Machine, int Repetitions, bool Quick, IReadOnlyList<MetricResult> Metrics, GateHost? Host = null, IReadOnlyList<string>? Scenarios = null)
{
    /// <summary>The current <see cref="Schema"/>.</summary>
    public const string CurrentSchema = "tolapai.perf.gate/1";
}

/// <summary>Source-generated JSON for results and baselines.</summary>
[JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(GateResults))]
public sealed partial class GateJsonContext : JsonSerializerContext;
