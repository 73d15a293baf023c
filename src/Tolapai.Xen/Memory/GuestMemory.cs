using System.Runtime.CompilerServices;
using Microsoft.Win32.SafeHandles;
using Tolapai.Xen.Interop;

namespace Tolapai.Xen.Memory;

/// <summary>
/// A guest's "physical memory": one file of 4096-byte pages in the run directory. A frame
/// number is a page index into the file. Frames [0, <see cref="GrantFrames"/>) hold the guest's
/// grant table (v1); the rest are ordinary pages for rings and data.
/// <para>
/// After the pages the file holds the domain's <b>dirty log</b>, one byte per page (Xen's
/// log-dirty bitmap, a byte each so that marking is a plain store): a write through
/// <see cref="Write"/> or a <see cref="MarkDirty(uint)"/> after a write sets the page's byte;
/// a migration's pre-copy round takes and clears it (<see cref="TakeDirty"/>) before it copies
/// the page, so a write that races with the copy is copied again in the next round.
/// </para>
/// <para>
/// A guest that moves to another host keeps this object: <see cref="Remap"/> maps the new
/// host's file over the same addresses (MAP_FIXED), so every pointer into guest memory the
/// guest holds stays valid.
/// </para>
/// </summary>
public sealed unsafe class GuestMemory : IDisposable
{
    /// <summary>Xen's page size.</summary>
    public const int PageSize = 4096;

    /// <summary>log2 of <see cref="PageSize"/>.</summary>
    public const int PageShift = 12;

    private readonly SharedFile _file;
    private readonly byte* _dirty;
    private string _path;
    private int _paused;
    private int _writers;

    internal GuestMemory(SharedFile file, ushort domid, uint pages, uint grantFrames, uint generation = 0)
    {
        _file = file;
        _path = file.Path;
        DomId = domid;
        Generation = generation;
        Pages = pages;
        GrantFrames = grantFrames;
        _dirty = file.Base + ((long)pages << PageShift);
    }

    /// <summary>Bytes of a memory file of <paramref name="pages"/> pages: the pages, then the dirty log rounded up to a page.</summary>
    public static long FileLength(uint pages) => ((long)pages << PageShift) + (((long)pages + PageSize - 1) & ~(long)(PageSize - 1));

    /// <summary>The domain-table generation this memory belongs to (a re-created domain has a new file).</summary>
    public uint Generation { get; private set; }

    /// <summary>The domain this memory belongs to (a guest that migrated has another domid on its new host).</summary>
    public ushort DomId { get; private set; }

    /// <summary>Number of pages (frames) in the file.</summary>
    public uint Pages { get; }

    /// <summary>Frames at the start of memory that hold the grant table.</summary>
    public uint GrantFrames { get; }

    /// <summary>First frame that is not grant table.</summary>
    public uint FirstDataFrame => GrantFrames;

    /// <summary>First byte of frame 0.</summary>
    public byte* Base => _file.Base;

    /// <summary>Path of the backing file (the new host's after <see cref="Remap"/>).</summary>
    public string Path => Volatile.Read(ref _path);

    /// <summary>
    /// Marks <paramref name="frame"/> written (after the write: a round that copies the page
    /// clears the mark first, so a write it missed leaves the page marked for the next round).
    /// Frames outside memory are ignored.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void MarkDirty(uint frame)
    {
        if (frame < Pages)
        {
            Volatile.Write(ref _dirty[frame], 1);
        }
    }

    /// <summary>Marks <paramref name="count"/> frames from <paramref name="frame"/> written.</summary>
    public void MarkDirty(uint frame, uint count)
    {
        for (uint i = 0; i < count; i++)
        {
            MarkDirty(frame + i);
        }
    }

    /// <summary>True when <paramref name="frame"/> was marked since its mark was last taken.</summary>
    public bool IsDirty(uint frame) => frame < Pages && Volatile.Read(ref _dirty[frame]) != 0;

    /// <summary>Clears and returns <paramref name="frame"/>'s mark (a full barrier: the copy that follows reads memory after the mark was taken).</summary>
    public bool TakeDirty(uint frame) => frame < Pages && Interlocked.Exchange(ref _dirty[frame], 0) != 0;

    /// <summary>Pages marked now.</summary>
    public uint CountDirty()
    {
        uint n = 0;
        for (uint f = 0; f < Pages; f++)
        {
            n += Volatile.Read(ref _dirty[f]) != 0 ? 1u : 0u;
        }

        return n;
    }

    /// <summary>
    /// The guest-memory write: copies <paramref name="data"/> to <paramref name="offset"/> of
    /// <paramref name="frame"/> onwards (it may run over into the following pages) and marks
    /// every page it touched. While the domain is paused for a migration's final copy
    /// (<see cref="Pause"/>) the write waits until it is resumed, as a paused vCPU would.
    /// </summary>
    public void Write(uint frame, int offset, ReadOnlySpan<byte> data)
    {
        long start = ((long)frame << PageShift) + offset;
        if (frame >= Pages || offset < 0 || start + data.Length > (long)Pages << PageShift)
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(frame), $"[{start}, +{data.Length}) is outside dom{DomId}'s {Pages} pages.");
        }

        while (true)
        {
            Interlocked.Increment(ref _writers);
            if (Volatile.Read(ref _paused) == 0)
            {
                break;
            }

            Interlocked.Decrement(ref _writers);
            SpinWait.SpinUntil(() => Volatile.Read(ref _paused) == 0);
        }

        try
        {
            data.CopyTo(new Span<byte>(_file.Base + start, data.Length));
            uint first = (uint)(start >> PageShift);
            uint last = (uint)((start + Math.Max(data.Length, 1) - 1) >> PageShift);
            MarkDirty(first, last - first + 1);
        }
        finally
        {
            Interlocked.Decrement(ref _writers);
        }
    }

    /// <summary>Stops <see cref="Write"/>s (waiting for those under way) for the final copy of a migration.</summary>
    public void Pause()
    {
        Volatile.Write(ref _paused, 1);
        Interlocked.MemoryBarrier();
        SpinWait.SpinUntil(() => Volatile.Read(ref _writers) == 0);
    }

    /// <summary>Lets <see cref="Write"/>s run again.</summary>
    public void Unpause() => Volatile.Write(ref _paused, 0);

    /// <summary>True between <see cref="Pause"/> and <see cref="Unpause"/>.</summary>
    public bool IsPaused => Volatile.Read(ref _paused) != 0;

    /// <summary>
    /// Maps <paramref name="path"/> (the same domain's memory on another host, or a new file on
    /// this one, filled by the toolstack) over this memory's addresses in one MAP_FIXED call, so
    /// every pointer into guest memory stays valid and now reaches the new file. The file must
    /// have exactly this memory's length. Called by the guest itself while it is suspended.
    /// </summary>
    public void Remap(string path, ushort domid, uint generation)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        using SafeFileHandle handle = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite | FileShare.Delete);
        long length = RandomAccess.GetLength(handle);
        if (length != _file.Length)
        {
            ThrowHelper.ThrowInvalidData($"{path}: {length} bytes, this memory maps {_file.Length}.");
        }

        nint at = Mman.Mmap((nint)_file.Base, (nuint)length, Mman.ProtRead | Mman.ProtWrite, Mman.MapShared | Mman.MapFixed, (int)handle.DangerousGetHandle(), 0);
        if (at != (nint)_file.Base)
        {
            throw new IOException($"mmap(MAP_FIXED) of {path} over dom{DomId}'s memory failed (errno {System.Runtime.InteropServices.Marshal.GetLastPInvokeError()}).");
        }

        Volatile.Write(ref _path, path);
        DomId = domid;
        Generation = generation;
    }

    /// <summary>True when <paramref name="frame"/> is inside the file.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool IsValidFrame(uint frame) => frame < Pages;

    /// <summary>Address of a frame; the caller has checked <see cref="IsValidFrame"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal byte* FrameAddress(uint frame) => _file.Base + ((long)frame << PageShift);

    /// <summary>A span onto one whole page.</summary>
    public Span<byte> Page(uint frame)
    {
        if (frame >= Pages)
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(frame), $"frame {frame} is outside dom{DomId}'s {Pages} pages.");
        }

        return new Span<byte>(FrameAddress(frame), PageSize);
    }

    /// <summary>A span onto <paramref name="count"/> consecutive pages.</summary>
    public Span<byte> PageRange(uint frame, uint count) => _file.Slice((long)frame << PageShift, checked((int)(count << PageShift)));

    /// <summary>
    /// Places this guest's own <paramref name="frames"/> side by side in this process (for a
    /// frontend whose multi-page ring is in scattered frames); null if a frame is out of range
    /// or the mapping fails. Dispose the window to unmap it.
    /// </summary>
    public FrameWindow? MapFrames(ReadOnlySpan<uint> frames)
    {
        foreach (uint f in frames)
        {
            if (!IsValidFrame(f))
            {
                return null;
            }
        }

        return FrameWindow.Map(Path, frames, readOnly: false);
    }

    /// <inheritdoc/>
    public void Dispose() => _file.Dispose();
}
