using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Tolapai.Cli.CommandLine;
using Tolapai.Cpa;
using Tolapai.Cpa.Native;
using Tolapai.Cpa.Sample;
using Tolapai.Cpa.Software;
using Tolapai.Device;

namespace Tolapai.Cli.Commands;

/// <summary>
/// <c>tolapai perf</c>: the CPA cipher sample (<see cref="CipherPerf"/>) against a binding.
/// <c>--mode native</c> runs it in this process on the emulated device through the dom0
/// driver, and measures the same kernel in process for the engine/kernel ratio.
/// </summary>
public static class PerfCommand
{
    /// <summary>The usage text of <c>tolapai perf</c>.</summary>
    public const string Usage = """
        usage: tolapai perf --mode native|software [--alg ALG] [--decrypt] [--sizes N,N,...] [--ops N] [--depth Q]
                            [--engines E] [--ring N] [--coherence strict|fast] [--completion poll|interrupt]
                            [--warmup N] [--seed N] [--json FILE]

        The CPA cipher sample (after Intel's cpa_cipher_perf): per packet size, a session with a
        random key, Q pre-allocated buffer lists used round-robin, N operations with Q in flight,
        resubmission on Retry, every output checked against the reference cipher. Then the same
        kernel (DesCipher.RunBatch over Q streams of 4096 bytes, this thread) over as many bytes,
        and the ratio engine/kernel at 4096 bytes.

          --mode native        the dom0 driver on the emulated device, in this process
          --mode software      the software binding (kernels in this thread, no device)
                               ('split', the default, needs the split driver: not in this build)
          --alg ALG            des-ecb, des-cbc, 3des-ecb, 3des-cbc (default), 3des-ctr
          --decrypt            decrypt sessions instead of encrypt
          --sizes LIST         packet sizes in bytes (default 64,128,256,512,1024,2048,4096)
          --ops N              operations per size (default 50000)
          --depth Q            operations in flight (default 256)
          --engines E          device engine threads (default 1)
          --ring N             request ring entries, a power of two (default 512)
          --coherence MODE     fast (default: flush/invalidate are fences) or strict (separate
                               CPU and device copies of the ring region)
          --completion MODE    poll (default: this thread polls) or interrupt (a driver thread
                               woken by the device delivers completions)
          --warmup N           unmeasured operations before each size (default 2000)
          --seed N             seed of keys, IVs and data (default 1)
          --json FILE          also write the figures as JSON

        Exit codes: 0 done and verified, 1 a failure or an output that differed, 2 bad usage.
        """;

    private static readonly OptionParser Parser = new(
        flags: ["decrypt"],
        valued: ["mode", "alg", "sizes", "ops", "depth", "engines", "ring", "coherence", "completion", "warmup", "seed", "json"]);

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
        if (mode == "split")
        {
            throw new CommandLineException("perf --mode split needs the split driver (dom0 host, guest, ixp frontend and backend), which is not in this build; use --mode native");
        }

        if (mode is not ("native" or "software"))
        {
            throw new CommandLineException($"unknown --mode '{mode}' (native, software or split)");
        }

        string algName = o.Get("alg") ?? "3des-cbc";
        if (!SymAlgorithms.TryParse(algName, out SymCipherAlgorithm alg))
        {
            throw new CommandLineException($"unknown --alg '{algName}' (des-ecb, des-cbc, 3des-ecb, 3des-cbc, 3des-ctr)");
        }

        var options = new CipherPerfOptions
        {
            Algorithm = alg,
            Direction = o.Has("decrypt") ? SymCipherDirection.Decrypt : SymCipherDirection.Encrypt,
            Sizes = o.Get("sizes") is { } sizes ? ParseSizes(sizes) : CipherPerfOptions.DefaultSizes,
            Ops = Int(o, "ops", 50000, 1, 100_000_000),
            Depth = Int(o, "depth", 256, 1, 65536),
            WarmupOps = Int(o, "warmup", 2000, 0, 100_000_000),
            Seed = Int(o, "seed", 1, int.MinValue, int.MaxValue),
        };
        string? optionsError = options.Validate();
        if (optionsError is not null)
        {
            throw new CommandLineException(optionsError);
        }

        int engines = Int(o, "engines", 1, 1, 64);
        int ring = Int(o, "ring", 512, 2, 65536);
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
        CompletionMode completion = (o.Get("completion") ?? "poll") switch
        {
            "poll" => CompletionMode.Polling,
            "interrupt" => CompletionMode.Interrupt,
            var c => throw new CommandLineException($"unknown --completion '{c}' (poll or interrupt)"),
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
                $"perf {mode}  {algName} {(options.Direction == SymCipherDirection.Encrypt ? "encrypt" : "decrypt")}  ops {options.Ops}  depth {options.Depth}  engines {engines}  ring {ring}  coherence {coherence.ToString().ToLowerInvariant()}  completion {(completion == CompletionMode.Polling ? "poll" : "interrupt")}  kernel {Kernels.Des.DesCipher.Best}"));
            Console.Out.WriteLine(" responses    size   cycles/op      Mbit/s       ops/s     p50 ns     p99 ns   p99.9 ns     max ns  retries  verified");
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

    private static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = true };

    private static string Row(CipherPerfResult r) => string.Create(CultureInfo.InvariantCulture,
        $"{r.Ops,10} {r.Size,7} {r.CyclesPerOp,11:F0} {r.Mbps,11:F1} {r.OpsPerSec,11:F0} {r.LatencyNs.P50,10} {r.LatencyNs.P99,10} {r.LatencyNs.P999,10} {r.LatencyNs.Max,10} {r.Retries,8}  {(r.Verified ? "yes" : "NO")}");

    private static int Int(ParsedOptions o, string name, int fallback, int min, int max)
    {
        string? s = o.Get(name);
        if (s is null)
        {
            return fallback;
        }

        if (!int.TryParse(s, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int v) || v < min || v > max)
        {
            throw new CommandLineException($"--{name} '{s}' is not a whole number in {min}..{max}");
        }

        return v;
    }

    private static int[] ParseSizes(string text)
    {
        string[] parts = text.Split(',');
        int[] sizes = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
        {
            if (!int.TryParse(parts[i], NumberStyles.None, CultureInfo.InvariantCulture, out sizes[i]) || sizes[i] <= 0 || sizes[i] > (1 << 20))
            {
                throw new CommandLineException($"--sizes: '{parts[i]}' is not a packet size in 1..1048576");
            }
        }

        return sizes;
    }

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
