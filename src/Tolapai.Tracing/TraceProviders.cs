using System.Diagnostics.Tracing;
using Microsoft.Diagnostics.NETCore.Client;
using Tolapai.Diagnostics;

namespace Tolapai.Tracing;

/// <summary>The EventPipe providers a trace asks for: ours, CPU sampling and the runtime's GC events.</summary>
public static class TraceProviders
{
    /// <summary>The runtime provider.</summary>
    public const string Runtime = "Microsoft-Windows-DotNETRuntime";

    /// <summary>The CPU sampling provider (a stack per thread every millisecond).</summary>
    public const string SampleProfiler = "Microsoft-DotNETCore-SampleProfiler";

    /// <summary>The hypervisor's provider (bad-ring events).</summary>
    public const string Xen = "Tolapai-Xen";

    /// <summary>GC keyword of the runtime provider.</summary>
    public const long GcKeyword = 0x1;

    /// <summary>
    /// Ours at Verbose with every keyword (request events carry the per-stage latency) and its
    /// counters every second; CPU samples; GC events at Informational (start/stop, suspend/restart,
    /// enough for pause times). Method names come from the rundown at the end of the session.
    /// </summary>
    public static IReadOnlyList<EventPipeProvider> Default(int counterIntervalSeconds = 1) =>
    [
        new(DataPlaneEventSource.ProviderName, EventLevel.Verbose, -1, new Dictionary<string, string>
        {
            ["EventCounterIntervalSec"] = counterIntervalSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture),
        }),
        new(Xen, EventLevel.Verbose, -1),
        new(SampleProfiler, EventLevel.Informational),
        new(Runtime, EventLevel.Informational, GcKeyword),
    ];
}
