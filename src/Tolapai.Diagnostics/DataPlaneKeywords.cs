using System.Diagnostics.Tracing;

namespace Tolapai.Diagnostics;

/// <summary>
/// Keywords of <see cref="DataPlaneEventSource"/>. A session enables only what it asks for; the
/// per-request keywords are Verbose, so a session at Informational costs the hot path one
/// branch. (A nested class named Keywords is what EventSource looks for.)
/// </summary>
public static class DataPlaneKeywords
{
    /// <summary>Request submitted / completed with latency, per stage (Verbose).</summary>
    public const EventKeywords Requests = (EventKeywords)0x1;

    /// <summary>Ring full (the caller got Retry) and ring occupancy.</summary>
    public const EventKeywords Ring = (EventKeywords)0x2;

    /// <summary>Event-channel notifications sent and suppressed by the ring's event fields (Verbose).</summary>
    public const EventKeywords Notify = (EventKeywords)0x4;

    /// <summary>Park on the futex and wake-up, with the time spent spinning before.</summary>
    public const EventKeywords Waiting = (EventKeywords)0x8;

    /// <summary>Grant map failures (with Xen's GNTST status).</summary>
    public const EventKeywords Grants = (EventKeywords)0x10;

    /// <summary>Xenbus state changes of a device.</summary>
    public const EventKeywords Xenbus = (EventKeywords)0x20;

    /// <summary>Suspend, resume and migration.</summary>
    public const EventKeywords Migration = (EventKeywords)0x40;
}
