using System.Globalization;
using Microsoft.Diagnostics.Tracing;
using Microsoft.Diagnostics.Tracing.Etlx;
using Tolapai.Diagnostics;

namespace Tolapai.Tracing;

/// <summary>
/// Reads a .nettrace file with TraceEvent and summarises it: a latency histogram per stage from
/// our <c>RequestCompleted</c> events, the top methods by CPU samples (stacks resolved with the
/// rundown's method names), GC pauses, our counters and the count of our other events.
/// </summary>
public static class TraceReport
{
    /// <summary>Methods listed.</summary>
    public const int TopCount = 15;

    /// <summary>Summarises one file; a file that is not a readable trace is an <see cref="InvalidDataException"/>.</summary>
    public static TraceSummary Summarize(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"no such trace file: {path}", path);
        }

        string etlx = Path.Combine(Path.GetTempPath(), $"tolapai-{Environment.ProcessId}-{Guid.NewGuid():N}.etlx");
        try
        {
            try
            {
                TraceLog.CreateFromEventPipeDataFile(path, etlx);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                throw new InvalidDataException($"{path} is not a readable .nettrace file: {e.Message}", e);
            }

            using var log = new TraceLog(etlx);
            return Summarize(path, log) with { Counters = ReadCounters(path) };
        }
        finally
        {
            File.Delete(etlx);
        }
    }

    private static TraceSummary Summarize(string path, TraceLog log)
    {
        var latencies = new Dictionary<string, List<long>>(StringComparer.Ordinal);
        var exclusive = new Dictionary<string, long>(StringComparer.Ordinal);
        var inclusive = new Dictionary<string, long>(StringComparer.Ordinal);
        var others = new Dictionary<string, long>(StringComparer.Ordinal);
        var pauses = new List<double>();
        double? suspendStart = null;
        long samples = 0, events = 0;
        int gcs = 0, pid = 0;
        double first = double.NaN, last = 0;
        var onStack = new HashSet<string>(StringComparer.Ordinal);

        foreach (TraceEvent e in log.Events)
        {
            events++;
            if (double.IsNaN(first))
            {
                first = e.TimeStampRelativeMSec;
            }

            last = e.TimeStampRelativeMSec;
            if (e.ProcessID > 0)
            {
                pid = e.ProcessID;
            }

            switch (e.ProviderName)
            {
                case DataPlaneEventSource.ProviderName:
                    Ours(e, latencies, others);
                    break;
                case TraceProviders.SampleProfiler when e.EventName is "Thread/Sample":
                    samples++;
                    TraceCallStack? stack = e.CallStack();
                    if (stack is null)
                    {
                        break;
                    }

                    Add(exclusive, Name(stack.CodeAddress), 1);
                    onStack.Clear();
                    for (TraceCallStack? s = stack; s is not null; s = s.Caller)
                    {
                        string name = Name(s.CodeAddress);
                        if (onStack.Add(name))
                        {
                            Add(inclusive, name, 1);
                        }
                    }

                    break;
                case TraceProviders.Runtime or "Microsoft-Windows-DotNETRuntime":
                    switch (e.EventName)
                    {
                        case "GC/Start":
                            gcs++;
                            break;
                        case "GC/SuspendEEStart" when IsForGc(e):
                            suspendStart = e.TimeStampRelativeMSec;
                            break;
                        case "GC/RestartEEStop" when suspendStart is double start:
                            pauses.Add(e.TimeStampRelativeMSec - start);
                            suspendStart = null;
                            break;
                    }

                    break;
            }
        }

        return new TraceSummary(
            path,
            pid,
            double.IsNaN(first) ? 0 : last - first,
            events,
            latencies.OrderBy(l => l.Key, StringComparer.Ordinal).Select(l => Histogram(l.Key, l.Value)).ToArray(),
            exclusive.OrderByDescending(m => m.Value).ThenBy(m => m.Key, StringComparer.Ordinal).Take(TopCount)
                .Select(m => new MethodSamples(m.Key, m.Value, inclusive.GetValueOrDefault(m.Key))).ToArray(),
            samples,
            pauses,
            gcs,
            new Dictionary<string, double>(StringComparer.Ordinal),
            others);
    }

    private static void Ours(TraceEvent e, Dictionary<string, List<long>> latencies, Dictionary<string, long> others)
    {
        if (e.EventName == "EventCounters")
        {
            return; // read by ReadCounters: TraceLog does not keep the nested payload of counter events
        }

        if ((int)e.ID == DataPlaneEventSource.Ids.RequestCompleted || e.EventName == nameof(DataPlaneEventSource.RequestCompleted))
        {
            string stage = StageName(e.PayloadByName("stage"));
            long ns = Convert.ToInt64(e.PayloadByName("latencyNs"), CultureInfo.InvariantCulture);
            if (!latencies.TryGetValue(stage, out List<long>? list))
            {
                latencies[stage] = list = [];
            }

            list.Add(ns);
            return;
        }

        Add(others, e.EventName, 1);
    }

    // Counter reports are self-describing events whose one field is a struct; the plain EventPipe
    // reader parses it (as dotnet-counters does), the etlx conversion does not.
    private static Dictionary<string, double> ReadCounters(string path)
    {
        var sums = new Dictionary<string, (double Sum, int N)>(StringComparer.Ordinal);
        using var source = new EventPipeEventSource(path);
        source.Dynamic.All += e =>
        {
            if (e.ProviderName != DataPlaneEventSource.ProviderName || e.EventName != "EventCounters" || e.PayloadValue(0) is not IDictionary<string, object> outer)
            {
                return;
            }

            IDictionary<string, object> payload = outer.TryGetValue("Payload", out object? inner) && inner is IDictionary<string, object> p ? p : outer;
            if (payload.TryGetValue("Name", out object? n) && n is string name)
            {
                double value = payload.TryGetValue("Increment", out object? inc) ? Convert.ToDouble(inc, CultureInfo.InvariantCulture)
                    : payload.TryGetValue("Mean", out object? mean) ? Convert.ToDouble(mean, CultureInfo.InvariantCulture) : double.NaN;
                if (double.IsFinite(value))
                {
                    (double sum, int count) = sums.GetValueOrDefault(name);
                    sums[name] = (sum + value, count + 1);
                }
            }
        };
        source.Process();
        return sums.ToDictionary(c => c.Key, c => c.Value.Sum / c.Value.N, StringComparer.Ordinal);
    }

    private static string StageName(object? value) => value switch
    {
        string s => s,
        null => "unknown",
        _ => Enum.GetName(typeof(Stage), Convert.ToInt32(value, CultureInfo.InvariantCulture)) ?? Convert.ToString(value, CultureInfo.InvariantCulture) ?? "unknown",
    };

    /// <summary>Histogram of <paramref name="values"/> (nanoseconds) in power-of-two buckets with percentiles.</summary>
    public static StageHistogram Histogram(string stage, List<long> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        long[] sorted = [.. values];
        Array.Sort(sorted);
        var buckets = new SortedDictionary<long, long>();
        foreach (long v in sorted)
        {
            long upper = 1;
            while (upper < v && upper < long.MaxValue / 2)
            {
                upper <<= 1;
            }

            buckets[upper] = buckets.GetValueOrDefault(upper) + 1;
        }

        return new StageHistogram(stage, sorted.Length, At(sorted, 0.50), At(sorted, 0.99), At(sorted, 0.999), sorted.Length == 0 ? 0 : sorted[^1],
            buckets.Select(b => (b.Key, b.Value)).ToArray());
    }

    private static long At(long[] sorted, double q) => sorted.Length == 0 ? 0 : sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(q * sorted.Length) - 1)];

    private static string Name(TraceCodeAddress address)
    {
        string method = address.FullMethodName;
        if (!string.IsNullOrEmpty(method))
        {
            return method;
        }

        string module = address.ModuleName;
        return string.IsNullOrEmpty(module) ? "?" : module + "!?";
    }

    // The runtime suspends threads for other reasons too (rundown, debugger, tiering's call-counting
    // cleanup); only SUSPEND_FOR_GC (1) and SUSPEND_FOR_GC_PREP (6) are GC pauses.
    private static bool IsForGc(TraceEvent e) => e.PayloadByName("Reason") is object r && Convert.ToInt32(r, CultureInfo.InvariantCulture) is 1 or 6;

    private static void Add(Dictionary<string, long> counts, string key, long n) => counts[key] = counts.GetValueOrDefault(key) + n;

    /// <summary>Writes the summary as text.</summary>
    public static void Write(TraceSummary s, TextWriter output)
    {
        ArgumentNullException.ThrowIfNull(s);
        ArgumentNullException.ThrowIfNull(output);
        IFormatProvider c = CultureInfo.InvariantCulture;
        output.WriteLine(string.Create(c, $"== {s.Path}: pid {s.ProcessId}, {s.DurationMs / 1000:F2} s, {s.EventCount} events"));
        output.WriteLine("latency per stage (ns):");
        if (s.Stages.Count == 0)
        {
            output.WriteLine("  (no RequestCompleted events: was the Tolapai-DataPlane provider enabled at Verbose?)");
        }

        foreach (StageHistogram h in s.Stages)
        {
            output.WriteLine(string.Create(c, $"  {h.Stage,-15} n {h.Count,9}  p50 {h.P50Ns,9}  p99 {h.P99Ns,9}  p99.9 {h.P999Ns,9}  max {h.MaxNs,10}"));
            long most = h.Buckets.Count == 0 ? 1 : h.Buckets.Max(b => b.Count);
            foreach ((long upper, long count) in h.Buckets)
            {
                output.WriteLine(string.Create(c, $"    <= {upper,10} ns {count,9} {new string('#', (int)Math.Max(1, 40 * count / most))}"));
            }
        }

        output.WriteLine(string.Create(c, $"top CPU methods ({s.CpuSamples} samples; exclusive / inclusive):"));
        foreach (MethodSamples m in s.TopMethods)
        {
            output.WriteLine(string.Create(c, $"  {Pct(m.Exclusive, s.CpuSamples),6} {Pct(m.Inclusive, s.CpuSamples),6}  {m.Method}"));
        }

        double total = s.GcPauses.Sum();
        output.WriteLine(s.GcPauses.Count == 0
            ? string.Create(c, $"GC: {s.GcCount} collections, no pauses recorded")
            : string.Create(c, $"GC: {s.GcCount} collections, {s.GcPauses.Count} pauses, total {total:F3} ms, max {s.GcPauses.Max():F3} ms"));
        if (s.Counters.Count > 0)
        {
            output.WriteLine("counters (mean per report):");
            foreach ((string name, double value) in s.Counters.OrderBy(k => k.Key, StringComparer.Ordinal))
            {
                output.WriteLine(string.Create(c, $"  {name,-38} {value,14:F1}"));
            }
        }

        foreach ((string name, long count) in s.OtherEvents.OrderBy(k => k.Key, StringComparer.Ordinal))
        {
            output.WriteLine(string.Create(c, $"event {name}: {count}"));
        }
    }

    private static string Pct(long part, long whole) => whole == 0 ? "-" : (100.0 * part / whole).ToString("F1", CultureInfo.InvariantCulture) + "%";
}
