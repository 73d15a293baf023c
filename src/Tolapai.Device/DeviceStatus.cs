namespace Tolapai.Device;

/// <summary>The status word of a device response.</summary>
public enum DeviceStatus
{
    /// <summary>Done; the destination holds the result.</summary>
    Ok = 0,

    /// <summary>The entry is not a request for this ring index (stale or garbled: a missing flush) or has an unknown opcode.</summary>
    BadEntry = -1,

    /// <summary>No such session (never created, or destroyed).</summary>
    BadSession = -2,

    /// <summary>Length zero, too long, or not whole blocks for ECB/CBC.</summary>
    BadLength = -3,

    /// <summary>Segment counts or lengths wrong: none, too many, offset beyond a frame, totals not the request length, too fragmented.</summary>
    BadSegments = -4,

    /// <summary>A segment touches a frame not registered for DMA, or writes a read-only one; no memory was touched.</summary>
    DmaFault = -5,

    /// <summary>Source and destination overlap without being the same bytes.</summary>
    Overlap = -6,

    /// <summary>The engine failed the request.</summary>
    EngineError = -7,
}
