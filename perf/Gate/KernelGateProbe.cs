using Tolapai.Kernels.Des;
using Tolapai.Perf.Kernels;

namespace Tolapai.Perf.Gate;

/// <summary>
/// The kernel scenario: for DES and 3DES, the best SIMD kernel against the project's own scalar
/// kernel on the same thread in the same run, (a) ECB on one buffer and (b) RunBatch over 64
/// CBC-encrypt streams against one scalar CBC-encrypt stream; and bytes allocated per call on
/// every one of our rows. Repetitions are the meter's interleaved repetitions, so repetition r of
/// the SIMD row and of the scalar row ran back to back and their ratio cancels most load noise.
/// </summary>
public sealed class KernelGateProbe : IGateProbe
{
    /// <summary>Relative change of a kernel ratio that is still noise.</summary>
    public const double Tolerance = 0.15;

    /// <summary>Seconds per workload of the throw-away pass before the measured one.</summary>
    public const double WarmupSeconds = 0.3;

    /// <inheritdoc/>
    public string Name => "kernels";

    /// <summary>The id of the SIMD-over-scalar ECB metric.</summary>
    public static string EcbId(string cipher, DesKernel kernel) => $"kernels.{cipher}.{Lower(kernel)}.ecb-vs-scalar";

    /// <summary>The id of the batch-over-scalar-CBC metric.</summary>
    public static string BatchId(string cipher, DesKernel kernel) => $"kernels.{cipher}.{Lower(kernel)}.batch64-vs-scalar-cbc";

    /// <summary>The id of the allocation metric.</summary>
    public const string AllocationId = "kernels.allocated-bytes-per-call";

    /// <inheritdoc/>
    public IReadOnlyList<MetricResult> Measure(int repetitions, bool quick, Action<string>? progress)
    {
        DesKernel best = DesCipher.Best;
        double seconds = quick ? 0.1 : 0.4;
        int size = quick ? 16 * 1024 : 64 * 1024;
        var results = new List<MetricResult>();
        double maxAllocated = 0;
        foreach ((string cipher, int keyLength) in KernelsRun.Ciphers)
        {
            using var fixture = new CipherFixture(cipher, keyLength, size, KernelsOptions.DefaultStreamBytes, KernelsRun.Seed);
            string[] wanted =
            [
                KernelWorkloads.OursId(cipher, DesKernel.Scalar, "a-ecb"),
                KernelWorkloads.OursId(cipher, DesKernel.Scalar, "c-cbc-encrypt"),
                KernelWorkloads.OursId(cipher, best, "a-ecb"),
                KernelWorkloads.OursId(cipher, best, "b-batch-64"),
            ];
            DesKernel[] kernels = best == DesKernel.Scalar ? [DesKernel.Scalar] : [DesKernel.Scalar, best];
            Workload[] workloads = KernelWorkloads.For(fixture, kernels).Where(w => wanted.Contains(w.Id)).DistinctBy(w => w.Id).ToArray();
            // A throw-away pass first: the meter's own warm-up is scaled to the budget, and a quick
            // budget is shorter than tiered compilation takes to install tier-1 code (its call-counting
            // delay alone is 100 ms), which left the first repetitions of a quick run in tier 0.
            _ = Meter.Measure(workloads, WarmupSeconds, 1, step => progress?.Invoke($"{cipher} tier-up {step}"));
            IReadOnlyList<Measurement> measured = Meter.Measure(workloads, seconds, repetitions, step => progress?.Invoke($"{cipher} {step}"));
            Dictionary<string, Measurement> byId = workloads.Zip(measured).ToDictionary(p => p.First.Id, p => p.Second, StringComparer.Ordinal);
            maxAllocated = Math.Max(maxAllocated, measured.Max(m => m.AllocatedBytesPerOp));
            if (best == DesKernel.Scalar)
            {
                continue; // no SIMD kernel on this CPU: nothing to compare with the scalar one
            }

            results.Add(MetricResult.From(
                new MetricDefinition(EcbId(cipher, best), $"{cipher} ECB, {best} kernel over the scalar kernel (thread CPU time)", MetricKind.HigherIsBetter, Tolerance),
                Ratios(byId[wanted[2]], byId[wanted[0]])));
            results.Add(MetricResult.From(
                new MetricDefinition(BatchId(cipher, best), $"{cipher} RunBatch 64 CBC streams, {best}, over one scalar CBC stream", MetricKind.HigherIsBetter, Tolerance),
                Ratios(byId[wanted[3]], byId[wanted[1]])));
        }

        results.Add(MetricResult.From(
            new MetricDefinition(AllocationId, "most bytes any of our kernel rows allocated per call", MetricKind.MustBeZero, 0),
            [maxAllocated]));
        return results;
    }

    private static double[] Ratios(Measurement top, Measurement bottom) =>
        top.RepetitionMegabytesPerSecond.Zip(bottom.RepetitionMegabytesPerSecond, (a, b) => a / b).ToArray();

    private static string Lower(DesKernel kernel) => kernel.ToString().ToLowerInvariant();
}
