using System.Globalization;

namespace Tolapai.Perf.Kernels;

/// <summary>Prints a <see cref="KernelsReport"/> as the human-readable table.</summary>
public static class KernelsTable
{
    /// <summary>Writes the header, one row per workload, the targets and the allocation check.</summary>
    public static void Write(KernelsReport report, TextWriter output)
    {
        ArgumentNullException.ThrowIfNull(report);
        ArgumentNullException.ThrowIfNull(output);
        IFormatProvider inv = CultureInfo.InvariantCulture;
        RunSettings s = report.Settings;
        HostInfo host = report.Host;
        output.WriteLine(string.Create(inv, $"perf kernels  {report.TimestampUtc:yyyy-MM-ddTHH:mm:ssZ}  {host.Runtime}, {host.Architecture}, {host.ProcessorCount} CPUs, one thread"));
        output.WriteLine(string.Create(inv, $"budget {s.Seconds:0.###} s x {s.Repetitions} reps (median) per workload after {s.WarmupFraction:0.##}x warm-up; (a)/(c) {s.Size} B per call; (b) streams of {s.StreamBytes} B; reference {s.ReferenceBytes} B per call; MB/s per second of {s.Clock} time"));
        output.WriteLine("ISA: " + string.Join(" ", host.InstructionSets.Select(p => $"{p.Key}={(p.Value ? "on" : "off")}")));
        output.WriteLine("DOTNET_Enable*: " + (host.Environment.Count == 0 ? "(none set)" : string.Join(" ", host.Environment.Select(p => $"{p.Key}={p.Value}"))));
        output.WriteLine($"kernels: {string.Join(", ", report.SupportedKernels)} (Auto = {report.BestKernel})");
        output.WriteLine();
        output.WriteLine($"{"cipher",-6} {"workload",-30} {"kernel",-9} {"MB/s",10} {"x BC CBC",9} {"x ref",9} {"B/op",8} {"wall MB/s",10} {"cpu%",5}");
        output.WriteLine(new string('-', 6 + 1 + 30 + 1 + 9 + 1 + 10 + 1 + 9 + 1 + 9 + 1 + 8 + 1 + 10 + 1 + 5));
        string? cipher = null;
        foreach (WorkloadResult r in report.Results)
        {
            if (cipher is not null && cipher != r.Cipher)
            {
                output.WriteLine();
            }

            cipher = r.Cipher;
            output.WriteLine(string.Create(inv, $"{r.Cipher,-6} {r.Label,-30} {r.Kernel ?? "-",-9} {r.MegabytesPerSecond,10:0.00} {r.VsBouncyCastleCbc,9:0.00} {r.VsReference,9:0.0} {r.AllocatedBytesPerOp,8:0.#} {r.WallMegabytesPerSecond,10:0.00} {r.CpuShare * 100,5:0}"));
        }

        output.WriteLine();
        output.WriteLine($"targets (checked on the Auto kernel, {report.BestKernel}; ratios from this run):");
        foreach (TargetResult t in report.Targets)
        {
            output.WriteLine(string.Create(inv, $"  {(t.Pass ? "PASS" : "MISS")}  {t.Name,-58} measured {t.Ratio,7:0.00}x"));
        }

        AllocationCheck a = report.Allocation;
        output.WriteLine(string.Create(inv, $"  {(a.Pass ? "PASS" : "MISS")}  {"our paths allocate 0 B per call",-58} max {a.MaxAllocatedBytesPerOp:0.#} B/op{(a.WorstWorkloadId is null ? "" : $" ({a.WorstWorkloadId})")}"));
    }
}
