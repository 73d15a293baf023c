using System.Diagnostics;
using Tolapai.Cpa.Sample;

namespace Tolapai.Perf.Kernels;

/// <summary>What one workload measured.</summary>
/// <param name="MegabytesPerSecond">Median over the repetitions, in 10^6 bytes per second of the thread's CPU time (of wall time where that clock is missing).</param>
/// <param name="RepetitionMegabytesPerSecond">Every repetition's rate, in run order.</param>
/// <param name="WallMegabytesPerSecond">Median over the repetitions per second of wall time.</param>
/// <param name="CpuShare">Thread CPU time over wall time in the repetitions: below 1 when other work took the core.</param>
/// <param name="Ops">Calls made in the measured repetitions.</param>
/// <param name="AllocatedBytesPerOp">Bytes this thread allocated per call during the measured repetitions.</param>
public sealed record Measurement(
    double MegabytesPerSecond,
    IReadOnlyList<double> RepetitionMegabytesPerSecond,
    double WallMegabytesPerSecond,
    double CpuShare,
    long Ops,
    double AllocatedBytesPerOp);

/// <summary>
/// Times workloads on the calling thread. First every workload is warmed up, in two passes over
/// all of them, so tiering, PGO instrumentation and OSR have settled before anything is timed
/// (otherwise the first rows, the yardsticks the ratios divide by, are measured partly in tier 0;
/// the gap between the passes gives the background JIT time to install tier-1 code). Then the repetitions run round-robin: repetition r
/// of every workload, then r + 1, so a burst of load from a neighbour on a shared machine hits
/// all rows alike instead of one. Each repetition has a fixed time budget and makes at least
/// one call; the median is reported, and callers compare ratios from the same run. Rates are
/// per second of this thread's CPU time where the OS offers that clock (see
/// <see cref="ThreadCpuClock"/>): on a shared machine, time spent waiting for a core is not the
/// code's. Wall-clock rates and the CPU share are kept alongside.
/// </summary>
public static class Meter
{
    /// <summary>Warm-up time as a fraction of the measured time (split over <see cref="WarmupPasses"/>).</summary>
    public const double WarmupFraction = 0.5;

    /// <summary>Warm-up passes over all workloads.</summary>
    public const int WarmupPasses = 2;

    /// <summary>The clock rates are taken against: <c>thread-cpu</c> or <c>wall</c>.</summary>
    public static string Clock => ThreadCpuClock.IsAvailable ? "thread-cpu" : "wall";

    /// <summary>
    /// Measures every workload for <paramref name="seconds"/> (scaled by its budget) over
    /// <paramref name="repetitions"/> interleaved repetitions; <paramref name="progress"/> is told
    /// which workload is running.
    /// </summary>
    public static IReadOnlyList<Measurement> Measure(IReadOnlyList<Workload> workloads, double seconds, int repetitions, Action<string>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(workloads);
        ArgumentOutOfRangeException.ThrowIfLessThan(repetitions, 1);
        // Touch the clocks first: their one-time setup must not land in a workload's allocation count.
        _ = ThreadCpuClock.IsAvailable ? ThreadCpuClock.NowNanoseconds() : Stopwatch.GetTimestamp();
        for (int pass = 0; pass < WarmupPasses; pass++)
        {
            foreach (Workload workload in workloads)
            {
                progress?.Invoke($"warm-up {pass + 1}/{WarmupPasses} {workload.Id}");
                RunFor(workload.Op, seconds * workload.BudgetScale * WarmupFraction / WarmupPasses, out _);
            }
        }

        var rates = new double[workloads.Count][];
        var wallRates = new double[workloads.Count][];
        var ops = new long[workloads.Count];
        var allocated = new long[workloads.Count];
        var wallSeconds = new double[workloads.Count];
        var cpuSeconds = new double[workloads.Count];
        for (int w = 0; w < workloads.Count; w++)
        {
            rates[w] = new double[repetitions];
            wallRates[w] = new double[repetitions];
        }

        for (int r = 0; r < repetitions; r++)
        {
            for (int w = 0; w < workloads.Count; w++)
            {
                Workload workload = workloads[w];
                progress?.Invoke($"rep {r + 1}/{repetitions} {workload.Id}");
                long before = GC.GetAllocatedBytesForCurrentThread();
                long cpuStart = ThreadCpuClock.IsAvailable ? ThreadCpuClock.NowNanoseconds() : 0;
                double wall = RunFor(workload.Op, seconds * workload.BudgetScale / repetitions, out long n);
                double cpu = ThreadCpuClock.IsAvailable ? Math.Max(ThreadCpuClock.NowNanoseconds() - cpuStart, 1) / 1e9 : wall;
                allocated[w] += GC.GetAllocatedBytesForCurrentThread() - before;
                ops[w] += n;
                wallSeconds[w] += wall;
                cpuSeconds[w] += cpu;
                rates[w][r] = n * workload.BytesPerOp / cpu / 1e6;
                wallRates[w][r] = n * workload.BytesPerOp / wall / 1e6;
            }
        }

        var results = new Measurement[workloads.Count];
        for (int w = 0; w < workloads.Count; w++)
        {
            results[w] = new Measurement(
                Median(rates[w]),
                rates[w],
                Median(wallRates[w]),
                Math.Min(cpuSeconds[w] / wallSeconds[w], 1),
                ops[w],
                (double)allocated[w] / ops[w]);
        }

        return results;
    }

    /// <summary>The median (mean of the middle two for an even count).</summary>
    public static double Median(IReadOnlyList<double> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        ArgumentOutOfRangeException.ThrowIfZero(values.Count);
        double[] sorted = [.. values];
        Array.Sort(sorted);
        int mid = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    }

    // Calls op until the budget is spent (at least once); returns the seconds taken. Nothing in
    // this loop allocates, so the thread's allocation counter sees only the workload's own.
    private static double RunFor(Action op, double seconds, out long ops)
    {
        long start = Stopwatch.GetTimestamp();
        long deadline = start + (long)(seconds * Stopwatch.Frequency);
        long now;
        ops = 0;
        do
        {
            op();
            ops++;
            now = Stopwatch.GetTimestamp();
        }
        while (now < deadline);

        return Math.Max(now - start, 1) / (double)Stopwatch.Frequency;
    }
}
