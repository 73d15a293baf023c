using System.Text.Json.Serialization;

namespace Tolapai.Cpa.Sample;

/// <summary>What the sample runs.</summary>
public sealed record CipherPerfOptions
{
    /// <summary>The packet sizes of Intel's cpa_cipher_perf.</summary>
    public static readonly IReadOnlyList<int> DefaultSizes = [64, 128, 256, 512, 1024, 2048, 4096];

    /// <summary>Cipher algorithm.</summary>
    public SymCipherAlgorithm Algorithm { get; init; } = SymCipherAlgorithm.TripleDesCbc;

    /// <summary>Direction.</summary>
    public SymCipherDirection Direction { get; init; } = SymCipherDirection.Encrypt;

    /// <summary>Packet sizes, each run on its own.</summary>
    public IReadOnlyList<int> Sizes { get; init; } = DefaultSizes;

    /// <summary>Operations per packet size (with <see cref="Duration"/>: at most this many).</summary>
    public int Ops { get; init; } = 50000;

    /// <summary>
    /// When set, each size submits for this long (or until <see cref="Ops"/>), then lets what
    /// is in flight complete: a run of known length (a migration test, a soak) rather than of
    /// known size. The figures count what completed.
    /// </summary>
    public TimeSpan? Duration { get; init; }

    /// <summary>
    /// When cancelled, the size being measured stops submitting (once it has submitted at least
    /// one operation, so it has a figure), lets what is in flight complete, and no later size is
    /// run: a workload its caller holds and stops explicitly (a test that suspends or moves the
    /// guest meanwhile), not one that ends on a clock that runs on while the guest is suspended.
    /// <see cref="Ops"/> still bounds each size.
    /// </summary>
    public CancellationToken Stop { get; init; }

    /// <summary>Operations in flight (and buffer lists in the round-robin pool).</summary>
    public int Depth { get; init; } = 256;

    /// <summary>Seed of the key, IVs and data.</summary>
    public int Seed { get; init; } = 1;

    /// <summary>How long the sample waits with nothing completing before it counts what is in flight as lost and moves on.</summary>
    public TimeSpan StallTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Operations run (not measured, not counted) before each size's measurement.</summary>
    public int WarmupOps { get; init; } = 2000;

    /// <summary>Checks the values; null when good, else the message.</summary>
    public string? Validate()
    {
        if (Sizes.Count == 0)
        {
            return "no packet sizes";
        }

        foreach (int s in Sizes)
        {
            if (s <= 0 || s > (1 << 20))
            {
                return $"packet size {s} is not in 1..1048576";
            }

            if (Algorithm != SymCipherAlgorithm.TripleDesCtr && s % 8 != 0)
            {
                return $"packet size {s} is not a multiple of the 8-byte block ({SymAlgorithms.Name(Algorithm)})";
            }
        }

        if (Ops < 1)
        {
            return $"ops must be positive, not {Ops}";
        }

        if (Depth is < 1 or > 65536)
        {
            return $"depth must be 1..65536, not {Depth}";
        }

        if (Duration is { } d && (d <= TimeSpan.Zero || d > TimeSpan.FromHours(24)))
        {
            return "the duration must be positive and at most 24 hours";
        }

        if (StallTimeout <= TimeSpan.Zero)
        {
            return "the stall timeout must be positive";
        }

        return WarmupOps < 0 ? "warm-up ops must not be negative" : null;
    }
}

/// <summary>Latency percentiles in nanoseconds.</summary>
public sealed record LatencySummary
{
    /// <summary>Median.</summary>
    [JsonPropertyName("p50")]
    public long P50 { get; init; }

    /// <summary>99th percentile.</summary>
    [JsonPropertyName("p99")]
    public long P99 { get; init; }

    /// <summary>99.9th percentile.</summary>
    [JsonPropertyName("p999")]
    public long P999 { get; init; }

    /// <summary>Largest.</summary>
    [JsonPropertyName("max")]
    public long Max { get; init; }
}

/// <summary>One packet size's figures.</summary>
public sealed record CipherPerfResult
{
    /// <summary>Packet size in bytes.</summary>
    [JsonPropertyName("size")]
    public int Size { get; init; }

    /// <summary>Responses received (operations completed).</summary>
    [JsonPropertyName("ops")]
    public long Ops { get; init; }

    /// <summary>Operations per second (wall clock).</summary>
    [JsonPropertyName("opsPerSec")]
    public double OpsPerSec { get; init; }

    /// <summary>Megabits per second of payload.</summary>
    [JsonPropertyName("mbps")]
    public double Mbps { get; init; }

    /// <summary>Counter ticks per operation: wall-clock TSC cycles over the run divided by the responses (see the report's clock).</summary>
    [JsonPropertyName("cyclesPerOp")]
    public double CyclesPerOp { get; init; }

    /// <summary>Submit-to-callback latency.</summary>
    [JsonPropertyName("latencyNs")]
    public LatencySummary LatencyNs { get; init; } = new();

    /// <summary>Submissions answered Retry (and submitted again).</summary>
    [JsonPropertyName("retries")]
    public long Retries { get; init; }

    /// <summary>Every completion was Success and every output equal to the reference cipher's.</summary>
    [JsonPropertyName("verified")]
    public bool Verified { get; init; }

    /// <summary>Completions with an error status.</summary>
    [JsonPropertyName("failures")]
    public long Failures { get; init; }

    /// <summary>Operations submitted that never completed (nothing completed for the stall timeout).</summary>
    [JsonPropertyName("lost")]
    public long Lost { get; init; }

    /// <summary>Operations whose callback came more than once.</summary>
    [JsonPropertyName("duplicates")]
    public long Duplicates { get; init; }

    /// <summary>Outputs that differed from the reference.</summary>
    [JsonPropertyName("mismatches")]
    public long Mismatches { get; init; }

    /// <summary>Wall-clock seconds of the measured part.</summary>
    [JsonPropertyName("seconds")]
    public double Seconds { get; init; }
}

/// <summary>A whole run.</summary>
public sealed record CipherPerfReport
{
    /// <summary>The instance's name (binding).</summary>
    [JsonPropertyName("instance")]
    public string Instance { get; init; } = "";

    /// <summary>Algorithm (CLI name).</summary>
    [JsonPropertyName("algorithm")]
    public string Algorithm { get; init; } = "";

    /// <summary>Direction.</summary>
    [JsonPropertyName("direction")]
    public string Direction { get; init; } = "";

    /// <summary>Operations in flight.</summary>
    [JsonPropertyName("depth")]
    public int Depth { get; init; }

    /// <summary>"rdtsc" or "stopwatch-ns": what cyclesPerOp counts.</summary>
    [JsonPropertyName("clock")]
    public string Clock { get; init; } = "";

    /// <summary>Counter ticks per second, measured.</summary>
    [JsonPropertyName("clockHz")]
    public double ClockHz { get; init; }

    /// <summary>Per packet size.</summary>
    [JsonPropertyName("results")]
    public IReadOnlyList<CipherPerfResult> Results { get; init; } = [];
}
