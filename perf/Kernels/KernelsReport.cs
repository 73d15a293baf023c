using System.Text.Json.Serialization;

namespace Tolapai.Perf.Kernels;

/// <summary>Everything one <c>perf kernels</c> run measured; written as JSON with <c>--json</c>.</summary>
/// <param name="Schema">Format name and version, for the later gate/baseline commands.</param>
/// <param name="TimestampUtc">When the run started.</param>
/// <param name="Host">Runtime, CPU features and DOTNET_Enable* settings.</param>
/// <param name="Settings">Budgets and sizes.</param>
/// <param name="SupportedKernels">Kernels measured (every one the CPU supports).</param>
/// <param name="BestKernel">The kernel Auto resolves to; the targets are checked on it.</param>
/// <param name="Results">One row per workload.</param>
/// <param name="Targets">The throughput targets.</param>
/// <param name="Allocation">The zero-allocation target over our rows.</param>
public sealed record KernelsReport(
    string Schema,
    DateTime TimestampUtc,
    HostInfo Host,
    RunSettings Settings,
    IReadOnlyList<string> SupportedKernels,
    string BestKernel,
    IReadOnlyList<WorkloadResult> Results,
    IReadOnlyList<TargetResult> Targets,
    AllocationCheck Allocation)
{
    /// <summary>The current <see cref="Schema"/>.</summary>
    public const string CurrentSchema = "tolapai.perf.kernels/1";
}

/// <summary>The machine and runtime the numbers come from.</summary>
/// <param name="Runtime">.NET version.</param>
/// <param name="Os">OS description.</param>
/// <param name="Architecture">Process architecture.</param>
/// <param name="ProcessorCount">Logical CPUs visible to the process.</param>
/// <param name="InstructionSets">IsSupported of the instruction sets the kernels use (after DOTNET_Enable* settings).</param>
/// <param name="Environment">Every DOTNET_Enable* variable that is set.</param>
public sealed record HostInfo(
    string Runtime,
    string Os,
    string Architecture,
    int ProcessorCount,
    Dictionary<string, bool> InstructionSets,
    Dictionary<string, string> Environment);

/// <summary>How the run was budgeted.</summary>
/// <param name="Seconds">Measured seconds per workload (before its budget scale).</param>
/// <param name="Repetitions">Repetitions per workload; the median is reported.</param>
/// <param name="WarmupFraction">Warm-up time as a fraction of the measured time.</param>
/// <param name="Size">Bytes per call in shapes (a), (c) and the yardsticks.</param>
/// <param name="StreamBytes">Bytes per stream in shape (b).</param>
/// <param name="ReferenceBytes">Bytes per call of the FIPS reference.</param>
/// <param name="Seed">Seed of every key and buffer.</param>
/// <param name="Clock">What rates are per second of: <c>thread-cpu</c> (this thread's CPU time) or <c>wall</c>.</param>
public sealed record RunSettings(double Seconds, int Repetitions, double WarmupFraction, int Size, int StreamBytes, int ReferenceBytes, int Seed, string Clock);

/// <summary>One workload's numbers.</summary>
/// <param name="Id">Stable id, e.g. <c>3des.scalar.b-batch-512</c>.</param>
/// <param name="Cipher"><c>des</c> or <c>3des</c>.</param>
/// <param name="Implementation"><c>bouncycastle</c>, <c>dotnet</c>, <c>reference</c>, <c>tolapai</c>.</param>
/// <param name="Shape"><c>a</c>, <c>b</c> or <c>c</c> for our rows, empty for the yardsticks.</param>
/// <param name="Label">Table label.</param>
/// <param name="Kernel">Our kernel, or null.</param>
/// <param name="BytesPerOp">Bytes per call.</param>
/// <param name="MegabytesPerSecond">Median rate, 10^6 bytes per second of <see cref="RunSettings.Clock"/>.</param>
/// <param name="RepetitionMegabytesPerSecond">Each repetition's rate.</param>
/// <param name="WallMegabytesPerSecond">Median rate per second of wall time.</param>
/// <param name="CpuShare">Thread CPU time over wall time: how much of the run the thread had a core.</param>
/// <param name="Ops">Calls in the measured repetitions.</param>
/// <param name="AllocatedBytesPerOp">Bytes allocated per call on this thread.</param>
/// <param name="VsBouncyCastleCbc">Rate over BouncyCastle CBC-encrypt of the same cipher in this run.</param>
/// <param name="VsReference">Rate over the FIPS reference of the same cipher in this run.</param>
public sealed record WorkloadResult(
    string Id,
    string Cipher,
    string Implementation,
    string Shape,
    string Label,
    string? Kernel,
    long BytesPerOp,
    double MegabytesPerSecond,
    IReadOnlyList<double> RepetitionMegabytesPerSecond,
    double WallMegabytesPerSecond,
    double CpuShare,
    long Ops,
    double AllocatedBytesPerOp,
    double VsBouncyCastleCbc,
    double VsReference);

/// <summary>One throughput target: a ratio measured in this run against a required one.</summary>
/// <param name="Name">What the target says.</param>
/// <param name="Cipher"><c>des</c> or <c>3des</c>.</param>
/// <param name="Kernel">The kernel checked.</param>
/// <param name="WorkloadId">The row measured.</param>
/// <param name="AgainstId">The row it is divided by.</param>
/// <param name="Ratio">Measured ratio.</param>
/// <param name="Required">Ratio needed.</param>
/// <param name="Pass">Ratio ≥ required.</param>
public sealed record TargetResult(string Name, string Cipher, string Kernel, string WorkloadId, string AgainstId, double Ratio, double Required, bool Pass);

/// <summary>The zero-allocation target over every one of our rows.</summary>
/// <param name="MaxAllocatedBytesPerOp">The most any of our rows allocated per call.</param>
/// <param name="WorstWorkloadId">The row that allocated most, or null when none did.</param>
/// <param name="Pass">Nothing allocated.</param>
public sealed record AllocationCheck(double MaxAllocatedBytesPerOp, string? WorstWorkloadId, bool Pass);

/// <summary>Source-generated JSON for the report (no reflection, trimming-safe).</summary>
[JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(KernelsReport))]
public sealed partial class KernelsJsonContext : JsonSerializerContext;
