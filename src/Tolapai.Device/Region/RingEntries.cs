using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Tolapai.Device.Dma;

namespace Tolapai.Device.Region;

/// <summary>The segments of a request entry, inline.</summary>
[InlineArray(RequestEntry.MaxSegments)]
public struct RequestSegments
{
    private DmaSegment _element;
}

/// <summary>
/// One request as the driver writes it into a request ring slot (256 bytes, four cache lines).
/// The device copies it out once and checks only its copy.
/// </summary>
/// <remarks>
/// <code>
///  0               8        12       16               24       28 29 30 31
///  +---------------+--------+--------+----------------+--------+--+--+--+--+
///  | tag (u64)     | seq    | session| iv (u64, BE    | length |op|fl|ns|nd|
///  | echoed        | u32    | u32    | value)         | u32    |  |  |  |  |
///  +---------------+--------+--------+----------------+--------+--+--+--+--+
///  32      34                                                            48
///  +-------+-------------------------------------------------------------+
///  | reqr  | reserved, zero                                              |
///  | u16   |                                                             |
///  +-------+-------------------------------------------------------------+
///  48: DmaSegment[12] (16 bytes each: source segments first, then destination)
///  240..255: reserved, zero
/// </code>
/// A device configured for more segments (<see cref="DeviceOptions.MaxSegments"/>) uses
/// longer entries (<see cref="SizeFor"/>) whose segments simply continue at 48 + 16·k; this
/// struct is the first 256 bytes.
/// reqr = the requester: the domain on whose behalf the driver submits (0 for dom0's own
/// buffers, the guest's domid for a request the split backend serves). Every segment should
/// lie in that domain's memory, and for a guest in frames the backend mapped from that guest's
/// grants; the device counts the segments that do not
/// (<see cref="DeviceCounters.DmaSegmentsOutsideGrants"/>): the structural proof that the
/// payload stayed where the guest put it.
/// seq = the request's ring index (free running): the device refuses an entry whose seq is not
/// the index it was taken at, which is how a stale slot (a missed flush) shows.
/// op 1 = cipher; flags bit 0 = in place (no destination segments).
/// </remarks>
[StructLayout(LayoutKind.Explicit, Size = Size)]
public struct RequestEntry
{
    /// <summary>Bytes per entry.</summary>
    public const int Size = 256;

    /// <summary>Source plus destination segments a default (256-byte) entry holds.</summary>
    public const int MaxSegments = 12;

    /// <summary>Bytes before the segments.</summary>
    public const int HeaderSize = 48;

    /// <summary>Most segments a device may be configured for (an entry of at most 4096 bytes).</summary>
    public const int MaxConfigurableSegments = 253;

    /// <summary>Bytes of an entry holding <paramref name="maxSegments"/> segments: 48 + 16 per segment, rounded up to 64, at least 256.</summary>
    public static int SizeFor(int maxSegments) => Math.Max(Size, (HeaderSize + (maxSegments * DmaSegment.Size) + 63) & ~63);

    /// <summary>The only opcode: cipher with the session's algorithm and direction.</summary>
    public const byte OpCipher = 1;

    /// <summary>Flag: in place; the destination is the source.</summary>
    public const byte FlagInPlace = 1;

    /// <summary>Driver's cookie, echoed in the response.</summary>
    [FieldOffset(0)]
    public ulong Tag;

    /// <summary>The ring index this entry was written for.</summary>
    [FieldOffset(8)]
    public uint Sequence;

    /// <summary>Device session id.</summary>
    [FieldOffset(12)]
    public uint Session;

    /// <summary>IV or initial counter as a big-endian 64-bit value.</summary>
    [FieldOffset(16)]
    public ulong Iv;

    /// <summary>Bytes to cipher (the total of the source segments, and of the destination's).</summary>
    [FieldOffset(24)]
    public uint Length;

    /// <summary>Operation code.</summary>
    [FieldOffset(28)]
    public byte OpCode;

    /// <summary>Flags.</summary>
    [FieldOffset(29)]
    public byte Flags;

    /// <summary>Source segments.</summary>
    [FieldOffset(30)]
    public byte SourceCount;

    /// <summary>Destination segments (0 when in place).</summary>
    [FieldOffset(31)]
    public byte DestinationCount;

    /// <summary>The domain the request is made for (its buffers' owner): 0 = dom0's own, else the guest the backend serves.</summary>
    [FieldOffset(32)]
    public ushort Requester;

    /// <summary>Segments: <see cref="SourceCount"/> source ones, then <see cref="DestinationCount"/> destination ones.</summary>
    [FieldOffset(48)]
    public RequestSegments Segments;
}

/// <summary>
/// One response (16 bytes). The device writes <see cref="Tag"/>, then the first eight bytes
/// (<see cref="Sequence"/> and <see cref="Status"/>) in one release store; the driver reads
/// the first eight bytes first (acquire). A response for ring index i sits in slot i mod size
/// with Sequence = i + 1, so the driver knows it is new without any producer index.
/// </summary>
/// <remarks>
/// <code>
///  0        4        8                16
///  +--------+--------+----------------+
///  | seq    | status | tag (u64)      |
///  | u32    | i32    | echoed         |
///  +--------+--------+----------------+
/// </code>
/// </remarks>
[StructLayout(LayoutKind.Explicit, Size = Size)]
public struct ResponseEntry
{
    /// <summary>Bytes per entry.</summary>
    public const int Size = 16;

    /// <summary>Request ring index + 1.</summary>
    [FieldOffset(0)]
    public uint Sequence;

    /// <summary>A <see cref="DeviceStatus"/>.</summary>
    [FieldOffset(4)]
    public int Status;

    /// <summary>The request's tag.</summary>
    [FieldOffset(8)]
    public ulong Tag;
}
