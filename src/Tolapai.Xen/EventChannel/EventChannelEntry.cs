using System.Runtime.InteropServices;

namespace Tolapai.Xen.EventChannel;

/// <summary>State of one event channel port (Xen's ECS_*, the subset interdomain channels use).</summary>
public enum EventChannelState : uint
{
    /// <summary>ECS_FREE.</summary>
    Free = 0,

    /// <summary>ECS_UNBOUND: waiting for <see cref="EventChannelEntry.RemoteDomId"/> to bind.</summary>
    Unbound = 1,

    /// <summary>ECS_INTERDOMAIN: connected to (RemoteDomId, RemotePort).</summary>
    Interdomain = 2,

    /// <summary>Claimed while its fields are written; treated as not connected.</summary>
    Reserved = 3,
}

/// <summary>
/// One port, a cache line of its own in the hypervisor region.
/// <code>
///  0       4       8       12      16      20      24              32              40              48    64
///  +-------+-------+-------+-------+-------+-------+---------------+---------------+---------------+-----+
///  | state |rdomid | rport |pending|parked | pad   | notifies u64  | wakes u64     | parks u64     | pad |
///  +-------+-------+-------+-------+-------+-------+---------------+---------------+---------------+-----+
/// </code>
/// pending is the futex word: a notifier sets it with an atomic exchange (a full fence) and then
/// reads parked; the waiter sets parked with an atomic exchange (a full fence) and then reads
/// pending, and sleeps in FUTEX_WAIT only while pending is still 0. So either the waiter sees
/// the event or the notifier sees the waiter parked and wakes it: no lost wake-up, and no
/// FUTEX_WAKE system call when nobody sleeps.
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = 64)]
public struct EventChannelEntry
{
    /// <summary><see cref="EventChannelState"/>; published last with a release store.</summary>
    [FieldOffset(0)] public uint State;

    /// <summary>Unbound: the domain allowed to bind; Interdomain: the peer domain.</summary>
    [FieldOffset(4)] public uint RemoteDomId;

    /// <summary>Interdomain: the peer's port.</summary>
    [FieldOffset(8)] public uint RemotePort;

    /// <summary>1 when an event is pending; the futex word.</summary>
    [FieldOffset(12)] public uint Pending;

    /// <summary>1 while the owner is (about to be) asleep in FUTEX_WAIT.</summary>
    [FieldOffset(16)] public uint Parked;

    /// <summary>Notifications delivered to this port (statistics).</summary>
    [FieldOffset(24)] public ulong Notifies;

    /// <summary>FUTEX_WAKE calls made for this port (statistics).</summary>
    [FieldOffset(32)] public ulong Wakes;

    /// <summary>Times the owner parked (statistics).</summary>
    [FieldOffset(40)] public ulong Parks;
}
