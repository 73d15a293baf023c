using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Tolapai.Cli.CommandLine;
using Tolapai.Cli.Commands.Perf;
using Tolapai.Cli.Commands.Split;
using Tolapai.Cpa;
using Tolapai.Cpa.Native;
using Tolapai.Cpa.Sample;
using Tolapai.Device;
using Tolapai.Ixp.Backend;

namespace Tolapai.Cli.Commands;

/// <summary>The split mode of <c>tolapai perf</c> (the main job).</summary>
public static partial class PerfCommand
{
    private static async Task<int> RunSplitAsync(SplitSettings s)
    {
        CipherPerfOptions options = s.Workload.Sample;
        IxpBackendService? service = s.RunDirectory is null
            ? new IxpBackendService(new DeviceOptions { Engines = s.Engines, Coherence = s.Coherence }, new IxpBackendOptions())
            : null;
        string host = s.RunDirectory is null
            ? string.Create(CultureInfo.InvariantCulture, $"embedded dom0  engines {s.Engines}  coherence {s.Coherence.ToString().ToLowerInvariant()}")
            : $"dom0 on {s.RunDirectory}";
        Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"perf split  {s.Workload.AlgorithmName} {(options.Direction == SymCipherDirection.Encrypt ? "encrypt" : "decrypt")}  guests {s.Guests}  {(options.Duration is { } dur ? $"seconds {dur.TotalSeconds} per size" : $"ops {options.Ops}")}  depth {options.Depth}  {host}  completion {(s.Workload.Completion == CompletionMode.Polling ? "poll" : "interrupt")}"));
        Console.Out.Flush();

        using var signals = new ToolstackCommandSupport.SignalScope();
        SplitPerfOutcome outcome;
        try
        {
            SplitPerfRun run = s.Migration is { } plan
                ? new SplitPerfRun(s.Workload, s.Guests, service!, () => new IxpBackendService(new DeviceOptions { Engines = s.Engines, Coherence = s.Coherence }, new IxpBackendOptions()), plan, Console.Error, live: !Console.IsErrorRedirected)
                : new SplitPerfRun(s.Workload, s.Guests, s.RunDirectory, service, Console.Error, live: !Console.IsErrorRedirected, s.TraceDirectory);
            outcome = await run.RunAsync(signals.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (signals.Token.IsCancellationRequested)
        {
            Console.Error.WriteLine($"tolapai: perf: {signals.Signal}: stopped; the guests were destroyed");
            return ExitCodes.Failure;
        }

        IReadOnlyList<CipherPerfResult> rows = Aggregate(outcome.Guests);
        Console.Out.WriteLine(TableHeader);
        foreach (CipherPerfResult r in rows)
        {
            Console.Out.WriteLine(Row(r));
        }

        CipherPerfReport first = outcome.Guests[0].Report;
        Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"cycles/op counts {first.Clock} ticks ({first.ClockHz / 1e9:F3} GHz) in the guest over the wall-clock run, divided by the responses; with several guests the figures add up and the latencies are the worst guest's"));
        foreach (GuestPerfResult g in outcome.Guests)
        {
            Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"dom{g.DomId}: {g.Requests} requests, {g.Completed} completed, {g.Lost} lost, {g.Duplicates} duplicates ({g.Features})"));
        }

        DataPlaneCopies? copies = outcome.Copies;
        double? copiesPerRequest = copies?.CopiesPerPayloadByte;
        if (copies is not null && copiesPerRequest is double c)
        {
            Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"payload copies per request: {c:F3} ({copies.TotalBytes} bytes copied for {copies.PayloadBytesServed} payload bytes served, warm-up included: backend {copies.BackendBytes}, device bounce {copies.DeviceBounceBytes})"));
            Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"DMA segments outside the guests' grants: {copies.DmaSegmentsOutsideGrants} of {copies.DmaSegments} the device used"));
        }
        else
        {
            Console.Out.WriteLine("payload copies per request: not known (the dom0 on --run-dir is another process)");
        }

        double? backendNsPerRequest = outcome.Backend?.NanosecondsPerRequest;
        if (outcome.Backend is { } be && backendNsPerRequest is double ns)
        {
            Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"backend busy per request: median {be.MedianNanosecondsPerRequest:F0} ns, mean {ns:F0} ns ({be.BusyNanoseconds} ns in the worker passes that did work, preempted ones included, over {be.Responses} responses, warm-up included; the engine works on its own thread)"));
        }

        MigrationSummary? moved = outcome.Migration is { } m ? MigrationSummary.From(m, outcome.Guests) : null;
        if (moved is not null)
        {
            Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"migrations: {moved.Migrations} {(moved.Live ? "live" : "cold")} (every {outcome.Migration!.Plan.EverySeconds} s between 2 hosts), {moved.Failures.Count} failed; downtime p50 {moved.DowntimeMs.P50:F1} ms, max {moved.DowntimeMs.Max:F1} ms"));
            Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"throughput with migrations {moved.WithMbps:F1} Mbit/s, without (first pass, same run) {moved.WithoutMbps:F1} Mbit/s: ratio {moved.ThroughputRatio:F3}"));
            foreach (string f in moved.Failures)
            {
                Console.Out.WriteLine("migration failed: " + f);
            }
        }

        IReadOnlyList<CipherPerfResult>? native = null;
        if (s.VsNative)
        {
            Console.Out.WriteLine("native, same sample in this process on the device:");
            Console.Out.WriteLine(TableHeader);
            native = RunNative(s, r => Console.Out.WriteLine(Row(r))).Results;
            foreach (CipherPerfResult r in rows)
            {
                if (native.FirstOrDefault(n => n.Size == r.Size) is { } n && n.Mbps > 0)
                {
                    Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"split/native at {r.Size,5} B: {r.Mbps / n.Mbps:F3} throughput, p50 {r.LatencyNs.P50} vs {n.LatencyNs.P50} ns"));
                }
            }
        }

        // The raw yardstick of both, as --mode native measures it: the kernel alone in this
        // process over the work of the largest size. A slower engine or backend moves split and
        // native together, so split/native alone cannot see it; split/kernel and native/kernel can.
        KernelBaselineResult? kernel = null;
        if (native is { Count: > 0 })
        {
            CipherPerfResult at = native.LastOrDefault(r => r.Size == 4096) ?? native.MaxBy(r => r.Size)!;
            kernel = KernelBaseline.Measure(options.Algorithm, options.Direction, at.Size, options.Depth, at.Ops * (long)at.Size, options.Seed);
            double splitMbps = rows.FirstOrDefault(r => r.Size == at.Size)?.Mbps ?? 0;
            Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"kernel in process at {at.Size} B: DesCipher.RunBatch, {kernel.Streams} streams, {kernel.YardstickMbps:F1} Mbit/s (the larger of wall clock and thread CPU time); split/kernel {splitMbps / kernel.YardstickMbps:F3}, native/kernel {at.Mbps / kernel.YardstickMbps:F3}"));
        }

        if (s.JsonPath is not null)
        {
            var json = new SplitJson
            {
                Algorithm = s.Workload.AlgorithmName,
                Direction = first.Direction,
                Guests = s.Guests,
                Depth = options.Depth,
                Engines = s.RunDirectory is null ? s.Engines : null,
                Coherence = s.RunDirectory is null ? s.Coherence.ToString().ToLowerInvariant() : null,
                Completion = s.Workload.Completion == CompletionMode.Polling ? "poll" : "interrupt",
                Clock = first.Clock,
                ClockHz = first.ClockHz,
                Results = rows,
                GuestResults = outcome.Guests.Select(g => new GuestJson(g.DomId, g.Lost, g.Duplicates, g.Requests, g.Completed, g.Features, g.Report.Results)).ToArray(),
                PayloadCopiesPerRequest = copiesPerRequest,
                PayloadBytesCopied = copies,
                DmaSegments = copies?.DmaSegments,
                DmaSegmentsOutsideGrants = copies?.DmaSegmentsOutsideGrants,
                BackendBusyNsPerRequest = outcome.Backend?.MedianNanosecondsPerRequest,
                BackendBusyMeanNsPerRequest = backendNsPerRequest,
                BackendBusyNs = outcome.Backend?.BusyNanoseconds,
                BackendResponses = outcome.Backend?.Responses,
                Timeline = outcome.Timeline,
                Native = native,
                Kernel = kernel,
                Hosts = moved is null ? null : 2,
                MigrateEverySeconds = outcome.Migration?.Plan.EverySeconds,
                Live = moved?.Live,
                Migrations = moved?.Migrations,
                MigrationFailures = moved?.Failures,
                DowntimeMs = moved?.DowntimeMs,
                MigrationEvents = outcome.Migration?.Events,
                ThroughputWithMigrationsMbps = moved?.WithMbps,
                ThroughputWithoutMigrationsMbps = moved?.WithoutMbps,
                ThroughputRatio = moved?.ThroughputRatio,
                ReferenceResults = outcome.Migration is { } mo ? Aggregate(mo.Reference) : null,
            };
            await File.WriteAllTextAsync(s.JsonPath, JsonSerializer.Serialize(json, JsonOptions)).ConfigureAwait(false);
        }

        bool ok = rows.All(r => r.Verified) && outcome.Guests.All(g => g.Lost == 0 && g.Duplicates == 0) && (native?.All(r => r.Verified) ?? true)
            && (outcome.Migration is null || (outcome.Migration.Failures.Count == 0 && outcome.Migration.Reference.All(g => g.Lost == 0 && g.Duplicates == 0 && g.Report.Results.All(r => r.Verified))));
        if (!ok)
        {
            Console.Error.WriteLine("tolapai: perf: some operations failed, were lost or duplicated, or differed from the reference cipher");
        }

        return ok ? ExitCodes.Success : ExitCodes.Failure;
    }

    /// <summary>The guests' figures added up per packet size (latencies: the worst guest's).</summary>
    internal static IReadOnlyList<CipherPerfResult> Aggregate(IReadOnlyList<GuestPerfResult> guests)
    {
        var sizes = guests[0].Report.Results.Select(r => r.Size).ToArray();
        return sizes.Select((size, i) =>
        {
            CipherPerfResult[] all = guests.Select(g => g.Report.Results[i]).ToArray();
            return new CipherPerfResult
            {
                Size = size,
                Ops = all.Sum(r => r.Ops),
                OpsPerSec = all.Sum(r => r.OpsPerSec),
                Mbps = all.Sum(r => r.Mbps),
                CyclesPerOp = all.Average(r => r.CyclesPerOp),
                Seconds = all.Max(r => r.Seconds),
                LatencyNs = new LatencySummary
                {
                    P50 = all.Max(r => r.LatencyNs.P50),
                    P99 = all.Max(r => r.LatencyNs.P99),
                    P999 = all.Max(r => r.LatencyNs.P999),
                    Max = all.Max(r => r.LatencyNs.Max),
                },
                Retries = all.Sum(r => r.Retries),
                Failures = all.Sum(r => r.Failures),
                Mismatches = all.Sum(r => r.Mismatches),
                Lost = all.Sum(r => r.Lost),
                Duplicates = all.Sum(r => r.Duplicates),
                Verified = all.All(r => r.Verified),
            };
        }).ToArray();
    }

    // The native yardstick of --vs-native: the same sample on a device of the same shape, here.
    private static CipherPerfReport RunNative(SplitSettings s, Action<CipherPerfResult> progress)
    {
        using TolapaiDevice device = TolapaiDevice.Create(new DeviceOptions { Engines = s.Engines, Coherence = s.Coherence, RingPairs = 1 });
        if (NativeCyInstance.Create(device, s.Workload.Completion, out NativeCyInstance? native) != CpaStatus.Success)
        {
            throw new IOException("no ring pair free on the device");
        }

        using (native)
        {
            try
            {
                return CipherPerf.Run(native!, s.Workload.Sample, progress);
            }
            catch (CipherPerfException ex)
            {
                throw new IOException($"perf: native: {ex.Message}", ex);
            }
        }
    }

    internal sealed record SplitSettings(PerfWorkloadOptions Workload, int Guests, string? RunDirectory, int Engines, CoherenceMode Coherence, bool VsNative, string? JsonPath, string? TraceDirectory)
    {
        /// <summary>--hosts 2 --migrate-every S [--live].</summary>
        public MigrationPlan? Migration { get; init; }
    }

    /// <summary>Downtime percentiles in milliseconds.</summary>
    internal sealed record DowntimeJson(
        [property: JsonPropertyName("p50")] double P50,
        [property: JsonPropertyName("max")] double Max);

    /// <summary>What the table and JSON say of a migrating run.</summary>
    internal sealed record MigrationSummary(bool Live, int Migrations, IReadOnlyList<string> Failures, DowntimeJson DowntimeMs, double WithMbps, double WithoutMbps, double ThroughputRatio)
    {
        public static MigrationSummary From(MigrationOutcome m, IReadOnlyList<GuestPerfResult> with)
        {
            double[] downtimes = [.. m.Events.Select(e => e.DowntimeMs).Order()];
            double p50 = downtimes.Length == 0 ? 0 : downtimes[(downtimes.Length - 1) / 2];
            double withMbps = Mbps(with);
            double withoutMbps = Mbps(m.Reference);
            return new MigrationSummary(m.Plan.Live, m.Events.Count, m.Failures, new DowntimeJson(p50, downtimes.Length == 0 ? 0 : downtimes[^1]),
                withMbps, withoutMbps, withoutMbps > 0 ? withMbps / withoutMbps : 0);
        }

        /// <summary>Payload bits over the measured seconds, per guest, summed over guests.</summary>
        private static double Mbps(IReadOnlyList<GuestPerfResult> guests) =>
            guests.Sum(g =>
            {
                double seconds = g.Report.Results.Sum(r => r.Seconds);
                return seconds > 0 ? g.Report.Results.Sum(r => (double)r.Ops * r.Size * 8) / seconds / 1e6 : 0;
            });
    }

    private sealed record GuestJson(
        [property: JsonPropertyName("domid")] int DomId,
        [property: JsonPropertyName("lost")] long Lost,
        [property: JsonPropertyName("duplicates")] long Duplicates,
        [property: JsonPropertyName("requests")] long Requests,
        [property: JsonPropertyName("completed")] long Completed,
        [property: JsonPropertyName("features")] string Features,
        [property: JsonPropertyName("results")] IReadOnlyList<CipherPerfResult> Results);

    private sealed record SplitJson
    {
        [JsonPropertyName("mode")]
        public string Mode => "split";

        [JsonPropertyName("algorithm")]
        public string Algorithm { get; init; } = "";

        [JsonPropertyName("alg")]
        public string Alg => Algorithm;

        [JsonPropertyName("direction")]
        public string Direction { get; init; } = "";

        [JsonPropertyName("guests")]
        public int Guests { get; init; }

        [JsonPropertyName("depth")]
        public int Depth { get; init; }

        [JsonPropertyName("engines")]
        public int? Engines { get; init; }

        [JsonPropertyName("coherence")]
        public string? Coherence { get; init; }

        [JsonPropertyName("completion")]
        public string Completion { get; init; } = "";

        [JsonPropertyName("clock")]
        public string Clock { get; init; } = "";

        [JsonPropertyName("clockHz")]
        public double ClockHz { get; init; }

        [JsonPropertyName("results")]
        public IReadOnlyList<CipherPerfResult> Results { get; init; } = [];

        [JsonPropertyName("guestResults")]
        public IReadOnlyList<GuestJson> GuestResults { get; init; } = [];

        [JsonPropertyName("payloadCopiesPerRequest")]
        public double? PayloadCopiesPerRequest { get; init; }

        [JsonPropertyName("payloadBytesCopied")]
        public DataPlaneCopies? PayloadBytesCopied { get; init; }

        [JsonPropertyName("dmaSegments")]
        public long? DmaSegments { get; init; }

        [JsonPropertyName("dmaSegmentsOutsideGrants")]
        public long? DmaSegmentsOutsideGrants { get; init; }

        [JsonPropertyName("backendBusyNsPerRequest")]
        public double? BackendBusyNsPerRequest { get; init; }

        [JsonPropertyName("backendBusyMeanNsPerRequest")]
        public double? BackendBusyMeanNsPerRequest { get; init; }

        [JsonPropertyName("backendBusyNs")]
        public long? BackendBusyNs { get; init; }

        [JsonPropertyName("backendResponses")]
        public long? BackendResponses { get; init; }

        [JsonPropertyName("native")]
        public IReadOnlyList<CipherPerfResult>? Native { get; init; }

        [JsonPropertyName("kernel")]
        [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
        public KernelBaselineResult? Kernel { get; init; }

        [JsonPropertyName("timeline")]
        public IReadOnlyList<TimelinePoint> Timeline { get; init; } = [];

        [JsonPropertyName("hosts")]
        [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
        public int? Hosts { get; init; }

        [JsonPropertyName("migrateEverySeconds")]
        [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
        public double? MigrateEverySeconds { get; init; }

        [JsonPropertyName("live")]
        [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
        public bool? Live { get; init; }

        [JsonPropertyName("migrations")]
        [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
        public int? Migrations { get; init; }

        [JsonPropertyName("migrationFailures")]
        [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
        public IReadOnlyList<string>? MigrationFailures { get; init; }

        [JsonPropertyName("downtimeMs")]
        [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
        public DowntimeJson? DowntimeMs { get; init; }

        [JsonPropertyName("migrationEvents")]
        [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
        public IReadOnlyList<MigrationEvent>? MigrationEvents { get; init; }

        [JsonPropertyName("throughputWithMigrationsMbps")]
        [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
        public double? ThroughputWithMigrationsMbps { get; init; }

        [JsonPropertyName("throughputWithoutMigrationsMbps")]
        [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
        public double? ThroughputWithoutMigrationsMbps { get; init; }

        [JsonPropertyName("throughputRatio")]
        [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
        public double? ThroughputRatio { get; init; }

        [JsonPropertyName("referenceResults")]
        [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
        public IReadOnlyList<CipherPerfResult>? ReferenceResults { get; init; }
    }
}
