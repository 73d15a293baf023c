using System.Globalization;

namespace Tolapai.Perf.Gate;

/// <summary>What the gate says of one metric, compared with its baseline.</summary>
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

    /// <summary>In the run but not in the baseline, and replacing nothing this CPU could run: reported, does not fail (write a new baseline).</summary>
    New,

    /// <summary>In the baseline but not measured here, for a reason that is not a loss (a kernel level this CPU lacks, a scenario not run): reported, does not fail.</summary>
    NotMeasured,

    /// <summary>In the baseline, not measured here, although this CPU has the kernel level it needs: fails the gate.</summary>
    Lost,
}

/// <summary>One row of the gate's table.</summary>
/// <param name="Id">Metric id.</param>
/// <param name="Kind">How it is judged.</param>
/// <param name="Baseline">Baseline median, NaN when new.</param>
/// <param name="Now">This run's median, NaN when not measured.</param>
/// <param name="Change">Relative change of the medians (now − baseline) / baseline; NaN when either is missing.</param>
/// <param name="Tolerance">The tolerance applied.</param>
/// <param name="PValue">Two-sided Mann–Whitney p-value of the repetitions; NaN when not computed.</param>
/// <param name="Verdict">The verdict against the baseline.</param>
/// <param name="Target">The README's target (floor or ceiling by <paramref name="Kind"/>); NaN when none.</param>
/// <param name="TargetMissed">True when this run's median is on the wrong side of <paramref name="Target"/>: fails whatever the verdict.</param>
/// <param name="Reason">Why, for a row that fails for a reason the numbers alone do not say (a lost level, a replaced kernel, a missed target); null otherwise.</param>
public sealed record GateRow(string Id, MetricKind Kind, double Baseline, double Now, double Change, double Tolerance, double PValue, Verdict Verdict,
    double Target = double.NaN, bool TargetMissed = false, string? Reason = null)
{
    /// <summary>True for the rows that fail the gate.</summary>
    public bool Fails => Verdict is Verdict.Regression or Verdict.Lost || TargetMissed;
}

/// <summary>
/// Compares a run with a baseline. A ratio metric regresses only when both hold: its median moved
/// the wrong way by more than the tolerance, and the Mann–Whitney test on the repetitions says
/// the two sets differ (p below <see cref="Alpha"/>). The tolerance is the noise threshold; the
/// test keeps one unlucky repetition from failing a build. Must-be-zero metrics fail on any
/// non-zero median. Apart from that comparison, a median on the wrong side of the README's
/// target fails, and a baseline kernel metric this run lacks fails when the measuring CPU has
/// the kernel's level (from <c>/proc/cpuinfo</c>, not from the runtime).
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
        var measured = now.Metrics.Select(m => m.Id).ToHashSet(StringComparer.Ordinal);
        MetricResult[] missing = [.. baseline.Metrics.Where(m => !measured.Contains(m.Id))];
        foreach (MetricResult current in now.Metrics)
        {
            GateRow row = byId.TryGetValue(current.Id, out MetricResult? old) ? Judge(old, current) : NewRow(current, missing, now.Host);
            rows.Add(CheckTarget(row, current.Target ?? old?.Target));
        }

        foreach (MetricResult old in missing)
        {
            rows.Add(NotMeasuredRow(old, now));
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

    // The README's targets are floors (ceilings) no tolerance can cross: checked on this run's
    // median whatever the comparison said.
    private static GateRow CheckTarget(GateRow row, double? target)
    {
        if (target is not double t || row.Kind == MetricKind.MustBeZero)
        {
            return row;
        }

        bool missed = row.Kind == MetricKind.HigherIsBetter ? row.Now < t : row.Now > t;
        return row with
        {
            Target = t,
            TargetMissed = missed,
            Reason = missed ? Join(row.Reason, $"{Num(row.Now)} is {(row.Kind == MetricKind.HigherIsBetter ? "below the README's floor" : "above the README's ceiling")} of {Num(t)}") : row.Reason,
        };
    }

    // A new kernel metric may stand in for a baseline one at another level (vector256 where the
    // baseline had vector512). When this CPU has the replaced level, the new metric is judged
    // against the replaced one, so the slower kernel shows as the regression it is.
    private static GateRow NewRow(MetricResult now, IReadOnlyList<MetricResult> missing, GateHost? host)
    {
        if (now.Kind == MetricKind.MustBeZero)
        {
            return new GateRow(now.Id, now.Kind, double.NaN, now.Median, double.NaN, 0, double.NaN, now.Median != 0 ? Verdict.Regression : Verdict.New);
        }

        string? key = KernelLevels.LevelFreeKey(now.Id);
        MetricResult? replaced = key is null ? null : missing.FirstOrDefault(m => KernelLevels.LevelFreeKey(m.Id) == key);
        if (replaced is not null && host?.CpuFlags is { } flags && KernelLevels.Missing(KernelLevels.LevelOf(replaced.Id)!, flags).Length == 0)
        {
            GateRow judged = Judge(replaced, now);
            return judged with { Reason = $"judged against {replaced.Id}: this CPU has {KernelLevels.LevelOf(replaced.Id)}, so {KernelLevels.LevelOf(now.Id)} replaced it" };
        }

        return new GateRow(now.Id, now.Kind, double.NaN, now.Median, double.NaN, now.Tolerance, double.NaN, Verdict.New,
            Reason: replaced is null ? null : $"in place of {replaced.Id}, a level this CPU lacks");
    }

    private static GateRow NotMeasuredRow(MetricResult old, GateResults now)
    {
        GateRow row = new(old.Id, old.Kind, old.Median, double.NaN, double.NaN, old.Tolerance, double.NaN, Verdict.NotMeasured);
        string scenario = old.Id.Split('.')[0];
        if (now.Scenarios is { } ran && !ran.Contains(scenario, StringComparer.Ordinal))
        {
            return row with { Reason = $"scenario '{scenario}' not run" };
        }

        if (KernelLevels.LevelOf(old.Id) is not { } level)
        {
            return row with { Reason = "not measured with this run's settings" };
        }

        if (now.Host?.CpuFlags is not { } flags)
        {
            return row with { Reason = $"the measuring machine's CPU flags are unknown, so whether it has {level} is too" };
        }

        string[] lacks = KernelLevels.Missing(level, flags);
        if (lacks.Length > 0)
        {
            return row with { Reason = $"this CPU lacks {string.Join(',', lacks)}" };
        }

        string has = KernelLevels.Required[level].Length == 0 ? "needs nothing of the CPU" : $"the CPU has {string.Join(',', KernelLevels.Required[level])}";
        return row with { Verdict = Verdict.Lost, Reason = $"{level} not measured though {has}; {now.Host.SwitchesSummary()}" };
    }

    private static string Join(string? a, string b) => a is null ? b : $"{a}; {b}";

    /// <summary>Writes the table: metric, baseline, now, change, p, verdict.</summary>
    public static void WriteTable(IReadOnlyList<GateRow> rows, TextWriter output)
    {
        ArgumentNullException.ThrowIfNull(rows);
        ArgumentNullException.ThrowIfNull(output);
        int width = Math.Max(6, rows.Count == 0 ? 0 : rows.Max(r => r.Id.Length));
        output.WriteLine($"{"metric".PadRight(width)}  {"baseline",10}  {"now",10}  {"change",8}  {"tol",5}  {"p",6}  {"target",7}  verdict");
        foreach (GateRow r in rows)
        {
            string verdict = r.Verdict switch
            {
                Verdict.NotMeasured => "not measured",
                Verdict.Lost => "LOST",
                _ => r.Verdict.ToString().ToLowerInvariant(),
            };
            output.WriteLine($"{r.Id.PadRight(width)}  {Num(r.Baseline),10}  {Num(r.Now),10}  {Pct(r.Change),8}  {Tol(r.Tolerance),5}  {P(r.PValue),6}  {TargetText(r),7}  {verdict}{(r.TargetMissed ? ", TARGET MISSED" : "")}");
        }

        foreach (GateRow r in rows.Where(r => r.Reason is not null))
        {
            output.WriteLine($"  {r.Id}: {r.Reason}");
        }
    }

    private static string TargetText(GateRow r) =>
        double.IsNaN(r.Target) ? "-" : (r.Kind == MetricKind.LowerIsBetter ? "<=" : ">=") + r.Target.ToString("0.##", CultureInfo.InvariantCulture);

    private static string Num(double v) => double.IsNaN(v) ? "-" : v.ToString(v >= 100 ? "F1" : "F3", CultureInfo.InvariantCulture);

    private static string Pct(double v) => double.IsNaN(v) ? "-" : double.IsInfinity(v) ? "inf" : (v * 100).ToString("+0.0;-0.0;0.0", CultureInfo.InvariantCulture) + "%";

    private static string Tol(double v) => double.IsNaN(v) ? "-" : (v * 100).ToString("0", CultureInfo.InvariantCulture) + "%";

    private static string P(double v) => double.IsNaN(v) ? "-" : v.ToString("F3", CultureInfo.InvariantCulture);
}
