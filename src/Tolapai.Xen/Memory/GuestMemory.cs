using System.Runtime.CompilerServices;

namespace Tolapai.Xen.Memory;

/// <summary>
/// A guest's "physical memory": one file of 4096-byte pages in the run directory. A frame
/// number is a page index into the file. Frames [0, <see cref="GrantFrames"/>) hold the guest's
/// grant table (v1); the rest are ordinary pages for rings and data.
/// </summary>
public sealed unsafe class GuestMemory : IDisposable
{
    /// <summary>Xen's page size.</summary>
    public const int PageSize = 4096;

    /// <summary>log2 of <see cref="PageSize"/>.</summary>
    public const int PageShift = 12;

    private readonly SharedFile _file;

    internal GuestMemory(SharedFile file, ushort domid, uint grantFrames, uint generation = 0)
    {
        _file = file;
        DomId = domid;
        Generation = generation;
        Pages = (uint)(file.Length >> PageShift);
        GrantFrames = grantFrames;
    }

    /// <summary>The domain-table generation this memory belongs to (a re-created domain has a new file).</summary>
    public uint Generation { get; }

    /// <summary>The domain this memory belongs to.</summary>
    public ushort DomId { get; }

    /// <summary>Number of pages (frames) in the file.</summary>
    public uint Pages { get; }

    /// <summary>Frames at the start of memory that hold the grant table.</summary>
    public uint GrantFrames { get; }

    /// <summary>First frame that is not grant table.</summary>
    public uint FirstDataFrame => GrantFrames;

    /// <summary>First byte of frame 0.</summary>
    public byte* Base => _file.Base;

    /// <summary>Path of the backing file.</summary>
    public string Path => _file.Path;

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

        return FrameWindow.Map(_file.Path, frames, readOnly: false);
    }

    /// <inheritdoc/>
    public void Dispose() => _file.Dispose();
}
