using Tolapai.Perf.Cli;

namespace Tolapai.Perf.Gate;

/// <summary>
/// <c>perf gate</c>: measures the scenario matrix (or reads a saved run), compares every metric with
/// the baseline in <c>perf/baselines/gate.json</c> and exits 1 when one regressed.
/// </summary>
public sealed class GateCommand : IPerfCommand
{
    /// <inheritdoc/>
    public string Name => "gate";

    /// <inheritdoc/>
    public string Synopsis => "[--quick] [--repetitions N] [--only kernels,ring] [--baseline FILE] [--results FILE] [--json FILE]";

    /// <inheritdoc/>
    public string Summary => "throughput/latency ratios vs the baseline: Mann-Whitney test + tolerance; exits 1 on a regression";

    /// <inheritdoc/>
    public int Run(IReadOnlyList<string> args, TextWriter output, TextWriter error)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(error);
        OptionReader o = OptionReader.Parse(args, ["--quick"], "--repetitions", "--only", "--baseline", "--results", "--json");
        bool quick = o.GetSwitch("--quick");
        int repetitions = o.GetInt32("--repetitions", GateRun.DefaultRepetitions, min: GateRun.MinimumRepetitions, max: 100);
        IReadOnlyList<IGateProbe> probes = GateRun.SelectProbes(o.GetNonEmpty("--only"));
        string? saved = o.GetNonEmpty("--results");
        string? json = o.GetNonEmpty("--json");
        try
        {
            string baselinePath = o.GetNonEmpty("--baseline") ?? GateRun.DefaultBaselinePath();
            GateResults baseline = GateRun.Read(baselinePath);
            GateResults now = saved is not null
                ? GateRun.Read(saved)
                : GateRun.Measure(probes, repetitions, quick, ReferenceEquals(error, Console.Error) && !Console.IsErrorRedirected ? error : null);
            if (json is not null)
            {
                GateRun.Write(json, now);
            }

            IReadOnlyList<GateRow> rows = GateEvaluator.Compare(baseline, now);
            output.WriteLine($"baseline: {baselinePath} ({baseline.TimestampUtc:yyyy-MM-dd HH:mm}Z, {baseline.Machine})");
            GateEvaluator.WriteTable(rows, output);
            int failed = rows.Count(r => r.Fails);
            output.WriteLine(failed == 0
                ? $"gate: PASS ({rows.Count} metrics, α = {GateEvaluator.Alpha})"
                : $"gate: FAIL, {failed} failing metric(s): {string.Join(", ", rows.Where(r => r.Fails).Select(r => r.Id))}");
            return failed == 0 ? ExitCodes.Ok : ExitCodes.Failed;
        }
        catch (GateFileException e)
        {
            error.WriteLine($"perf gate: {e.Message}");
            return ExitCodes.Failed;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException)
        {
            error.WriteLine($"perf gate: {e.Message}");
            return ExitCodes.Failed;
        }
    }
}

/// <summary>
/// <c>perf baseline</c>: measures the scenario matrix (or takes a saved run) and writes it as the
/// new baseline, keeping the tolerances already tuned in the old one.
/// </summary>
public sealed class BaselineCommand : IPerfCommand
{
    /// <inheritdoc/>
    public string Name => "baseline";

    /// <inheritdoc/>
    public string Synopsis => "[--quick] [--repetitions N] [--only kernels,ring] [--from FILE] [--out FILE]";

    /// <inheritdoc/>
    public string Summary => "rewrites perf/baselines/gate.json from a run (or from a saved --json run)";

    /// <inheritdoc/>
    public int Run(IReadOnlyList<string> args, TextWriter output, TextWriter error)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(error);
        OptionReader o = OptionReader.Parse(args, ["--quick"], "--repetitions", "--only", "--from", "--out");
        bool quick = o.GetSwitch("--quick");
        int repetitions = o.GetInt32("--repetitions", GateRun.DefaultRepetitions, min: GateRun.MinimumRepetitions, max: 100);
        IReadOnlyList<IGateProbe> probes = GateRun.SelectProbes(o.GetNonEmpty("--only"));
        string? from = o.GetNonEmpty("--from");
        try
        {
            string outPath = o.GetNonEmpty("--out") ?? GateRun.DefaultBaselinePath();
            GateResults fresh = from is not null
                ? GateRun.Read(from)
                : GateRun.Measure(probes, repetitions, quick, ReferenceEquals(error, Console.Error) && !Console.IsErrorRedirected ? error : null);
            GateResults? old = File.Exists(outPath) ? GateRun.Read(outPath) : null;
            GateResults written = GateRun.KeepTolerances(fresh, old);
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(outPath))!);
            GateRun.Write(outPath, written);
            foreach (MetricResult m in written.Metrics)
            {
                output.WriteLine($"{m.Id,-48} median {m.Median,10:F3}  tolerance {m.Tolerance:P0}  ({m.Samples.Count} samples)");
            }

            output.WriteLine($"baseline written: {outPath}");
            return ExitCodes.Ok;
        }
        catch (GateFileException e)
        {
            error.WriteLine($"perf baseline: {e.Message}");
            return ExitCodes.Failed;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException)
        {
            error.WriteLine($"perf baseline: {e.Message}");
            return ExitCodes.Failed;
        }
    }
}
