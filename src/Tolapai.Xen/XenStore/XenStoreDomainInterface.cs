using System.Runtime.InteropServices;

namespace Tolapai.Xen.XenStore;

/// <summary>
/// <c>struct xenstore_domain_interface</c> (io/xs_wire.h): the page a guest shares with xenstored.
/// <code>
///    0 req[1024]      guest → xenstored bytes (whole messages, header + payload, wrapping)
/// 1024 rsp[1024]      xenstored → guest bytes (replies and watch events)
/// 2048 req_cons u32   written by xenstored
/// 2052 req_prod u32   written by the guest
/// 2056 rsp_cons u32   written by the guest
/// 2060 rsp_prod u32   written by xenstored
/// 2064 server_features u32   XENSTORE_SERVER_FEATURE_* (RECONNECTION 1, ERROR 2)
/// 2068 connection u32 XENSTORE_CONNECTED 0 / XENSTORE_RECONNECT 1
/// 2072 error u32      XENSTORE_ERROR_NONE 0, COMM 1, RINGIDX 2, PROTO 3
/// 2076 evtchn_port u32
/// </code>
/// Indexes are free-running u32 byte counts, masked by 1023 into the rings.
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = Size)]
public struct XenStoreDomainInterface
{
    /// <summary>Bytes in the structure.</summary>
    public const int Size = 2080;

    /// <summary>XENSTORE_RING_SIZE.</summary>
    public const int RingSize = 1024;

    /// <summary>Offset of req[].</summary>
    public const int ReqOffset = 0;

    /// <summary>Offset of rsp[].</summary>
    public const int RspOffset = 1024;

    /// <summary>XENSTORE_SERVER_FEATURE_ERROR: the error field is used.</summary>
    public const uint FeatureError = 2;

    /// <summary>XENSTORE_ERROR_RINGIDX: an invalid ring index.</summary>
    public const uint ErrorRingIndex = 2;

    /// <summary>Consumer index of req[] (xenstored's).</summary>
    [FieldOffset(2048)] public uint ReqCons;

    /// <summary>Producer index of req[] (the guest's).</summary>
    [FieldOffset(2052)] public uint ReqProd;

    /// <summary>Consumer index of rsp[] (the guest's).</summary>
    [FieldOffset(2056)] public uint RspCons;

    /// <summary>Producer index of rsp[] (xenstored's).</summary>
    [FieldOffset(2060)] public uint RspProd;

    /// <summary>Features the server offers.</summary>
    [FieldOffset(2064)] public uint ServerFeatures;

    /// <summary>Connection state.</summary>
    [FieldOffset(2068)] public uint Connection;

    /// <summary>Why the server stopped talking on this ring.</summary>
    [FieldOffset(2072)] public uint Error;

    /// <summary>The guest's event channel port.</summary>
    [FieldOffset(2076)] public uint EvtchnPort;
}
