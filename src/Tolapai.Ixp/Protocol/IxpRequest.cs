using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Tolapai.Ixp.Protocol;

/// <summary>
/// One request slot of the ixp ring (112 bytes, as blkif's request). The first 16 bytes are
/// the seed's <c>ixp_request</c> header; the rest is a union whose meaning the operation picks.
/// <code>
///  0      1            2        4        8                16                            112
///  +------+------------+--------+--------+----------------+-----------------------------+
///  | op   | nr_segments| handle |  pad   | id (u64)       | body (96 bytes, by op)      |
///  +------+------------+--------+--------+----------------+-----------------------------+
/// </code>
/// Bodies: <see cref="IxpV1Body"/> (op 1/2), <see cref="IxpSessionCreateBody"/> (op 3),
/// <see cref="IxpSessionDestroyBody"/> (op 4), <see cref="IxpCipherBody"/> (op 5),
/// <see cref="IxpCipherIndirectBody"/> (op 6).
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = Size)]
public struct IxpRequest
{
    /// <summary>Bytes per request.</summary>
    public const int Size = 112;

    /// <summary>Offset of the operation's body.</summary>
    public const int BodyOffset = 16;

    /// <summary>Bytes of the body.</summary>
    public const int BodySize = Size - BodyOffset;

    /// <summary><see cref="IxpOperation"/>.</summary>
    [FieldOffset(0)] public byte Operation;

    /// <summary>Segments (v1, cipher) or indirect pages (cipher-indirect) in the body.</summary>
    [FieldOffset(1)] public byte NrSegments;

    /// <summary>Device handle (the seed's; must be 0, the device id is in XenStore).</summary>
    [FieldOffset(2)] public ushort Handle;

    /// <summary>Zero.</summary>
    [FieldOffset(4)] public uint Pad;

    /// <summary>The frontend's id, echoed in the response.</summary>
    [FieldOffset(8)] public ulong Id;

    /// <summary>First byte of the body.</summary>
    [FieldOffset(16)] public byte Body;

    /// <summary>The body viewed as <typeparamref name="T"/> (a body struct of ≤ 96 bytes).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    [UnscopedRef]
    public ref T BodyAs<T>()
        where T : unmanaged => ref Unsafe.As<byte, T>(ref Body);
}

/// <summary>
/// The seed's <c>ixp_response</c> (16 bytes).
/// <code>
///  0                8      9      10        12           16
///  +----------------+------+------+---------+------------+
///  | id (u64)       | op   | pad  | status  | resp_size  |
///  +----------------+------+------+---------+------------+
/// </code>
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = Size)]
public struct IxpResponse
{
    /// <summary>Bytes per response.</summary>
    public const int Size = 16;

    /// <summary>The request's id.</summary>
    [FieldOffset(0)] public ulong Id;

    /// <summary>The request's operation.</summary>
    [FieldOffset(8)] public byte Operation;

    /// <summary>Zero.</summary>
    [FieldOffset(9)] public byte Pad;

    /// <summary><see cref="IxpStatus"/>.</summary>
    [FieldOffset(10)] public short Status;

    /// <summary>Bytes of result (v1: bytes written back at msg; cipher: bytes written to the destination).</summary>
    [FieldOffset(12)] public uint RespSize;
}

/// <summary>
/// A segment of a cipher request: a byte range inside one granted page (8 bytes).
/// <code>
///  0          4          6          8
///  +----------+----------+----------+
///  | gref     | offset   | length   |
///  +----------+----------+----------+
/// </code>
/// offset + length ≤ 4096, length ≥ 1.
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = Size)]
public struct IxpSegment
{
    /// <summary>Bytes per segment.</summary>
    public const int Size = 8;

    /// <summary>Segments per indirect page.</summary>
    public const int PerPage = 4096 / Size;

    /// <summary>Grant reference of the page.</summary>
    [FieldOffset(0)] public uint Gref;

    /// <summary>First byte in the page.</summary>
    [FieldOffset(4)] public ushort Offset;

    /// <summary>Bytes, 1..4096.</summary>
    [FieldOffset(6)] public ushort Length;
}
