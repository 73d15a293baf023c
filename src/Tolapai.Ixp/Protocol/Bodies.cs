using System.Diagnostics.CodeAnalysis;
using System.Runtime.InteropServices;

namespace Tolapai.Ixp.Protocol;

/// <summary>
/// Body of the seed's operations (<see cref="IxpOperation.DesEncryptV1"/>,
/// <see cref="IxpOperation.DesDecryptV1"/>): grant references of parameter pages.
/// nr_segments must be 1: one page holding a <see cref="DesRequestV1"/>.
/// <code>
///  16        20        24 ...                 112
///  +---------+---------+----------------------+
///  | gref[0] | gref[1] | ... gref[23]         |
///  +---------+---------+----------------------+
/// </code>
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = IxpRequest.BodySize)]
public struct IxpV1Body
{
    /// <summary>Grant references the body has room for.</summary>
    public const int MaxGrefs = IxpRequest.BodySize / 4;

    /// <summary>First grant reference (the parameter page).</summary>
    [FieldOffset(0)] public uint Gref0;
}

/// <summary>
/// Body of <see cref="IxpOperation.SessionCreate"/>: the key is sent once; the backend keeps it
/// in its per-guest session table at the slot the frontend chose.
/// <code>
///  16          20     21     22       23    24                          56         112
///  +-----------+------+------+--------+-----+---------------------------+----------+
///  | session   | alg  | dir  | keylen | pad | key[32]                   | zero     |
///  +-----------+------+------+--------+-----+---------------------------+----------+
/// </code>
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = IxpRequest.BodySize)]
public struct IxpSessionCreateBody
{
    /// <summary>Bytes of key the body holds.</summary>
    public const int MaxKeyBytes = 32;

    /// <summary>Session slot, &lt; max-sessions.</summary>
    [FieldOffset(0)] public uint Session;

    /// <summary><see cref="IxpAlgorithm"/>.</summary>
    [FieldOffset(4)] public byte Algorithm;

    /// <summary><see cref="IxpDirection"/>.</summary>
    [FieldOffset(5)] public byte Direction;

    /// <summary>Bytes of key used.</summary>
    [FieldOffset(6)] public byte KeyLength;

    /// <summary>Zero.</summary>
    [FieldOffset(7)] public byte Pad;

    /// <summary>First key byte.</summary>
    [FieldOffset(8)] public byte Key;

    /// <summary>The key bytes.</summary>
    [UnscopedRef]
    public Span<byte> KeyBytes => MemoryMarshal.CreateSpan(ref Key, MaxKeyBytes);

    /// <summary>The key bytes, read-only.</summary>
    [UnscopedRef]
    public readonly ReadOnlySpan<byte> KeyBytesReadOnly() => MemoryMarshal.CreateReadOnlySpan(in Key, MaxKeyBytes);
}

/// <summary>
/// Body of <see cref="IxpOperation.SessionDestroy"/>.
/// <code>
///  16          20                                            112
///  +-----------+---------------------------------------------+
///  | session   | zero                                        |
///  +-----------+---------------------------------------------+
/// </code>
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = IxpRequest.BodySize)]
public struct IxpSessionDestroyBody
{
    /// <summary>Session slot.</summary>
    [FieldOffset(0)] public uint Session;
}

/// <summary>
/// Body of <see cref="IxpOperation.Cipher"/>: session, IV, and the segments inline.
/// nr_segments = nr_src + nr_dst ≤ 8; nr_dst = 0 means in place (the source is overwritten).
/// <code>
///  16        20       22       24                40        44     48                           112
///  +---------+--------+--------+-----------------+---------+------+----------------------------+
///  | session | nr_src | nr_dst | iv[16]          | msg_len | pad  | seg[8] (8 bytes each)      |
///  +---------+--------+--------+-----------------+---------+------+----------------------------+
/// </code>
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = IxpRequest.BodySize)]
public struct IxpCipherBody
{
    /// <summary>Segments inline.</summary>
    public const int MaxSegments = 8;

    /// <summary>Bytes of IV (DES uses the first 8).</summary>
    public const int IvBytes = 16;

    /// <summary>Session slot.</summary>
    [FieldOffset(0)] public uint Session;

    /// <summary>Source segments.</summary>
    [FieldOffset(4)] public ushort NrSrc;

    /// <summary>Destination segments (0: in place).</summary>
    [FieldOffset(6)] public ushort NrDst;

    /// <summary>First IV byte.</summary>
    [FieldOffset(8)] public byte Iv;

    /// <summary>Bytes to cipher: the sum of the source lengths, and of the destination lengths.</summary>
    [FieldOffset(24)] public uint MessageLength;

    /// <summary>Zero.</summary>
    [FieldOffset(28)] public uint Pad;

    /// <summary>First segment.</summary>
    [FieldOffset(32)] public IxpSegment Segment0;

    /// <summary>The IV bytes.</summary>
    [UnscopedRef]
    public Span<byte> IvBytesSpan => MemoryMarshal.CreateSpan(ref Iv, IvBytes);

    /// <summary>The segment array (sources first, then destinations).</summary>
    [UnscopedRef]
    public Span<IxpSegment> Segments => MemoryMarshal.CreateSpan(ref Segment0, MaxSegments);
}

/// <summary>
/// Body of <see cref="IxpOperation.CipherIndirect"/>: as <see cref="IxpCipherBody"/> but the
/// segments (sources then destinations, 512 per page) are in granted indirect pages, whose
/// references are inline; nr_segments = number of indirect pages (≤ 16).
/// <code>
///  16        20       22       24                40        44     48                           112
///  +---------+--------+--------+-----------------+---------+------+----------------------------+
///  | session | nr_src | nr_dst | iv[16]          | msg_len | pad  | indirect_gref[16]          |
///  +---------+--------+--------+-----------------+---------+------+----------------------------+
/// </code>
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = IxpRequest.BodySize)]
public struct IxpCipherIndirectBody
{
    /// <summary>Indirect pages inline.</summary>
    public const int MaxIndirectPages = 16;

    /// <summary>Session slot.</summary>
    [FieldOffset(0)] public uint Session;

    /// <summary>Source segments.</summary>
    [FieldOffset(4)] public ushort NrSrc;

    /// <summary>Destination segments (0: in place).</summary>
    [FieldOffset(6)] public ushort NrDst;

    /// <summary>First IV byte.</summary>
    [FieldOffset(8)] public byte Iv;

    /// <summary>Bytes to cipher.</summary>
    [FieldOffset(24)] public uint MessageLength;

    /// <summary>Zero.</summary>
    [FieldOffset(28)] public uint Pad;

    /// <summary>First indirect page reference.</summary>
    [FieldOffset(32)] public uint IndirectGref0;

    /// <summary>The IV bytes.</summary>
    [UnscopedRef]
    public Span<byte> IvBytesSpan => MemoryMarshal.CreateSpan(ref Iv, IxpCipherBody.IvBytes);

    /// <summary>The indirect page references.</summary>
    [UnscopedRef]
    public Span<uint> IndirectGrefs => MemoryMarshal.CreateSpan(ref IndirectGref0, MaxIndirectPages);
}

/// <summary>
/// The seed's parameter page (<c>des_request</c>): key, IV and message in one granted page;
/// the backend writes the result over msg.
/// <code>
///  0          4          8          12     16        24        32                      4096
///  +----------+----------+----------+------+---------+---------+-----------------------+
///  | key_size | iv_size  | msg_size | pad  | key[8]  | iv[8]   | msg[msg_size]         |
///  +----------+----------+----------+------+---------+---------+-----------------------+
/// </code>
/// key_size = 8; iv_size 0 (ECB) or 8 (CBC); msg_size a multiple of 8, 8..4064.
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = HeaderSize)]
public struct DesRequestV1
{
    /// <summary>Bytes before msg.</summary>
    public const int HeaderSize = 32;

    /// <summary>Offset of msg in the page.</summary>
    public const int MessageOffset = HeaderSize;

    /// <summary>Largest msg.</summary>
    public const int MaxMessage = 4096 - HeaderSize;

    /// <summary>Bytes of key (8).</summary>
    [FieldOffset(0)] public uint KeySize;

    /// <summary>Bytes of IV (0 or 8).</summary>
    [FieldOffset(4)] public uint IvSize;

    /// <summary>Bytes of message.</summary>
    [FieldOffset(8)] public uint MessageSize;

    /// <summary>Zero.</summary>
    [FieldOffset(12)] public uint Pad;

    /// <summary>The DES key, 8 bytes.</summary>
    [FieldOffset(16)] public ulong Key;

    /// <summary>The IV, 8 bytes.</summary>
    [FieldOffset(24)] public ulong Iv;
}
