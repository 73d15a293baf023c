using Tolapai.Perf.Cli;
using Tolapai.Perf.Gate;

namespace Tolapai.Perf.Tests;

public sealed class GateTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("tolapai-gate-tests-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static (int Exit, string Out, string Err) Run(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        int exit = PerfCommands.CreateDispatcher().Run(args, output, error);
        return (exit, output.ToString(), error.ToString());
    }

    // A realistic baseline: two kernel ratios with ~1 % spread, a latency ratio with ~8 % spread, two zero metrics.
    private static GateResults Baseline() => Results(
        Metric("kernels.3des.vector512.ecb-vs-scalar", MetricKind.HigherIsBetter, 0.15, 24.1, 24.5, 23.9, 24.3, 24.0),
        Metric("kernels.3des.vector512.batch64-vs-scalar-cbc", MetricKind.HigherIsBetter, 0.15, 19.7, 19.8, 19.6, 19.9, 19.5),
        Metric("ring.rtt64-vs-pingpong", MetricKind.LowerIsBetter, 0.35, 1.43, 1.50, 1.38, 1.55, 1.41),
        Metric("kernels.allocated-bytes-per-call", MetricKind.MustBeZero, 0, 0),
        Metric("ring.allocated-bytes-per-entry", MetricKind.MustBeZero, 0, 0));

    private static GateResults Results(params MetricResult[] metrics) =>
        new(GateResults.CurrentSchema, new DateTime(2026, 11, 29, 0, 0, 0, DateTimeKind.Utc), "test", 5, true, metrics);

    private static MetricResult Metric(string id, MetricKind kind, double tolerance, params double[] samples) =>
        MetricResult.From(new MetricDefinition(id, id, kind, tolerance), samples);

    private static GateResults Scale(GateResults r, string id, params double[] factors) => r with
    {
        Metrics = r.Metrics.Select(m => m.Id != id ? m : MetricResult.From(
            new MetricDefinition(m.Id, m.Description, m.Kind, m.Tolerance),
            m.Samples.Select((s, i) => s * factors[i % factors.Length]).ToArray())).ToArray(),
    };

    private string Save(string name, GateResults r)
    {
        string path = Path.Combine(_dir, name);
        GateRun.Write(path, r);
        return path;
    }

    [Fact]
    public void Exact_Mann_Whitney_p_values_match_the_counted_distribution()
    {
        // Fully separated 5 vs 5: only 2 of the C(10,5) = 252 arrangements are as extreme.
        Assert.Equal(2.0 / 252, MannWhitney.TwoSidedP([1, 2, 3, 4, 5], [6, 7, 8, 9, 10]), 12);
        Assert.Equal(2.0 / 252, MannWhitney.TwoSidedP([6, 7, 8, 9, 10], [1, 2, 3, 4, 5]), 12);
        // 3 vs 3 separated: 2 of C(6,3) = 20.
        Assert.Equal(0.1, MannWhitney.TwoSidedP([1, 2, 3], [4, 5, 6]), 12);
        // U at its mean: p = 1.
        Assert.Equal(1, MannWhitney.TwoSidedP([1, 4, 5, 8], [2, 3, 6, 7]), 12);
        // One swap from separation in 5 vs 5: U = 1; one arrangement has U = 0 and one U = 1, so P(U <= 1) = 2/252, two-sided 4/252.
        double p = MannWhitney.TwoSidedP([1, 2, 3, 4, 6], [5, 7, 8, 9, 10]);
        Assert.Equal(4.0 / 252, p, 12);
    }

    [Fact]
    public void Tied_samples_use_the_normal_approximation_and_all_equal_is_p_1()
    {
        Assert.Equal(1, MannWhitney.TwoSidedP([0, 0, 0], [0, 0, 0]));
        double p = MannWhitney.TwoSidedP([1, 1, 2, 2, 3, 3, 4, 4], [5, 5, 6, 6, 7, 7, 8, 8]);
        Assert.InRange(p, 0.0005, 0.003); // z ≈ 3.3: clearly different
        Assert.Equal(0.5, MannWhitney.StandardNormalCdf(0), 7);
        Assert.Equal(0.975, MannWhitney.StandardNormalCdf(1.959964), 6);
    }

    [Fact]
    public void The_gate_passes_on_unchanged_results()
    {
        string baseline = Save("baseline.json", Baseline());
        string now = Save("now.json", Baseline());

        (int exit, string output, string error) = Run("gate", "--baseline", baseline, "--results", now);

        Assert.Equal("", error);
        Assert.Equal(ExitCodes.Ok, exit);
        Assert.Contains("gate: PASS", output, StringComparison.Ordinal);
        Assert.DoesNotContain("regression", output, StringComparison.Ordinal);
    }

    [Fact]
    public void A_synthetic_regression_beyond_the_tolerance_fails_the_gate()
    {
        string baseline = Save("baseline.json", Baseline());
        string now = Save("now.json", Scale(Baseline(), "kernels.3des.vector512.ecb-vs-scalar", 0.70, 0.71, 0.69, 0.70, 0.72));

        (int exit, string output, _) = Run("gate", "--baseline", baseline, "--results", now);

        Assert.Equal(ExitCodes.Failed, exit);
        Assert.Contains("gate: FAIL, 1 failing metric(s): kernels.3des.vector512.ecb-vs-scalar", output, StringComparison.Ordinal);
    }

    [Fact]
    public void A_latency_ratio_that_grows_beyond_the_tolerance_is_a_regression_and_one_that_shrinks_is_an_improvement()
    {
        GateResults baseline = Baseline();
        GateRow worse = GateEvaluator.Compare(baseline, Scale(baseline, "ring.rtt64-vs-pingpong", 1.6, 1.7, 1.65, 1.6, 1.75)).Single(r => r.Id == "ring.rtt64-vs-pingpong");
        GateRow better = GateEvaluator.Compare(baseline, Scale(baseline, "ring.rtt64-vs-pingpong", 0.5, 0.55, 0.52, 0.5, 0.51)).Single(r => r.Id == "ring.rtt64-vs-pingpong");

        Assert.Equal(Verdict.Regression, worse.Verdict);
        Assert.Equal(Verdict.Improved, better.Verdict);
    }

    [Fact]
    public void Noise_within_the_tolerance_does_not_fail_even_when_significant()
    {
        // 8 % down on every repetition: the test calls it different (p = 0.008), the tolerance calls it noise.
        GateResults baseline = Baseline();
        GateRow row = GateEvaluator.Compare(baseline, Scale(baseline, "kernels.3des.vector512.ecb-vs-scalar", 0.92)).Single(r => r.Id.EndsWith("ecb-vs-scalar", StringComparison.Ordinal));

        Assert.True(row.PValue < GateEvaluator.Alpha);
        Assert.Equal(Verdict.Same, row.Verdict);
        Assert.False(row.Fails);
    }

    [Fact]
    public void A_large_drop_in_one_unlucky_repetition_is_noisy_not_a_regression()
    {
        // Median moves 20 % down because of spread, but the sets overlap: not significant.
        GateResults baseline = Baseline();
        GateRow row = GateEvaluator.Compare(baseline, Scale(baseline, "kernels.3des.vector512.batch64-vs-scalar-cbc", 1.01, 0.5, 0.8, 0.99, 0.6)).Single(r => r.Id.EndsWith("batch64-vs-scalar-cbc", StringComparison.Ordinal));

        Assert.True(row.Change < -0.15);
        Assert.True(row.PValue >= GateEvaluator.Alpha);
        Assert.Equal(Verdict.Noisy, row.Verdict);
        Assert.False(row.Fails);
    }

    [Fact]
    public void Any_allocation_on_the_data_plane_fails_whatever_the_baseline()
    {
        GateResults now = Baseline() with
        {
            Metrics = Baseline().Metrics.Select(m => m.Id == "ring.allocated-bytes-per-entry" ? m with { Samples = [0.001], Median = 0.001 } : m).ToArray(),
        };

        GateRow row = GateEvaluator.Compare(Baseline(), now).Single(r => r.Id == "ring.allocated-bytes-per-entry");

        Assert.Equal(Verdict.Regression, row.Verdict);
    }

    private static readonly GateHost Avx512Host = new(["avx2", "avx512bw", "avx512f", "avx512vbmi", "sse4_1", "ssse3"], new Dictionary<string, string>());
    private static readonly GateHost Avx2Host = new(["avx2", "sse4_1", "ssse3"], new Dictionary<string, string>());

    private static GateResults WithoutVector512(GateResults baseline, GateHost host) =>
        Results([.. baseline.Metrics.Where(m => !m.Id.Contains("vector512", StringComparison.Ordinal)),
            Metric("kernels.3des.vector256.ecb-vs-scalar", MetricKind.HigherIsBetter, 0.15, 6, 6.1, 5.9, 6, 6.05)]) with { Host = host };

    [Fact]
    public void A_kernel_level_the_CPU_lacks_is_not_measured_and_its_stand_in_is_new_without_failing()
    {
        IReadOnlyList<GateRow> rows = GateEvaluator.Compare(Baseline(), WithoutVector512(Baseline(), Avx2Host));

        Assert.Equal(Verdict.New, rows.Single(r => r.Id == "kernels.3des.vector256.ecb-vs-scalar").Verdict);
        Assert.Equal(2, rows.Count(r => r.Verdict == Verdict.NotMeasured));
        Assert.All(rows.Where(r => r.Verdict == Verdict.NotMeasured), r => Assert.Contains("this CPU lacks avx512f,avx512bw,avx512vbmi", r.Reason, StringComparison.Ordinal));
        Assert.DoesNotContain(rows, r => r.Fails);
    }

    [Fact]
    public void A_kernel_level_the_CPU_has_but_the_run_lacks_fails_and_says_why()
    {
        GateHost host = Avx512Host with { RuntimeSwitches = new Dictionary<string, string> { ["DOTNET_EnableAVX512"] = "0" } };

        IReadOnlyList<GateRow> rows = GateEvaluator.Compare(Baseline(), WithoutVector512(Baseline(), host));

        GateRow lost = rows.Single(r => r.Id == "kernels.3des.vector512.ecb-vs-scalar");
        Assert.Equal(Verdict.Lost, lost.Verdict);
        Assert.True(lost.Fails);
        Assert.Equal("vector512 not measured though the CPU has avx512f,avx512bw,avx512vbmi; DOTNET_EnableAVX512=0 is set", lost.Reason);
        Assert.Equal(Verdict.Lost, rows.Single(r => r.Id == "kernels.3des.vector512.batch64-vs-scalar-cbc").Verdict);

        // The narrower stand-in is judged against the kernel it replaced: 4x slower is a regression, not "new".
        GateRow stand = rows.Single(r => r.Id == "kernels.3des.vector256.ecb-vs-scalar");
        Assert.Equal(Verdict.Regression, stand.Verdict);
        Assert.Contains("judged against kernels.3des.vector512.ecb-vs-scalar", stand.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void A_lost_level_without_any_switch_blames_the_code_or_the_runtime()
    {
        IReadOnlyList<GateRow> rows = GateEvaluator.Compare(Baseline(), WithoutVector512(Baseline(), Avx512Host));

        Assert.Contains("no DOTNET_Enable* switch is set", rows.First(r => r.Verdict == Verdict.Lost).Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Metrics_of_a_scenario_not_run_are_not_measured_without_failing()
    {
        GateResults now = Results([.. Baseline().Metrics.Where(m => !m.Id.StartsWith("kernels.", StringComparison.Ordinal))]) with { Host = Avx512Host, Scenarios = ["ring"] };

        IReadOnlyList<GateRow> rows = GateEvaluator.Compare(Baseline(), now);

        Assert.Equal(3, rows.Count(r => r.Verdict == Verdict.NotMeasured && r.Reason == "scenario 'kernels' not run"));
        Assert.DoesNotContain(rows, r => r.Fails);
    }

    [Fact]
    public void A_median_past_the_README_target_fails_whatever_the_tolerance_says()
    {
        // Baseline 0.96, now 0.80: -17 %, inside a 25 % tolerance, but below the 0.85 floor.
        GateResults baseline = Results(MetricResult.From(new MetricDefinition("split.3des-cbc-4096.vs-native", "x", MetricKind.HigherIsBetter, 0.25, 0.85), [0.96, 0.95, 0.97, 0.96, 0.96]));
        GateResults now = Results(MetricResult.From(new MetricDefinition("split.3des-cbc-4096.vs-native", "x", MetricKind.HigherIsBetter, 0.25, 0.85), [0.80, 0.79, 0.81, 0.80, 0.80]));
        GateResults ceiling = Results(MetricResult.From(new MetricDefinition("ring.rtt64-vs-pingpong", "x", MetricKind.LowerIsBetter, 0.35, 2.0), [2.1, 2.1, 2.1, 2.1, 2.1]));
        GateResults ceilingBase = Results(MetricResult.From(new MetricDefinition("ring.rtt64-vs-pingpong", "x", MetricKind.LowerIsBetter, 0.35, 2.0), [1.9, 1.9, 1.9, 1.9, 1.9]));

        GateRow floor = GateEvaluator.Compare(baseline, now).Single();
        GateRow above = GateEvaluator.Compare(ceilingBase, ceiling).Single();
        GateRow met = GateEvaluator.Compare(baseline, baseline).Single();

        Assert.Equal(Verdict.Same, floor.Verdict);
        Assert.True(floor.TargetMissed);
        Assert.True(floor.Fails);
        Assert.Contains("below the README's floor of 0.850", floor.Reason, StringComparison.Ordinal);
        Assert.True(above.TargetMissed);
        Assert.True(above.Fails);
        Assert.False(met.TargetMissed);
        Assert.False(met.Fails);
    }

    [Fact]
    public void Cpu_flags_come_from_the_cpuinfo_flags_line_and_levels_from_metric_ids()
    {
        IReadOnlyList<string>? flags = KernelLevels.ParseCpuFlags(["processor\t: 0", "flags\t\t: fpu sse ssse3 sse4_1 avx avx2 avx512f avx512bw gfni", "bugs\t\t: none"]);

        Assert.Equal(["avx2", "avx512bw", "avx512f", "sse4_1", "ssse3"], flags);
        Assert.Equal(["avx512vbmi"], KernelLevels.Missing("vector512", flags!));
        Assert.Empty(KernelLevels.Missing("vector256", flags!));
        Assert.Null(KernelLevels.ParseCpuFlags(["processor\t: 0"]));
        Assert.Equal("vector512", KernelLevels.LevelOf("kernels.des.vector512.ecb-vs-bouncycastle-cbc"));
        Assert.Equal("scalar", KernelLevels.LevelOf("kernels.des.scalar.cbc-vs-bouncycastle-cbc"));
        Assert.Null(KernelLevels.LevelOf("kernels.allocated-bytes-per-call"));
        Assert.Null(KernelLevels.LevelOf("split.3des-cbc-4096.vs-native"));
    }

    [Fact]
    public void Baseline_from_a_saved_run_keeps_the_tuned_tolerances()
    {
        GateResults tuned = Baseline() with
        {
            Metrics = Baseline().Metrics.Select(m => m.Id == "ring.rtt64-vs-pingpong" ? m with { Tolerance = 0.5 } : m).ToArray(),
        };
        string outPath = Save("gate.json", tuned);
        string run = Save("run.json", Scale(Baseline(), "ring.rtt64-vs-pingpong", 1.1));

        (int exit, string output, string error) = Run("baseline", "--from", run, "--out", outPath);

        Assert.Equal("", error);
        Assert.Equal(ExitCodes.Ok, exit);
        Assert.Contains("baseline written", output, StringComparison.Ordinal);
        GateResults written = GateRun.Read(outPath);
        MetricResult ring = written.Metrics.Single(m => m.Id == "ring.rtt64-vs-pingpong");
        Assert.Equal(0.5, ring.Tolerance);
        Assert.Equal(1.43 * 1.1, ring.Median, 9);
    }

    [Theory]
    [InlineData("{ not json")]
    [InlineData("{\"schema\":\"something/else\",\"metrics\":[]}")]
    [InlineData("{\"schema\":\"tolapai.perf.gate/1\",\"metrics\":[{\"id\":\"x\",\"kind\":\"HigherIsBetter\",\"tolerance\":0.1,\"samples\":[]}]}")]
    [InlineData("{\"schema\":\"tolapai.perf.gate/1\",\"metrics\":[{\"id\":\"x\",\"kind\":\"Sideways\",\"tolerance\":0.1,\"samples\":[1]}]}")]
    public void A_malformed_baseline_is_one_clear_error_line_and_exit_1(string text)
    {
        string baseline = Path.Combine(_dir, "bad.json");
        File.WriteAllText(baseline, text);
        string now = Save("now.json", Baseline());

        (int exit, string output, string error) = Run("gate", "--baseline", baseline, "--results", now);

        Assert.Equal(ExitCodes.Failed, exit);
        Assert.Equal("", output);
        Assert.Single(error.TrimEnd('\n').Split('\n'));
        Assert.Contains("bad.json", error, StringComparison.Ordinal);
    }

    [Fact]
    public void A_missing_baseline_file_is_one_clear_error_line_and_exit_1()
    {
        (int exit, _, string error) = Run("gate", "--baseline", Path.Combine(_dir, "none.json"), "--results", Save("now.json", Baseline()));

        Assert.Equal(ExitCodes.Failed, exit);
        Assert.Contains("cannot read", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("gate", "--quick", "yes")]
    [InlineData("gate", "--quick", "--quick")]
    [InlineData("gate", "--repetitions", "2")]
    [InlineData("gate", "--repetitions", "3")]
    [InlineData("gate", "--only", "nothing")]
    [InlineData("baseline", "--bogus", "1")]
    public void Bad_gate_flags_exit_2(params string[] args)
    {
        (int exit, _, string error) = Run(args);

        Assert.Equal(ExitCodes.Usage, exit);
        Assert.Single(error.TrimEnd('\n').Split('\n'));
    }

    [Fact]
    public void The_committed_baseline_is_a_valid_gate_file_with_every_kind_of_metric()
    {
        GateResults baseline = GateRun.Read(GateRun.DefaultBaselinePath());

        Assert.Contains(baseline.Metrics, m => m.Kind == MetricKind.HigherIsBetter);
        Assert.Contains(baseline.Metrics, m => m.Kind == MetricKind.LowerIsBetter);
        Assert.Contains(baseline.Metrics, m => m.Kind == MetricKind.MustBeZero && m.Median == 0);
        Assert.All(baseline.Metrics.Where(m => m.Kind != MetricKind.MustBeZero), m => Assert.True(m.Samples.Count >= 5));
    }
}
