namespace Tolapai.Device;

/// <summary>How the CPU side and the device see the ring region.</summary>
public enum CoherenceMode
{
    /// <summary>One copy of the region; flush and invalidate are memory fences.</summary>
    Fast,

    /// <summary>
    /// Separate CPU and device copies: flush copies the CPU's lines to the device copy,
    /// invalidate copies the device's lines to the CPU copy, so a driver that forgets either
    /// reads or hands over stale bytes. What the tests run.
    /// </summary>
    Strict,
}

/// <summary>Configuration of an emulated accelerator.</summary>
public sealed record DeviceOptions
{
    /// <summary>Engine threads (1..64).</summary>
    public int Engines { get; init; } = 1;

    /// <summary>Ring pairs (request + response ring), one per driver instance (1..64).</summary>
    public int RingPairs { get; init; } = 4;

    /// <summary>Entries per ring, a power of two (2..65536).</summary>
    public int RingEntries { get; init; } = 512;

    /// <summary>Strict or fast coherence of the ring region.</summary>
    public CoherenceMode Coherence { get; init; } = CoherenceMode.Fast;

    /// <summary>File of the ring region (e.g. under the host run directory); null = anonymous memory.</summary>
    public string? RegionPath { get; init; }

    /// <summary>
    /// Source plus destination segments one request may carry (1..254). The default 12 fits
    /// a 256-byte request entry; more make the entries longer (32 + 16 per segment, rounded up
    /// to a cache line), though a request still flushes and copies only the lines it uses.
    /// </summary>
    public int MaxSegments { get; init; } = Region.RequestEntry.MaxSegments;

    /// <summary>Sessions the device holds at once (1..65535).</summary>
    public int MaxSessions { get; init; } = 4096;

    /// <summary>Most requests an engine takes in one batch.</summary>
    public int MaxBatch { get; init; } = 512;

    /// <summary>How long an idle engine spins before it parks on its doorbell.</summary>
    public TimeSpan EngineSpin { get; init; } = TimeSpan.FromMicroseconds(50);

    /// <summary>
    /// When fewer requests wait than a vector has lanes, an engine waits for more while the
    /// driver keeps adding them, until this long passes with none added. Zero: take what is there.
    /// </summary>
    public TimeSpan CoalesceQuiet { get; init; } = TimeSpan.FromMicroseconds(3);

    /// <summary>Checks the values; returns null when good, else the message.</summary>
    public string? Validate()
    {
        if (Engines is < 1 or > 64)
        {
            return $"engines must be 1..64, not {Engines}";
        }

        if (RingPairs is < 1 or > 64)
        {
            return $"ring pairs must be 1..64, not {RingPairs}";
        }

        if (RingEntries is < 2 or > 65536 || (RingEntries & (RingEntries - 1)) != 0)
        {
            return $"ring entries must be a power of two in 2..65536, not {RingEntries}";
        }

        if (MaxSegments is < 1 or > Region.RequestEntry.MaxConfigurableSegments)
        {
            return $"max segments must be 1..{Region.RequestEntry.MaxConfigurableSegments}, not {MaxSegments}";
        }

        if (MaxSessions is < 1 or > 65535)
        {
            return $"max sessions must be 1..65535, not {MaxSessions}";
        }

        if (CoalesceQuiet < TimeSpan.Zero || CoalesceQuiet > TimeSpan.FromMilliseconds(10))
        {
            return $"coalescing quiet time must be 0..10 ms, not {CoalesceQuiet}";
        }

        return MaxBatch is < 1 or > 65536 ? $"max batch must be 1..65536, not {MaxBatch}" : null;
    }
}
