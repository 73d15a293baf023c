using System.Runtime.InteropServices;

namespace Tolapai.Xen.GrantTable;

/// <summary>
/// The hypervisor's private state for one grant reference (Xen's <c>active_grant_entry</c>),
/// in the hypervisor region, never in guest memory.
/// <code>
///  0       4       6       8       12      14      16
///  +-------+-------+-------+-------+-------+-------+
///  | lock  |rdpins |wrpins | frame |mapper | pad   |
///  +-------+-------+-------+-------+-------+-------+
/// </code>
/// Pins count mappings; GTF_reading stays set in the guest entry while any pin exists and
/// GTF_writing while a writable pin exists. frame and mapper are latched at the first pin, so a
/// guest rewriting its entry while the page is mapped changes nothing (Xen's act->frame).
/// Pins and flags change together only under the entry lock (a CAS word holding the locker's
/// pid), as Xen holds the active entry lock: map and unmap are hypercalls, not the data path —
/// with persistent grants a request touches neither.
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = 16)]
public struct ActiveGrantEntry
{
    /// <summary>0 when free, else the pid holding the entry.</summary>
    [FieldOffset(0)] public int Lock;

    /// <summary>Read-only pins.</summary>
    [FieldOffset(4)] public ushort ReadPins;

    /// <summary>Writable pins.</summary>
    [FieldOffset(6)] public ushort WritePins;

    /// <summary>The frame latched at the first pin.</summary>
    [FieldOffset(8)] public uint Frame;

    /// <summary>The domain holding the pins.</summary>
    [FieldOffset(12)] public ushort Mapper;
}
