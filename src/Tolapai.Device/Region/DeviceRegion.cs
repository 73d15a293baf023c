using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Tolapai.Xen.Memory;

namespace Tolapai.Device.Region;

/// <summary>
/// The device's non-coherent region: the ring area as the CPU sees it (<see cref="Cpu"/>) and
/// as the device sees it (<see cref="DeviceView"/>), plus coherent doorbells. In
/// <see cref="CoherenceMode.Fast"/> both views are the same memory and <see cref="Flush"/> /
/// <see cref="Invalidate"/> are fences; in <see cref="CoherenceMode.Strict"/> they are two
/// copies and flush/invalidate copy whole cache lines between them.
/// </summary>
public sealed unsafe class DeviceRegion : IDisposable
{
    private readonly SharedFile? _file;
    private byte* _base;

    /// <summary>Maps (file) or allocates (anonymous) a zeroed region.</summary>
    public DeviceRegion(RegionLayout layout, CoherenceMode mode, string? path)
    {
        Layout = layout;
        Mode = mode;
        long copies = mode == CoherenceMode.Strict ? 2 : 1;
        long size = (layout.CopySize * copies) + layout.DoorbellSize;
        if (path is not null)
        {
            _file = SharedFile.Create(path, size);
            _base = _file.Base;
        }
        else
        {
            _base = (byte*)NativeMemory.AlignedAlloc((nuint)size, 4096);
            NativeMemory.Clear(_base, (nuint)size);
        }

        Size = size;
        Cpu = _base;
        DeviceView = mode == CoherenceMode.Strict ? _base + layout.CopySize : _base;
        Doorbells = _base + (layout.CopySize * copies);

        // The header describes the geometry to a device model in another process; it is
        // written to both copies before anyone uses the region.
        WriteHeader(Cpu);
        WriteHeader(DeviceView);
    }

    /// <summary>Geometry.</summary>
    public RegionLayout Layout { get; }

    /// <summary>Coherence mode.</summary>
    public CoherenceMode Mode { get; }

    /// <summary>Total bytes.</summary>
    public long Size { get; }

    /// <summary>The CPU's view of the ring area (the driver reads and writes only here).</summary>
    public byte* Cpu { get; }

    /// <summary>The device's view of the ring area (the engines read and write only here).</summary>
    public byte* DeviceView { get; }

    /// <summary>The coherent doorbell lines.</summary>
    public byte* Doorbells { get; }

    /// <summary>
    /// Makes the CPU's writes to [offset, offset + length) visible to the device: in strict
    /// mode copies every cache line touched from the CPU copy to the device copy, eight bytes
    /// at a time with release stores; in fast mode a full fence.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Flush(long offset, int length)
    {
        if (Mode == CoherenceMode.Fast)
        {
            // Orders the caller's plain stores before whatever it publishes next.
            Interlocked.MemoryBarrier();
            return;
        }

        CopyLines(Cpu, DeviceView, offset, length);
    }

    /// <summary>
    /// Drops the CPU's view of [offset, offset + length) so that the next reads see what the
    /// device wrote: in strict mode copies the lines from the device copy to the CPU copy
    /// (ascending, acquire loads, so a word the device published last is read first); in fast
    /// mode a full fence.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Invalidate(long offset, int length)
    {
        if (Mode == CoherenceMode.Fast)
        {
            // Orders the following reads after the caller's earlier loads.
            Interlocked.MemoryBarrier();
            return;
        }

        CopyLines(DeviceView, Cpu, offset, length);
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        if (_base == null)
        {
            return;
        }

        if (_file is not null)
        {
            _file.Dispose();
        }
        else
        {
            NativeMemory.AlignedFree(_base);
        }

        _base = null;
    }

    private static void CopyLines(byte* from, byte* to, long offset, int length)
    {
        long start = offset & ~(long)(RegionLayout.LineSize - 1);
        long end = (offset + length + RegionLayout.LineSize - 1) & ~(long)(RegionLayout.LineSize - 1);
        for (long o = start; o < end; o += 8)
        {
            // Acquire load, release store: per eight-byte word the copy keeps the order in
            // which the writer published, and each word moves whole.
            Volatile.Write(ref *(ulong*)(to + o), Volatile.Read(ref *(ulong*)(from + o)));
        }

        Interlocked.MemoryBarrier();
    }

    private void WriteHeader(byte* copy)
    {
        uint* h = (uint*)copy;
        h[0] = RegionLayout.Magic;
        h[1] = 1; // layout version
        h[2] = (uint)Layout.Pairs;
        h[3] = (uint)Layout.Entries;
        h[4] = (uint)Layout.RequestEntrySize;
        h[5] = ResponseEntry.Size;
        h[6] = (uint)Layout.PairSize;
        h[7] = (uint)Mode;
    }
}
