using System.Globalization;

namespace Tolapai.Perf.Gate;

/// <summary>What the gate says of one metric.</summary>
public enum Verdict
{
    /// <summary>Within the tolerance, or a change that is not statistically significant.</summary>
    Same,

    /// <summary>Better beyond the tolerance, and significant.</summary>
    Improved,

    /// <summary>Worse beyond the tolerance but not significant with these repetitions: reported, does not fail.</summary>
    Noisy,

    /// <summary>Worse beyond the tolerance and significant, or a must-be-zero metric that is not: fails the gate.</summary>
    Regression,

    /// <summary>In the run but not in the baseline: reported, does not fail (write a new baseline).</summary>
    New,

    /// <summary>In the baseline but not measured here (e.g. a kernel this CPU does not have): reported, does not fail.</summary>
    NotMeasured,
}

/// <summary>One row of the gate's table.</summary>
/// <param name="Id">Metric id.</param>
/// <param name="Kind">How it is judged.</param>
/// <param name="Baseline">Baseline median, NaN when new.</param>
/// <param name="Now">This run's median, NaN when not measured.</param>
/// <param name="Change">Relative change of the medians (now − baseline) / baseline; NaN when either is missing.</param>
/// <param name="Tolerance">The tolerance applied.</param>
/// <param name="PValue">Two-sided Mann–Whitney p-value of the repetitions; NaN when not computed.</param>
/// <param name="Verdict">The verdict.</param>
public sealed record GateRow(string Id, MetricKind Kind, double Baseline, double Now, double Change, double Tolerance, double PValue, Verdict Verdict)
{
    /// <summary>True for the verdicts that fail the gate.</summary>
    public bool Fails => Verdict == Verdict.Regression;
}

/// <summary>
/// Compares a run with a baseline. A ratio metric regresses only when both hold: its median moved
/// the wrong way by more than the tolerance, and the Mann–Whitney test on the repetitions says
/// the two sets differ (p below <see cref="Alpha"/>). The tolerance is the noise threshold; the
/// test keeps one unlucky repetition from failing a build. Must-be-zero metrics fail on any
/// non-zero median.
/// </summary>
public static class GateEvaluator
{
    /// <summary>Significance level of the test.</summary>
    public const double Alpha = 0.05;

    /// <summary>Judges every metric of <paramref name="now"/> and of <paramref name="baseline"/>.</summary>
    public static IReadOnlyList<GateRow> Compare(GateResults baseline, GateResults now)
    {
        ArgumentNullException.ThrowIfNull(baseline);
        ArgumentNullException.ThrowIfNull(now);
        var rows = new List<GateRow>();
        var byId = baseline.Metrics.ToDictionary(m => m.Id, StringComparer.Ordinal);
        foreach (MetricResult current in now.Metrics)
        {
            rows.Add(byId.TryGetValue(current.Id, out MetricResult? old) ? Judge(old, current) : NewRow(current));
        }

        foreach (MetricResult old in baseline.Metrics.Where(m => now.Metrics.All(n => n.Id != m.Id)))
        {
            rows.Add(new GateRow(old.Id, old.Kind, old.Median, double.NaN, double.NaN, old.Tolerance, double.NaN, Verdict.NotMeasured));
        }

        return rows;
    }

    /// <summary>Judges one metric present in both.</summary>
    public static GateRow Judge(MetricResult baseline, MetricResult now)
    {
        ArgumentNullException.ThrowIfNull(baseline);
        ArgumentNullException.ThrowIfNull(now);
        double tolerance = baseline.Tolerance; // the baseline file is where a team tunes it
        double change = baseline.Median == 0 ? (now.Median == 0 ? 0 : double.PositiveInfinity) : (now.Median - baseline.Median) / baseline.Median;
        if (now.Kind == MetricKind.MustBeZero)
        {
            return new GateRow(now.Id, now.Kind, baseline.Median, now.Median, change, 0, double.NaN, now.Median == 0 ? Verdict.Same : Verdict.Regression);
        }

        double p = MannWhitney.TwoSidedP(baseline.Samples, now.Samples);
        double worse = now.Kind == MetricKind.HigherIsBetter ? -change : change;
        Verdict verdict = Math.Abs(change) <= tolerance
            ? Verdict.Same
            : worse > 0
                ? (p < Alpha ? Verdict.Regression : Verdict.Noisy)
                : (p < Alpha ? Verdict.Improved : Verdict.Same);
        return new GateRow(now.Id, now.Kind, baseline.Median, now.Median, change, tolerance, p, verdict);
    }

    private static GateRow NewRow(MetricResult now) =>
        new(now.Id, now.Kind, double.NaN, now.Median, double.NaN, now.Tolerance, double.NaN,
            now.Kind == MetricKind.MustBeZero && now.Median != 0 ? Verdict.Regression : Verdict.New);

    /// <summary>Writes the table: metric, baseline, now, change, p, verdict.</summary>
    public static void WriteTable(IReadOnlyList<GateRow> rows, TextWriter output)
    {
        ArgumentNullException.ThrowIfNull(rows);
        ArgumentNullException.ThrowIfNull(output);
        int width = Math.Max(6, rows.Count == 0 ? 0 : rows.Max(r => r.Id.Length));
        output.WriteLine($"{"metric".PadRight(width)}  {"baseline",10}  {"now",10}  {"change",8}  {"tol",5}  {"p",6}  verdict");
        foreach (GateRow r in rows)
        {
            output.WriteLine($"{r.Id.PadRight(width)}  {Num(r.Baseline),10}  {Num(r.Now),10}  {Pct(r.Change),8}  {Tol(r.Tolerance),5}  {P(r.PValue),6}  {r.Verdict.ToString().ToLowerInvariant()}");
        }
    }

    private static string Num(double v) => double.IsNaN(v) ? "-" : v.ToString(v >= 100 ? "F1" : "F3", CultureInfo.InvariantCulture);

    private static string Pct(double v) => double.IsNaN(v) ? "-" : double.IsInfinity(v) ? "inf" : (v * 100).ToString("+0.0;-0.0;0.0", CultureInfo.InvariantCulture) + "%";

    private static string Tol(double v) => double.IsNaN(v) ? "-" : (v * 100).ToString("0", CultureInfo.InvariantCulture) + "%";

    private static string P(double v) => double.IsNaN(v) ? "-" : v.ToString("F3", CultureInfo.InvariantCulture);
}
