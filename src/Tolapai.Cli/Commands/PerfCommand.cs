using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Tolapai.Cli.CommandLine;
using Tolapai.Cli.Commands.Perf;
using Tolapai.Cpa;
using Tolapai.Cpa.Native;
using Tolapai.Cpa.Sample;
using Tolapai.Cpa.Software;
using Tolapai.Device;

namespace Tolapai.Cli.Commands;

/// <summary>
/// <c>tolapai perf</c>, the main job: the CPA cipher sample (<see cref="CipherPerf"/>) against a
/// binding. <c>--mode split</c> (the default) starts an embedded dom0 and guest processes and runs
/// the sample in each guest through the ixp split driver (<see cref="Split.SplitPerfRun"/>);
/// <c>--mode native</c> runs it in this process on the emulated device through the dom0 driver
/// and measures the same kernel in process for the engine/kernel ratio; <c>--mode software</c>
/// on the kernels with no device.
/// </summary>
public static partial class PerfCommand
{
    /// <summary>The usage text of <c>tolapai perf</c>.</summary>
    public const string Usage = """
        usage: tolapai perf [--mode split|native|software] [--guests G] [--run-dir DIR] [--vs-native] [--trace DIR]
                            [--hosts 2 --migrate-every S [--live]]
                            [--alg ALG] [--decrypt] [--sizes N,N,...] [--ops N] [--seconds S] [--depth Q]
                            [--engines E] [--ring N] [--coherence strict|fast] [--completion poll|interrupt]
                            [--warmup N] [--seed N] [--json FILE]

        The CPA cipher sample (after Intel's cpa_cipher_perf): per packet size, a session with a
        random key, Q pre-allocated buffer lists used round-robin, N operations with Q in flight,
        resubmission on Retry, every output checked against the reference cipher; per size the
        responses, cycles per operation, Mbit/s, ops/s, latency p50/p99/p99.9/max, retries and
        whether every output was verified.

          --mode split         (default) an embedded dom0 (xenstored, the accelerator, the ixp
                               backend) and G guest processes started with the toolstack, each
                               running the sample through its ixp frontend: guest pages granted
                               to dom0, mapped by the backend, ciphered in place by the device
          --mode native        the dom0 driver on the emulated device, in this process; then the
                               same kernel in process (DesCipher.RunBatch over Q streams) and the
                               ratio engine/kernel at 4096 bytes
          --mode software      the software binding (kernels in this thread, no device)
          --guests G           split: guest processes, each with its own device and ring (default 1)
          --run-dir DIR        split: use the dom0 running on DIR ('tolapai dom0') instead of an
                               embedded one
          --vs-native          split: afterwards run the same sample natively in this process and
                               print split/native per size (the split driver's cost)
          --hosts 2 --migrate-every S
                               split: two embedded hosts (two dom0s, two run directories); the
                               workload runs once without migrations, then again while every
                               guest is migrated to the other host every S seconds (decimal);
                               prints migrations, downtime p50/max and the throughput with
                               migrations over the throughput without (same run)
          --live               with --migrate-every: live migrations (pre-copy rounds while the
                               guest runs, then a short stop-and-copy) instead of cold ones
          --alg ALG            des-ecb, des-cbc, 3des-ecb, 3des-cbc (default), 3des-ctr
          --decrypt            decrypt sessions instead of encrypt
          --sizes LIST         packet sizes in bytes (default 64,128,256,512,1024,2048,4096)
          --ops N              operations per size (default 50000)
          --seconds S          submit for S seconds per size (decimal) instead, --ops as a cap
          --depth Q            operations in flight per guest (default 256)
          --engines E          device engine threads (default 1)
          --ring N             native: request ring entries, a power of two (default 512)
          --coherence MODE     fast (default: flush/invalidate are fences) or strict (separate
                               CPU and device copies of the ring region)
          --completion MODE    poll (default: the submitting thread polls) or interrupt (a
                               completion thread woken by the device or event channel)
          --warmup N           unmeasured operations before each size (default 2000)
          --seed N             seed of keys, IVs and data (default 1)
          --json FILE          also write the figures as JSON (mode, guests, per size, per guest
                               lost and duplicates; split: payloadCopiesPerRequest,
                               payloadBytesCopied {backend, deviceBounce, total}, dmaSegments,
                               dmaSegmentsOutsideGrants; with migrations: migrations,
                               downtimeMs {p50, max}, migrationEvents, throughputRatio)
          --trace DIR          split: EventPipe traces of dom0 and every guest for the whole run,
                               DIR/dom0.nettrace, DIR/dom<N>.nettrace ('tolapai trace report')

        Exit codes: 0 done and verified, 1 a failure or an output that differed, 2 bad usage.
        """;

    private static readonly OptionParser Parser = new(
        flags: [.. PerfWorkloadOptions.Flags, "vs-native", "live"],
        valued: [.. PerfWorkloadOptions.Valued, "mode", "guests", "run-dir", "engines", "ring", "coherence", "json", "trace", "hosts", "migrate-every"]);

    private const string TableHeader = " responses    size   cycles/op      Mbit/s       ops/s     p50 ns     p99 ns   p99.9 ns     max ns  retries  verified";

    /// <summary>Runs the command on the words after <c>perf</c>.</summary>
    public static int Run(ReadOnlySpan<string> args)
    {
        if (OptionParser.WantsHelp(args))
        {
            Console.Out.WriteLine(Usage);
            return ExitCodes.Success;
        }

        ParsedOptions o = Parser.Parse(args);
        string mode = o.Get("mode") ?? "split";
        if (mode is not ("split" or "native" or "software"))
        {
            throw new CommandLineException($"unknown --mode '{mode}' (split, native or software)");
        }

        PerfWorkloadOptions workload = PerfWorkloadOptions.Parse(o);
        CipherPerfOptions options = workload.Sample;
        string algName = workload.AlgorithmName;
        SymCipherAlgorithm alg = options.Algorithm;
        CompletionMode completion = workload.Completion;
        int engines = PerfWorkloadOptions.Int(o, "engines", 1, 1, 64);
        int ring = PerfWorkloadOptions.Int(o, "ring", 512, 2, 65536);
        if ((ring & (ring - 1)) != 0)
        {
            throw new CommandLineException($"--ring {ring} is not a power of two");
        }

        CoherenceMode coherence = (o.Get("coherence") ?? "fast") switch
        {
            "fast" => CoherenceMode.Fast,
            "strict" => CoherenceMode.Strict,
            var c => throw new CommandLineException($"unknown --coherence '{c}' (strict or fast)"),
        };
        string? jsonPath = o.Get("json");
        if (jsonPath is not null && (jsonPath.Length == 0 || Directory.Exists(jsonPath)))
        {
            throw new CommandLineException($"--json '{jsonPath}' is not a file name");
        }

        if (jsonPath is not null && Path.GetDirectoryName(Path.GetFullPath(jsonPath)) is { } jsonDir && !Directory.Exists(jsonDir))
        {
            throw new CommandLineException($"--json '{jsonPath}': directory '{jsonDir}' does not exist");
        }

        if (mode != "split" && (o.Get("guests") is not null || o.Get("run-dir") is not null || o.Has("vs-native") || o.Get("trace") is not null
            || o.Get("hosts") is not null || o.Get("migrate-every") is not null || o.Has("live")))
        {
            throw new CommandLineException("--guests, --run-dir, --vs-native, --trace, --hosts, --migrate-every and --live go with --mode split");
        }

        Split.MigrationPlan? migration = ParseMigration(o);

        string? trace = o.Get("trace");
        if (trace is not null && (trace.Length == 0 || File.Exists(trace)))
        {
            throw new CommandLineException($"--trace '{trace}' is not a directory name");
        }

        if (mode == "split")
        {
            int guests = PerfWorkloadOptions.Int(o, "guests", 1, 1, 16);
            string? runDir = o.Get("run-dir") is { } d ? Xen.Toolstack.RunDirectories.Resolve(d) : null;
            if (runDir is not null && (o.Get("engines") is not null || o.Get("coherence") is not null))
            {
                throw new CommandLineException("--engines and --coherence describe an embedded dom0; a running one (--run-dir) was started with its own");
            }

            if (migration is not null && (runDir is not null || trace is not null))
            {
                throw new CommandLineException("--hosts 2 embeds both dom0s: it does not go with --run-dir or --trace");
            }

            var split = new SplitSettings(workload, guests, runDir, engines, coherence, o.Has("vs-native"), jsonPath, trace is null ? null : Path.GetFullPath(trace)) { Migration = migration };
            return ToolstackCommandSupport.Run(() => RunSplitAsync(split));
        }

        using TolapaiDevice? device = mode == "native" ? TolapaiDevice.Create(new DeviceOptions { Engines = engines, RingEntries = ring, Coherence = coherence, RingPairs = 1 }) : null;
        ICySymInstance instance;
        if (device is null)
        {
            instance = new SoftwareCyInstance(completion, queueDepth: (int)Math.Min(1 << 30, System.Numerics.BitOperations.RoundUpToPowerOf2((uint)options.Depth)));
        }
        else if (NativeCyInstance.Create(device, completion, out NativeCyInstance? native) == CpaStatus.Success)
        {
            instance = native!;
        }
        else
        {
            throw new IOException("no ring pair free on the device");
        }

        using (instance)
        {
            Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"perf {mode}  {algName} {(options.Direction == SymCipherDirection.Encrypt ? "encrypt" : "decrypt")}  {(options.Duration is { } dur ? $"seconds {dur.TotalSeconds} per size" : $"ops {options.Ops}")}  depth {options.Depth}  engines {engines}  ring {ring}  coherence {coherence.ToString().ToLowerInvariant()}  completion {(completion == CompletionMode.Polling ? "poll" : "interrupt")}  kernel {Kernels.Des.DesCipher.Best}"));
            Console.Out.WriteLine(TableHeader);
            CipherPerfReport report;
            var busyMbps = new Dictionary<int, double>();
            try
            {
                DeviceCounters last = device?.QueryCounters() ?? default;
                report = CipherPerf.Run(instance, options, r =>
                {
                    Console.Out.WriteLine(Row(r));

                    // What the engines did for this size (its warm-up included): bytes over the
                    // time they spent running batches, i.e. their speed while they had work.
                    DeviceCounters now = device?.QueryCounters() ?? default;
                    double busy = now.ExecuteSeconds - last.ExecuteSeconds;
                    if (busy > 0)
                    {
                        busyMbps[r.Size] = (now.Requests - last.Requests) * (double)r.Size * 8 / busy / 1e6;
                    }

                    last = now;
                });
            }
            catch (CipherPerfException ex)
            {
                throw new IOException($"perf: {ex.Message}", ex);
            }

            Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"cycles/op counts {report.Clock} ticks ({report.ClockHz / 1e9:F3} GHz) over the wall-clock run, divided by the responses"));
            DeviceCounters counters = device?.QueryCounters() ?? default;
            if (device is not null)
            {
                Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"device: {counters.Requests} requests in {counters.Batches} batches ({(counters.Batches == 0 ? 0 : (double)counters.Requests / counters.Batches):F1} per batch), {counters.Errors} errors, {counters.Scattered} scattered, {counters.Parks} engine parks, {counters.ExecuteSeconds:F3} s running batches"));
            }

            CipherPerfResult? at = report.Results.LastOrDefault(r => r.Size == 4096) ?? report.Results.MaxBy(r => r.Size);
            KernelBaselineResult kernel = KernelBaseline.Measure(alg, options.Direction, at!.Size, options.Depth, at.Ops * (long)at.Size, options.Seed);
            double ratio = at.Mbps / kernel.YardstickMbps;
            double busyRatio = busyMbps.TryGetValue(at.Size, out double b) ? b / kernel.YardstickMbps : 0;
            Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"kernel in process: DesCipher.RunBatch, {kernel.Streams} streams x {kernel.Size} B, {kernel.Bytes} B, best of 3: {kernel.Mbps:F1} Mbit/s by wall clock, {kernel.CpuMbps:F1} Mbit/s by thread CPU time"));
            Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"engine/kernel at {at.Size} B: {at.Mbps:F1} / {kernel.YardstickMbps:F1} = {ratio:F3} (the larger kernel figure; target >= 0.80: {(ratio >= 0.80 ? "met" : "missed")})"));
            if (busyRatio > 0)
            {
                Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"engine while running batches at {at.Size} B: {busyMbps[at.Size]:F1} Mbit/s = {busyRatio:F3} of the kernel (the rest of the gap is time the engine waited for requests)"));
            }

            if (jsonPath is not null)
            {
                var json = new PerfJson
                {
                    Mode = mode,
                    Engines = engines,
                    RingEntries = ring,
                    Coherence = coherence.ToString().ToLowerInvariant(),
                    Completion = completion == CompletionMode.Polling ? "poll" : "interrupt",
                    Report = report,
                    Device = counters,
                    Kernel = kernel,
                    EngineOverKernel = ratio,
                    EngineBusyOverKernel = busyRatio,
                };
                File.WriteAllText(jsonPath, JsonSerializer.Serialize(json, JsonOptions));
            }

            bool ok = report.Results.All(r => r.Verified);
            if (!ok)
            {
                Console.Error.WriteLine("tolapai: perf: some outputs failed or differed from the reference cipher");
            }

            return ok ? ExitCodes.Success : ExitCodes.Failure;
        }
    }

    /// <summary>--hosts / --migrate-every / --live: null without migrations.</summary>
    private static Split.MigrationPlan? ParseMigration(ParsedOptions o)
    {
        string? hosts = o.Get("hosts");
        string? every = o.Get("migrate-every");
        if (hosts is null && every is null)
        {
            return o.Has("live") ? throw new CommandLineException("--live goes with --migrate-every S (live migrations)") : null;
        }

        if (hosts is not "2")
        {
            throw new CommandLineException(hosts is null
                ? "--migrate-every moves guests between two hosts: add --hosts 2"
                : $"--hosts '{hosts}': only 2 hosts are supported (a guest moves between them)");
        }

        if (every is null)
        {
            throw new CommandLineException("--hosts 2 needs --migrate-every S (seconds between migrations)");
        }

        if (!double.TryParse(every, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out double seconds) || seconds < 0.05 || seconds > 3600)
        {
            throw new CommandLineException($"--migrate-every '{every}' is not a number of seconds in 0.05..3600");
        }

        return new Split.MigrationPlan(seconds, o.Has("live"));
    }

    private static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = true };

    private static string Row(CipherPerfResult r) => string.Create(CultureInfo.InvariantCulture,
        $"{r.Ops,10} {r.Size,7} {r.CyclesPerOp,11:F0} {r.Mbps,11:F1} {r.OpsPerSec,11:F0} {r.LatencyNs.P50,10} {r.LatencyNs.P99,10} {r.LatencyNs.P999,10} {r.LatencyNs.Max,10} {r.Retries,8}  {(r.Verified ? "yes" : "NO")}");

    private sealed record PerfJson
    {
        [JsonPropertyName("mode")]
        public string Mode { get; init; } = "";

        [JsonPropertyName("engines")]
        public int Engines { get; init; }

        [JsonPropertyName("ringEntries")]
        public int RingEntries { get; init; }

        [JsonPropertyName("coherence")]
        public string Coherence { get; init; } = "";

        [JsonPropertyName("completion")]
        public string Completion { get; init; } = "";

        [JsonPropertyName("results")]
        public IReadOnlyList<CipherPerfResult> Results => Report.Results;

        [JsonIgnore]
        public CipherPerfReport Report { get; init; } = new();

        [JsonPropertyName("instance")]
        public string Instance => Report.Instance;

        [JsonPropertyName("algorithm")]
        public string Algorithm => Report.Algorithm;

        [JsonPropertyName("direction")]
        public string Direction => Report.Direction;

        [JsonPropertyName("depth")]
        public int Depth => Report.Depth;

        [JsonPropertyName("clock")]
        public string Clock => Report.Clock;

        [JsonPropertyName("clockHz")]
        public double ClockHz => Report.ClockHz;

        [JsonPropertyName("device")]
        public DeviceCounters Device { get; init; }

        [JsonPropertyName("kernel")]
        public KernelBaselineResult Kernel { get; init; } = new();

        [JsonPropertyName("engineOverKernel")]
        public double EngineOverKernel { get; init; }

        [JsonPropertyName("engineBusyOverKernel")]
        public double EngineBusyOverKernel { get; init; }
    }
}
