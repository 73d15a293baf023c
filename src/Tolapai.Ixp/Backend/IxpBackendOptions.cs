namespace Tolapai.Ixp.Backend;

/// <summary>What the backend offers each guest and how its service threads wait.</summary>
public sealed record IxpBackendOptions
{
    /// <summary>Advertise and serve sessions (false: protocol v1 only).</summary>
    public bool Sessions { get; init; } = true;

    /// <summary>Session slots per device (the per-guest session limit).</summary>
    public int MaxSessions { get; init; } = 64;

    /// <summary>Requests a guest may have at the device at once (over all its queues); more wait in its ring. 0 pauses the backend: nothing is taken.</summary>
    public int MaxRequestsPerGuest { get; init; } = 256;

    /// <summary>Largest ring-page-order accepted (0..4).</summary>
    public int MaxRingPageOrder { get; init; } = 4;

    /// <summary>Queues per device accepted.</summary>
    public int MaxQueues { get; init; } = 4;

    /// <summary>Segments per indirect request (0: no indirect; at most 16 pages × 512).</summary>
    public int MaxIndirectSegments { get; init; } = 512;

    /// <summary>Advertise persistent grants.</summary>
    public bool Persistent { get; init; } = true;

    /// <summary>Persistent grants kept mapped per device (blkback's max_pgrants); beyond, grants are mapped per request.</summary>
    public int MaxPersistentGrants { get; init; } = 1024;

    /// <summary>Polls of an idle ring before the service thread re-arms req_event and parks.</summary>
    public int SpinBudget { get; init; } = 20_000;

    /// <summary>Longest park of a worker (and of each ring's event-channel waiter); it then checks for stop.</summary>
    public TimeSpan ParkTimeout { get; init; } = TimeSpan.FromMilliseconds(20);

    /// <summary>Requests taken from one ring per turn before the next ring's turn (fairness).</summary>
    public int BatchPerTurn { get; init; } = 32;

    /// <summary>How often each device checks that its guest's process is alive.</summary>
    public TimeSpan LivenessInterval { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>XenStore socket for the per-device connections (default: the host's run directory's).</summary>
    public string? XenStoreSocketPath { get; init; }

    /// <summary>Timeout of each XenStore step.</summary>
    public TimeSpan OperationTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How long teardown waits for requests still at the driver before unmapping.</summary>
    public TimeSpan DrainTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Null when every option is in range, else what is wrong.</summary>
    public string? Validate() =>
        MaxSessions is < 0 or > 65536 ? $"MaxSessions {MaxSessions} is not 0..65536"
        : MaxRequestsPerGuest < 0 ? $"MaxRequestsPerGuest {MaxRequestsPerGuest} is negative"
        : MaxRingPageOrder is < 0 or > Xen.Ring.SharedRing.MaxPageOrder ? $"MaxRingPageOrder {MaxRingPageOrder} is not 0..{Xen.Ring.SharedRing.MaxPageOrder}"
        : MaxQueues is < 1 or > 64 ? $"MaxQueues {MaxQueues} is not 1..64"
        : MaxIndirectSegments is < 0 or > Protocol.IxpCipherIndirectBody.MaxIndirectPages * Protocol.IxpSegment.PerPage ? $"MaxIndirectSegments {MaxIndirectSegments} is not 0..8192"
        : MaxPersistentGrants < 0 ? $"MaxPersistentGrants {MaxPersistentGrants} is negative"
        : SpinBudget < 0 ? $"SpinBudget {SpinBudget} is negative"
        : BatchPerTurn < 1 ? $"BatchPerTurn {BatchPerTurn} must be at least 1"
        : ParkTimeout <= TimeSpan.Zero || LivenessInterval <= TimeSpan.Zero || OperationTimeout <= TimeSpan.Zero || DrainTimeout < TimeSpan.Zero ? "timeouts must be positive"
        : null;
}
