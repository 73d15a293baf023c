using System.Diagnostics;
using Tolapai.Kernels.Des;
using Tolapai.Perf.Gate;

namespace Tolapai.Perf.Tests;

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class GateChildProcesses
{
    public const string Name = "gate probes in child processes";
}

/// <summary>
/// The gate's real probes, run in child processes with a fault injected through
/// <c>TOLAPAI_TEST_FAULTS</c> (or Vector512 switched off), judged against a baseline the fixture
/// measured in an unfaulted child of the same build in the same test run: ratios of one run
/// against ratios of another, never a time. The injected slow-downs (3x, 4x) are far beyond the
/// tolerances, so the assertions are on the verdicts.
/// </summary>
public sealed class GateFaultBaselines : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("tolapai-gate-faults-").FullName;
    private readonly Lazy<GateResults> _kernels;
    private readonly Lazy<GateResults> _split;

    public GateFaultBaselines()
    {
        _kernels = new(() =>
        {
            string path = Path.Combine(_dir, "kernels-baseline.json");
            (int exit, string output, string error) = RunPerf(["baseline", "--quick", "--only", "kernels", "--repetitions", "5", "--out", path], KernelRunEnvironment());
            Assert.True(exit == 0, $"baseline exited {exit}: {output} {error}");
            return GateRun.Read(path);
        });
        _split = new(() => Split(SplitProbe(null)));
    }

    public string Dir => _dir;

    /// <summary>
    /// The environment of every kernel run here, baseline and faulted alike: tiered compilation
    /// off, so each method is compiled once, fully optimised, before its first call. With the
    /// default tiering, BouncyCastle (the yardstick every kernel row divides by) ran at one of two
    /// speeds 1.5x apart from one Debug child to the next (all rows moved together: scalar 0.37
    /// or 0.56 in six hogged runs), depending on whether its PGO-instrumented tier-1 code was in
    /// place in time; a faulted run that met the other mode than its baseline read +54 % on a
    /// SIMD row. With tiering off the rows stayed within 1.35x over four hogged runs. Release
    /// runs (the real gate) showed no such modes.
    /// </summary>
    public static Dictionary<string, string> KernelRunEnvironment(string? variable = null, string? value = null)
    {
        var environment = new Dictionary<string, string> { ["DOTNET_TieredCompilation"] = "0" };
        if (variable is not null)
        {
            environment[variable] = value ?? "";
        }

        return environment;
    }

    /// <summary>The unfaulted kernel scenario, measured once.</summary>
    public GateResults Kernels => _kernels.Value;

    /// <summary>The unfaulted split scenario, measured once.</summary>
    public GateResults SplitBaseline => _split.Value;

    /// <summary>
    /// Repetitions of each split run. Six, not four: with four against four the Mann–Whitney test
    /// reaches p &lt; 0.05 only when the two sets do not overlap at all, and under a CPU hog one
    /// preempted unfaulted repetition overlapped a slow-backend=4 one (+151 %, p = 0.20, "noisy");
    /// six against six tolerates such an outlier.
    /// </summary>
    public const int SplitRepetitions = 6;

    /// <summary>DES-CBC at 4096 B with few operations: the test builds are Debug, whose kernels are slow.</summary>
    public static SplitGateProbe SplitProbe(string? faults) =>
        new([("des-cbc", 4096)], ops: 1500, environment: new Dictionary<string, string> { ["TOLAPAI_TEST_FAULTS"] = faults ?? "" });

    public static GateResults Split(SplitGateProbe probe) =>
        new(GateResults.CurrentSchema, DateTime.UtcNow, "test", SplitRepetitions, true, probe.Measure(SplitRepetitions, quick: true, null), GateHost.Current(), ["split"]);

    /// <summary>Runs the harness (<c>Tolapai.Perf.dll</c> beside the tests) with <paramref name="environment"/> on top of a clean fault setting.</summary>
    public static (int Exit, string Output, string Error) RunPerf(IReadOnlyList<string> args, IReadOnlyDictionary<string, string> environment)
    {
        var psi = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } h ? h : "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Tolapai.Perf.dll"));
        foreach (string a in args)
        {
            psi.ArgumentList.Add(a);
        }

        psi.Environment["TOLAPAI_TEST_FAULTS"] = "";
        foreach ((string name, string value) in environment)
        {
            psi.Environment[name] = value;
        }

        using Process p = Process.Start(psi)!;
        Task<string> error = p.StandardError.ReadToEndAsync();
        string output = p.StandardOutput.ReadToEnd();
        if (!p.WaitForExit(TimeSpan.FromMinutes(5)))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"perf {string.Join(' ', args)} did not finish in 5 minutes");
        }

        return (p.ExitCode, output, error.Result);
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}

[Collection(GateChildProcesses.Name)]
public sealed class GateFaultTests(GateFaultBaselines baselines) : IClassFixture<GateFaultBaselines>
{
    private static readonly string[] Ciphers = ["des", "3des"];

    // The kernel gate in a child with the given environment, against the fixture's baseline.
    private (int Exit, string Output, IReadOnlyList<GateRow> Rows) GateKernels(string variable, string value)
    {
        string baseline = Path.Combine(baselines.Dir, "kernels-baseline.json");
        _ = baselines.Kernels; // measured first
        string now = Path.Combine(baselines.Dir, $"kernels-{variable}-{value}.json");
        (int exit, string output, string error) = GateFaultBaselines.RunPerf(
            ["gate", "--quick", "--only", "kernels", "--repetitions", "5", "--baseline", baseline, "--json", now],
            GateFaultBaselines.KernelRunEnvironment(variable, value));
        Assert.True(File.Exists(now), $"gate exited {exit} without results: {error}");
        return (exit, output, GateEvaluator.Compare(baselines.Kernels, GateRun.Read(now)));
    }

    private static GateRow Row(IReadOnlyList<GateRow> rows, string id) =>
        rows.SingleOrDefault(r => r.Id == id) ?? throw new Xunit.Sdk.XunitException($"no row {id} in: {string.Join(", ", rows.Select(r => r.Id))}");

    [Fact]
    public void A_slower_scalar_kernel_fails_its_metric_against_BouncyCastle_and_improves_nothing()
    {
        (int exit, string output, IReadOnlyList<GateRow> rows) = GateKernels("TOLAPAI_TEST_FAULTS", "slow-scalar-kernel=3");

        Assert.Equal(1, exit);
        foreach (string c in Ciphers)
        {
            GateRow scalar = Row(rows, KernelGateProbe.ScalarId(c));
            Assert.True(scalar.Verdict == Verdict.Regression, output);
            Assert.True(scalar.Change < -0.5, output);
        }

        // Against the old yardstick (the scalar kernel) every SIMD ratio rose 3x and read "improved".
        // Against BouncyCastle they stay where they were, give or take the noise of a Debug build
        // on a shared machine: within 2x either way, the same bound as the mirror test below, and
        // far from the +200 % the old ratios showed.
        Assert.All(rows.Where(r => !r.Id.Contains(".scalar.", StringComparison.Ordinal) && !double.IsNaN(r.Change)), r => Assert.True(r.Change is < 1.0 and > -0.5, output));
    }

    [Fact]
    public void A_slower_simd_kernel_fails_its_metrics_and_leaves_the_scalar_one_alone()
    {
        (int exit, string output, IReadOnlyList<GateRow> rows) = GateKernels("TOLAPAI_TEST_FAULTS", "slow-simd-kernel=3");

        if (DesCipher.Best == DesKernel.Scalar)
        {
            // No SIMD kernel to slow down here: the gate has no SIMD row, and the scalar ones stand.
            Assert.DoesNotContain(rows, r => r.Id.Contains(".vector", StringComparison.Ordinal));
            Assert.Equal(0, exit);
            return;
        }

        Assert.Equal(1, exit);
        foreach (string c in Ciphers)
        {
            Assert.True(Row(rows, KernelGateProbe.EcbId(c, DesCipher.Best)).Verdict == Verdict.Regression, output);
            Assert.True(Row(rows, KernelGateProbe.BatchId(c, DesCipher.Best)).Verdict == Verdict.Regression, output);
            Assert.True(Row(rows, KernelGateProbe.EcbId(c, DesCipher.Best)).Change < -0.5, output);
            Assert.True(Row(rows, KernelGateProbe.ScalarId(c)).Change is > -0.5 and < 1.0, output); // noise (within 2x), not the 3x of the faulted kernels
        }
    }

    [Fact]
    public void Vector512_switched_off_on_a_CPU_that_has_it_fails_the_gate_and_says_why()
    {
        (int exit, string output, IReadOnlyList<GateRow> rows) = GateKernels("DOTNET_EnableAVX512", "0");

        IReadOnlyList<string>? flags = KernelLevels.ReadCpuFlags("/proc/cpuinfo");
        Assert.NotNull(flags);
        if (KernelLevels.Missing("vector512", flags).Length > 0)
        {
            // This CPU has no AVX-512: the baseline has no vector512 row, and nothing is lost.
            Assert.DoesNotContain(rows, r => r.Id.Contains(".vector512.", StringComparison.Ordinal));
            Assert.DoesNotContain(rows, r => r.Verdict == Verdict.Lost);
            return;
        }

        Assert.Equal(1, exit);
        foreach (string c in Ciphers)
        {
            GateRow lost = Row(rows, KernelGateProbe.EcbId(c, DesKernel.Vector512));
            Assert.Equal(Verdict.Lost, lost.Verdict);
            Assert.Contains("DOTNET_EnableAVX512=0 is set", lost.Reason, StringComparison.Ordinal);
            Assert.Contains("avx512f", lost.Reason, StringComparison.Ordinal);
            Assert.Equal(Verdict.Lost, Row(rows, KernelGateProbe.BatchId(c, DesKernel.Vector512)).Verdict);

            // The narrower kernel that stood in is judged against the one it replaced, not waved through as new.
            GateRow stand = Row(rows, KernelGateProbe.EcbId(c, DesCipher.IsSupported(DesKernel.Vector256) ? DesKernel.Vector256 : DesKernel.Vector128));
            Assert.NotEqual(Verdict.New, stand.Verdict);
            Assert.Contains("judged against", stand.Reason, StringComparison.Ordinal);
        }

        Assert.Contains("vector512 not measured though the CPU has avx512f,avx512bw,avx512vbmi; DOTNET_EnableAVX512=0 is set", output, StringComparison.Ordinal);
    }

    [Fact]
    public void A_slower_engine_fails_native_and_split_against_the_kernel()
    {
        GateResults now = GateFaultBaselines.Split(GateFaultBaselines.SplitProbe("slow-engine=4"));

        IReadOnlyList<GateRow> rows = GateEvaluator.Compare(baselines.SplitBaseline, now);

        string table = Table(rows);
        Assert.True(Row(rows, SplitGateProbe.NativeVsKernelId("des-cbc", 4096)).Verdict == Verdict.Regression, table);
        Assert.True(Row(rows, SplitGateProbe.VsKernelId("des-cbc", 4096)).Verdict == Verdict.Regression, table);

        // The engine works on its own thread: its slower batches are not the backend's busy time.
        Assert.True(Row(rows, SplitGateProbe.BackendVsKernelId("des-cbc", 4096)).Verdict != Verdict.Regression, table);
    }

    [Fact]
    public void A_slower_backend_fails_its_busy_time_against_the_kernel()
    {
        // slow-backend=4 makes taking, preparing and answering each request take 4x as long on
        // the worker thread: the median busy time per request rose 3-4x in Debug builds (the
        // driver's submit and poll and the publishing of responses are not slowed), while
        // unfaulted runs stayed within ±15 % of each other and a 4x slower engine left it alone.
        GateResults now = GateFaultBaselines.Split(GateFaultBaselines.SplitProbe("slow-backend=4"));

        IReadOnlyList<GateRow> rows = GateEvaluator.Compare(baselines.SplitBaseline, now);

        string table = Table(rows);
        GateRow backend = Row(rows, SplitGateProbe.BackendVsKernelId("des-cbc", 4096));
        Assert.True(backend.Verdict == Verdict.Regression, table);
        Assert.True(backend.Change > 1.0, table); // lower is better: the ratio at least doubled
        Assert.Equal(0, Row(rows, SplitGateProbe.CopiesId).Now); // slower, still zero-copy
    }

    private static string Table(IReadOnlyList<GateRow> rows)
    {
        using var w = new StringWriter();
        GateEvaluator.WriteTable(rows, w);
        return w.ToString();
    }
}
