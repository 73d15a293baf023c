using Tolapai.Kernels.Des;

namespace Tolapai.Perf.Kernels;

/// <summary>Measures every workload of DES and 3-key 3DES in one run, on the calling thread, and builds the report.</summary>
public static class KernelsRun
{
    /// <summary>Seed of every key and buffer, so runs compare like with like.</summary>
    public const int Seed = 0x7011A9A1;

    /// <summary>The ciphers measured: single DES and 3-key 3DES (2-key 3DES runs the same 48 rounds).</summary>
    public static IReadOnlyList<(string Name, int KeyLength)> Ciphers { get; } = [("des", 8), ("3des", 24)];

    /// <summary>Runs the measurements; <paramref name="progress"/> (may be null) gets a status line, rewritten in place.</summary>
    public static KernelsReport Measure(KernelsOptions options, TextWriter? progress)
    {
        ArgumentNullException.ThrowIfNull(options);
        DateTime started = DateTime.UtcNow;
        IReadOnlyList<DesKernel> kernels = KernelWorkloads.SupportedKernels();
        var results = new List<WorkloadResult>();
        var targets = new List<TargetResult>();
        foreach ((string name, int keyLength) in Ciphers)
        {
            using var fixture = new CipherFixture(name, keyLength, options.Size, options.StreamBytes, Seed);
            Workload[] workloads = KernelWorkloads.For(fixture, kernels).ToArray();
            IReadOnlyList<Measurement> measurements = Meter.Measure(
                workloads,
                options.Seconds,
                KernelsOptions.Repetitions,
                progress is null ? null : step => progress.Write($"\rperf kernels: {name} {step,-44}"));
            var measured = workloads.Zip(measurements, (w, m) => (Workload: w, Measurement: m)).ToList();

            double bouncyCbc = Rate(measured, KernelWorkloads.BouncyCbcId(name));
            double reference = Rate(measured, KernelWorkloads.ReferenceId(name));
            List<WorkloadResult> rows = measured.Select(m => new WorkloadResult(
                m.Workload.Id,
                m.Workload.Cipher,
                m.Workload.Implementation,
                m.Workload.Shape,
                m.Workload.Label,
                m.Workload.Kernel,
                m.Workload.BytesPerOp,
                m.Measurement.MegabytesPerSecond,
                m.Measurement.RepetitionMegabytesPerSecond,
                m.Measurement.WallMegabytesPerSecond,
                m.Measurement.CpuShare,
                m.Measurement.Ops,
                m.Measurement.AllocatedBytesPerOp,
                m.Measurement.MegabytesPerSecond / bouncyCbc,
                m.Measurement.MegabytesPerSecond / reference)).ToList();
            results.AddRange(rows);
            targets.AddRange(KernelTargets.Evaluate(rows, name, DesCipher.Best));
        }

        progress?.Write("\r" + new string(' ', 80) + "\r");
        return new KernelsReport(
            KernelsReport.CurrentSchema,
            started,
            HostProbe.Describe(),
            new RunSettings(options.Seconds, KernelsOptions.Repetitions, Meter.WarmupFraction, options.Size, options.StreamBytes, Math.Min(options.Size, KernelWorkloads.ReferenceBytes), Seed, Meter.Clock),
            kernels.Select(k => k.ToString()).ToArray(),
            DesCipher.Best.ToString(),
            results,
            targets,
            KernelTargets.Allocation(results));
    }

    // Every rate is > 0 (each repetition makes at least one call), so ratios stay finite.
    private static double Rate(List<(Workload Workload, Measurement Measurement)> measured, string id) =>
        measured.First(m => m.Workload.Id == id).Measurement.MegabytesPerSecond;
}
