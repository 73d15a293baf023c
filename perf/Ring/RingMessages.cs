using System.Runtime.InteropServices;

namespace Tolapai.Perf.Ring;

/// <summary>
/// A 64-byte ring entry (one cache line): id, the sender's timestamp, padding.
/// <code>
///  0        8        16                                              64
///  +--------+--------+-----------------------------------------------+
///  | id     | stamp  | pad                                           |
///  +--------+--------+-----------------------------------------------+
/// </code>
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = 64)]
public struct Entry64
{
    /// <summary>Request id; <see cref="ulong.MaxValue"/> stops the echo server.</summary>
    [FieldOffset(0)] public ulong Id;

    /// <summary>Free for the sender.</summary>
    [FieldOffset(8)] public ulong Stamp;
}

/// <summary>
/// A 112-byte ring entry, the size of blkif's request union.
/// <code>
///  0        8        16                                                       112
///  +--------+--------+--------------------------------------------------------+
///  | id     | stamp  | pad                                                    |
///  +--------+--------+--------------------------------------------------------+
/// </code>
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = 112)]
public struct Entry112
{
    /// <summary>Request id; <see cref="ulong.MaxValue"/> stops the echo server.</summary>
    [FieldOffset(0)] public ulong Id;

    /// <summary>Free for the sender.</summary>
    [FieldOffset(8)] public ulong Stamp;
}

/// <summary>Access to the id of an entry type without boxing.</summary>
public interface IEntry<TSelf>
    where TSelf : unmanaged
{
    /// <summary>Makes an entry.</summary>
    static abstract TSelf Make(ulong id);

    /// <summary>The entry's id.</summary>
    static abstract ulong IdOf(in TSelf entry);
}

/// <summary>Adapters for the entry types.</summary>
public readonly struct Entry64Ops : IEntry<Entry64>
{
    /// <inheritdoc/>
    public static Entry64 Make(ulong id) => new() { Id = id };

    /// <inheritdoc/>
    public static ulong IdOf(in Entry64 entry) => entry.Id;
}

/// <summary>Adapters for the entry types.</summary>
public readonly struct Entry112Ops : IEntry<Entry112>
{
    /// <inheritdoc/>
    public static Entry112 Make(ulong id) => new() { Id = id };

    /// <inheritdoc/>
    public static ulong IdOf(in Entry112 entry) => entry.Id;
}
