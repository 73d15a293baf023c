using System.Runtime.InteropServices;

namespace Tolapai.Xen.Hypervisor;

/// <summary>
/// The hypervisor region's first cache line. Written once by <see cref="Host.Create"/>, read by
/// every process that opens the host.
/// <code>
///  0               8       12      16      20      24                      64
///  +---------------+-------+-------+-------+-------+-----------------------+
///  | magic u64     |version|maxDom |ports/d|maxGnt | reserved              |
///  +---------------+-------+-------+-------+-------+-----------------------+
/// </code>
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = 64)]
public struct HypervisorHeader
{
    /// <summary>"TOLAPXEN" in little-endian ASCII.</summary>
    public const ulong MagicValue = 0x4E45_5850_414C_4F54;

    /// <summary>Layout version of the region.</summary>
    public const uint CurrentVersion = 1;

    /// <summary>Identifies a hypervisor region.</summary>
    [FieldOffset(0)] public ulong Magic;

    /// <summary>Layout version.</summary>
    [FieldOffset(8)] public uint Version;

    /// <summary>Slots in the domain table (domids 0 .. MaxDomains−1).</summary>
    [FieldOffset(12)] public uint MaxDomains;

    /// <summary>Event channel ports per domain.</summary>
    [FieldOffset(16)] public uint PortsPerDomain;

    /// <summary>Active-grant entries per domain (the largest grant table a guest may have).</summary>
    [FieldOffset(20)] public uint MaxGrantEntries;
}

/// <summary>Lifecycle of a domain-table slot.</summary>
public enum DomainState : uint
{
    /// <summary>Slot unused.</summary>
    Free = 0,

    /// <summary>Claimed; fields and memory file being set up.</summary>
    Creating = 1,

    /// <summary>Running; pid and start time identify the process.</summary>
    Running = 2,

    /// <summary>Being torn down.</summary>
    Dying = 3,
}

/// <summary>
/// One domain-table slot, a cache line of its own so that one domain's heartbeat does not
/// slow another's.
/// <code>
///  0       4       8       12      16              24              32      36      40       44    64
///  +-------+-------+-------+-------+---------------+---------------+-------+-------+--------+-----+
///  | state | domid | pid   |gntfrm | start_time u64| heartbeat u64 | pages | gen   |shutdown| pad |
///  +-------+-------+-------+-------+---------------+---------------+-------+-------+--------+-----+
/// </code>
/// state is published last with a release store (after every other field), read with acquire.
/// start_time is field 22 of /proc/&lt;pid&gt;/stat (clock ticks after boot): pid plus start
/// time names one process even after the pid is reused. heartbeat is CLOCK_MONOTONIC ns.
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = 64)]
public struct DomainEntry
{
    /// <summary><see cref="DomainState"/>.</summary>
    [FieldOffset(0)] public uint State;

    /// <summary>The domain id (equals the slot index).</summary>
    [FieldOffset(4)] public uint DomId;

    /// <summary>Owning process id.</summary>
    [FieldOffset(8)] public int Pid;

    /// <summary>Grant table frames at the start of the guest's memory.</summary>
    [FieldOffset(12)] public uint GrantFrames;

    /// <summary>Owning process start time (/proc/pid/stat field 22).</summary>
    [FieldOffset(16)] public ulong StartTime;

    /// <summary>Last heartbeat, CLOCK_MONOTONIC nanoseconds.</summary>
    [FieldOffset(24)] public long Heartbeat;

    /// <summary>Pages in the guest memory file.</summary>
    [FieldOffset(32)] public uint Pages;

    /// <summary>Incremented each time the slot is created, so a stale handle can tell.</summary>
    [FieldOffset(36)] public uint Generation;

    /// <summary>
    /// <see cref="ShutdownReason"/> the domain gave in its last shutdown "hypercall" (Xen's
    /// <c>shutdown_code</c>): <see cref="ShutdownReason.Suspend"/> once a guest has quiesced for
    /// a suspend; the toolstack clears it when the guest resumes in this domain (a cancelled suspend).
    /// </summary>
    [FieldOffset(40)] public uint Shutdown;
}

/// <summary>Why a domain shut down (Xen's <c>SHUTDOWN_*</c> of <c>sched.h</c>; only what this host uses).</summary>
public enum ShutdownReason : uint
{
    /// <summary>Not shut down (Xen has no code for this: the domain is simply running).</summary>
    None = 0xFFFF_FFFF,

    /// <summary><c>SHUTDOWN_poweroff</c>.</summary>
    Poweroff = 0,

    /// <summary><c>SHUTDOWN_suspend</c>: the guest saved its state and waits to be resumed (here or on another host).</summary>
    Suspend = 2,
}
