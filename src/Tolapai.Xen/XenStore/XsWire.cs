using System.Runtime.InteropServices;

namespace Tolapai.Xen.XenStore;

/// <summary>Message types of Xen's <c>io/xs_wire.h</c> (<c>enum xsd_sockmsg_type</c>).</summary>
public enum XsMessageType
{
    /// <summary>XS_CONTROL (XS_DEBUG): xenstored's control commands; not served here (ENOSYS).</summary>
    Control = 0,
    /// <summary>XS_DIRECTORY: the children of a node, each NUL-terminated.</summary>
    Directory = 1,
    /// <summary>XS_READ: a node's value, not NUL-terminated.</summary>
    Read = 2,
    /// <summary>XS_GET_PERMS: a node's permissions, "w0\0r5\0".</summary>
    GetPerms = 3,
    /// <summary>XS_WATCH: path\0token\0; fires once at once, then on every change at or below.</summary>
    Watch = 4,
    /// <summary>XS_UNWATCH: path\0token\0.</summary>
    Unwatch = 5,
    /// <summary>XS_TRANSACTION_START: replies with the transaction id in decimal.</summary>
    TransactionStart = 6,
    /// <summary>XS_TRANSACTION_END: "T" commits, "F" aborts; EAGAIN on conflict.</summary>
    TransactionEnd = 7,
    /// <summary>XS_INTRODUCE: domid\0gfn\0port\0 (dom0 only).</summary>
    Introduce = 8,
    /// <summary>XS_RELEASE: domid\0 (dom0 only).</summary>
    Release = 9,
    /// <summary>XS_GET_DOMAIN_PATH: domid\0 → "/local/domain/&lt;domid&gt;".</summary>
    GetDomainPath = 10,
    /// <summary>XS_WRITE: path\0value (value not NUL-terminated).</summary>
    Write = 11,
    /// <summary>XS_MKDIR: path\0.</summary>
    Mkdir = 12,
    /// <summary>XS_RM: path\0, recursive.</summary>
    Rm = 13,
    /// <summary>XS_SET_PERMS: path\0perm\0perm\0…</summary>
    SetPerms = 14,
    /// <summary>XS_WATCH_EVENT: path\0token\0 (daemon to client only).</summary>
    WatchEvent = 15,
    /// <summary>XS_ERROR: errno name, NUL-terminated (daemon to client only).</summary>
    Error = 16,
    /// <summary>XS_IS_DOMAIN_INTRODUCED: domid\0 → "T" or "F" (dom0 only).</summary>
    IsDomainIntroduced = 17,
    /// <summary>XS_RESUME: domid\0 (dom0 only).</summary>
    Resume = 18,
    /// <summary>XS_SET_TARGET: domid\0target\0 (dom0 only).</summary>
    SetTarget = 19,
    /// <summary>XS_RESET_WATCHES: drop every watch and transaction of the connection.</summary>
    ResetWatches = 21,
    /// <summary>XS_DIRECTORY_PART: path\0offset\0 → generation\0 then children from the byte offset.</summary>
    DirectoryPart = 22,
}

/// <summary>
/// <c>struct xsd_sockmsg</c>, the 16-byte header in front of every XenStore message, native endian.
/// <code>
///  0       4        8       12      16
///  | type  | req_id | tx_id | len   | payload (len ≤ 4096 bytes) …
/// </code>
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = Size)]
public struct XsHeader : IEquatable<XsHeader>
{
    /// <summary>Bytes in the header.</summary>
    public const int Size = 16;

    /// <summary>Message type (<see cref="XsMessageType"/>); kept raw so unknown types survive.</summary>
    [FieldOffset(0)] public uint Type;

    /// <summary>Request identifier, echoed in the reply.</summary>
    [FieldOffset(4)] public uint ReqId;

    /// <summary>Transaction id, 0 outside a transaction.</summary>
    [FieldOffset(8)] public uint TxId;

    /// <summary>Bytes of payload after the header.</summary>
    [FieldOffset(12)] public uint Len;

    /// <summary>A header.</summary>
    public XsHeader(XsMessageType type, uint reqId, uint txId, uint len)
    {
        Type = (uint)type;
        ReqId = reqId;
        TxId = txId;
        Len = len;
    }

    /// <summary>Reads a header from its 16 wire bytes (native endian, as xs_wire.h).</summary>
    public static XsHeader Read(ReadOnlySpan<byte> bytes) => MemoryMarshal.Read<XsHeader>(bytes[..Size]);

    /// <summary>Writes the header's 16 wire bytes.</summary>
    public readonly void Write(Span<byte> bytes) => MemoryMarshal.Write(bytes[..Size], in this);

    /// <inheritdoc/>
    public readonly bool Equals(XsHeader other) => Type == other.Type && ReqId == other.ReqId && TxId == other.TxId && Len == other.Len;

    /// <inheritdoc/>
    public override readonly bool Equals(object? obj) => obj is XsHeader h && Equals(h);

    /// <inheritdoc/>
    public override readonly int GetHashCode() => HashCode.Combine(Type, ReqId, TxId, Len);

    /// <summary>Field-wise equality.</summary>
    public static bool operator ==(XsHeader left, XsHeader right) => left.Equals(right);

    /// <summary>Field-wise inequality.</summary>
    public static bool operator !=(XsHeader left, XsHeader right) => !left.Equals(right);

    /// <inheritdoc/>
    public override readonly string ToString() => $"{{type {Type}, req_id {ReqId}, tx_id {TxId}, len {Len}}}";
}

/// <summary>Limits and constants of <c>io/xs_wire.h</c> and xenstored's default quotas.</summary>
public static class XsLimits
{
    /// <summary>XENSTORE_PAYLOAD_MAX: a longer message makes xenstored drop the connection.</summary>
    public const int PayloadMax = 4096;

    /// <summary>XENSTORE_ABS_PATH_MAX.</summary>
    public const int AbsolutePathMax = 3072;

    /// <summary>XENSTORE_REL_PATH_MAX: the part of a path below /local/domain/&lt;id&gt;/.</summary>
    public const int RelativePathMax = 2048;

    /// <summary>First reserved domid (DOMID_FIRST_RESERVED); domids at or above it are invalid.</summary>
    public const uint DomIdFirstReserved = 0x7FF0;

    /// <summary>XS_TYPE_COUNT: types at or above it are unknown (ENOSYS).</summary>
    public const uint TypeCount = 23;

}

/// <summary>The errno names xenstored puts in an XS_ERROR reply (<c>xsd_errors</c>).</summary>
public static class XsErrors
{
    /// <summary>Invalid argument: bad path, missing NUL, bad permission string.</summary>
    public const string EINVAL = "EINVAL";
    /// <summary>Permission denied.</summary>
    public const string EACCES = "EACCES";
    /// <summary>Already exists (a duplicate watch).</summary>
    public const string EEXIST = "EEXIST";
    /// <summary>Is a directory.</summary>
    public const string EISDIR = "EISDIR";
    /// <summary>No such node, transaction or watch.</summary>
    public const string ENOENT = "ENOENT";
    /// <summary>Out of memory.</summary>
    public const string ENOMEM = "ENOMEM";
    /// <summary>Quota exceeded (nodes, node size, transactions).</summary>
    public const string ENOSPC = "ENOSPC";
    /// <summary>I/O error.</summary>
    public const string EIO = "EIO";
    /// <summary>Not empty.</summary>
    public const string ENOTEMPTY = "ENOTEMPTY";
    /// <summary>Unknown or unsupported message type.</summary>
    public const string ENOSYS = "ENOSYS";
    /// <summary>Read-only.</summary>
    public const string EROFS = "EROFS";
    /// <summary>Busy (a transaction started inside a transaction).</summary>
    public const string EBUSY = "EBUSY";
    /// <summary>Transaction conflict: retry.</summary>
    public const string EAGAIN = "EAGAIN";
    /// <summary>Already connected.</summary>
    public const string EISCONN = "EISCONN";
    /// <summary>Too big: a reply over the payload limit, or the watch quota.</summary>
    public const string E2BIG = "E2BIG";
    /// <summary>Operation not permitted (an unprivileged domain changing a node's owner).</summary>
    public const string EPERM = "EPERM";
}
