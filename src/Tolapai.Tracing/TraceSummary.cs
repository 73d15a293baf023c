namespace Tolapai.Tracing;

/// <summary>What <see cref="TraceReport"/> found in one .nettrace file.</summary>
/// <param name="Path">The file.</param>
/// <param name="ProcessId">The traced process (from the trace header).</param>
/// <param name="DurationMs">Time covered by the events.</param>
/// <param name="EventCount">Events read.</param>
/// <param name="Stages">Latency histogram per stage, from <c>RequestCompleted</c>.</param>
/// <param name="TopMethods">Methods by CPU samples (exclusive: on top of the stack; inclusive: anywhere on it).</param>
/// <param name="CpuSamples">CPU samples in the file.</param>
/// <param name="GcPauses">Every GC pause (suspend start to restart end).</param>
/// <param name="GcCount">Garbage collections started.</param>
/// <param name="Counters">Mean of each counter of our provider over its reports.</param>
/// <param name="OtherEvents">Count of each other event of ours (ring full, park, Xenbus...).</param>
public sealed record TraceSummary(
    string Path,
    int ProcessId,
    double DurationMs,
    long EventCount,
    IReadOnlyList<StageHistogram> Stages,
    IReadOnlyList<MethodSamples> TopMethods,
    long CpuSamples,
    IReadOnlyList<double> GcPauses,
    int GcCount,
    IReadOnlyDictionary<string, double> Counters,
    IReadOnlyDictionary<string, long> OtherEvents);

/// <summary>Latencies of one stage.</summary>
/// <param name="Stage">Stage name.</param>
/// <param name="Count">Requests.</param>
/// <param name="P50Ns">Median.</param>
/// <param name="P99Ns">99th percentile.</param>
/// <param name="P999Ns">99.9th percentile.</param>
/// <param name="MaxNs">Largest.</param>
/// <param name="Buckets">Counts per power-of-two bucket: (upper bound ns, count), empty buckets left out.</param>
public sealed record StageHistogram(string Stage, long Count, long P50Ns, long P99Ns, long P999Ns, long MaxNs, IReadOnlyList<(long UpperNs, long Count)> Buckets);

/// <summary>CPU samples of one method.</summary>
/// <param name="Method">Full method name (or module!address when unresolved).</param>
/// <param name="Exclusive">Samples with the method on top.</param>
/// <param name="Inclusive">Samples with the method anywhere on the stack.</param>
public sealed record MethodSamples(string Method, long Exclusive, long Inclusive);
