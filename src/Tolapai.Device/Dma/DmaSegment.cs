using System.Runtime.InteropServices;

namespace Tolapai.Device.Dma;

/// <summary>
/// A run of bytes the device reads or writes by machine address: <see cref="Length"/> bytes
/// starting at byte <see cref="Offset"/> of frame <see cref="Frame"/> of domain
/// <see cref="Domain"/>, continuing into the following frames (<c>Frame + 1</c>, ...) of the same
/// domain when it runs past the end of a 4096-byte frame. Every frame a segment touches must be
/// registered in the device's <see cref="DmaRegistry"/> (writable, when the device writes it);
/// otherwise the device answers the request with <c>DeviceStatus.DmaFault</c> without touching
/// memory. This is also the byte layout of a segment inside a device request entry.
/// </summary>
/// <remarks>
/// <code>
///  0        4        6        8                12               16
///  +--------+--------+--------+----------------+----------------+
///  | frame  | domain | rsvd   | offset (u32)   | length (u32)   |
///  +--------+--------+--------+----------------+----------------+
/// </code>
/// </remarks>
[StructLayout(LayoutKind.Explicit, Size = Size)]
public struct DmaSegment : IEquatable<DmaSegment>
{
    /// <summary>Bytes of one segment in a request entry.</summary>
    public const int Size = 16;

    /// <summary>Frame (machine frame number within <see cref="Domain"/>) of the first byte.</summary>
    [FieldOffset(0)]
    public uint Frame;

    /// <summary>Domain that owns the frames (0 = dom0's own DMA memory).</summary>
    [FieldOffset(4)]
    public ushort Domain;

    /// <summary>Reserved, zero.</summary>
    [FieldOffset(6)]
    public ushort Reserved;

    /// <summary>Byte offset of the first byte inside <see cref="Frame"/>; below 4096.</summary>
    [FieldOffset(8)]
    public uint Offset;

    /// <summary>Bytes in the segment (may run on into the next frames).</summary>
    [FieldOffset(12)]
    public uint Length;

    /// <summary>Creates a segment.</summary>
    public DmaSegment(ushort domain, uint frame, uint offset, uint length)
    {
        Domain = domain;
        Frame = frame;
        Offset = offset;
        Length = length;
        Reserved = 0;
    }

    /// <inheritdoc/>
    public readonly bool Equals(DmaSegment other) =>
        Frame == other.Frame && Domain == other.Domain && Offset == other.Offset && Length == other.Length;

    /// <inheritdoc/>
    public override readonly bool Equals(object? obj) => obj is DmaSegment s && Equals(s);

    /// <inheritdoc/>
    public override readonly int GetHashCode() => HashCode.Combine(Frame, Domain, Offset, Length);

    /// <summary>Equality.</summary>
    public static bool operator ==(DmaSegment left, DmaSegment right) => left.Equals(right);

    /// <summary>Inequality.</summary>
    public static bool operator !=(DmaSegment left, DmaSegment right) => !left.Equals(right);

    /// <inheritdoc/>
    public override readonly string ToString() => $"dom{Domain}:frame {Frame}+{Offset} len {Length}";
}
