using System.Runtime.InteropServices;

namespace Tolapai.Xen.Ring;

/// <summary>
/// The header of Xen's <c>struct __name##_sring</c> (public/io/ring.h); entries follow at 64.
/// <code>
///  0        4         8        12        16     20                        64
///  +--------+---------+--------+---------+------+-------------------------+------------
///  |req_prod|req_event|rsp_prod|rsp_event| pvt  | pad[44]                 | ring[...]
///  +--------+---------+--------+---------+------+-------------------------+------------
/// </code>
/// req_prod and rsp_event are written by the frontend, rsp_prod and req_event by the backend.
/// The ABI puts them on one cache line; that sharing is Xen's and is kept for byte
/// compatibility. Each index is written with a release store and read with an acquire load.
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = 64)]
public struct SharedRingHeader
{
    /// <summary>Offset of entry 0.</summary>
    public const int EntriesOffset = 64;

    /// <summary>Requests produced (free-running).</summary>
    [FieldOffset(0)] public uint ReqProd;

    /// <summary>The backend wants a notification when req_prod passes this.</summary>
    [FieldOffset(4)] public uint ReqEvent;

    /// <summary>Responses produced (free-running).</summary>
    [FieldOffset(8)] public uint RspProd;

    /// <summary>The frontend wants a notification when rsp_prod passes this.</summary>
    [FieldOffset(12)] public uint RspEvent;

    /// <summary>Per-protocol private bytes (blkif's pvt.tapif_user etc.).</summary>
    [FieldOffset(16)] public uint Pvt;

    /// <summary>First byte of pad[44].</summary>
    [FieldOffset(20)] public byte Pad;
}

/// <summary>Result of a ring operation; failures never throw.</summary>
public enum RingStatus
{
    /// <summary>Done.</summary>
    Ok = 0,

    /// <summary>Nothing to consume.</summary>
    Empty = 1,

    /// <summary>No free slot (producer) or no room for a response (consumer).</summary>
    Full = 2,

    /// <summary>
    /// The peer published an index the ring cannot hold (RING_REQUEST_PROD_OVERFLOW or its
    /// response twin). The ring is stopped: every later call returns this.
    /// </summary>
    Overflow = 3,
}
