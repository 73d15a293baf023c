using Tolapai.Xen.Memory;

namespace Tolapai.Ixp.Frontend;

/// <summary>
/// Hands out the guest's own free data frames (a range the guest's start info says is free:
/// not the grant table, not the xenstore or console page). Used at setup time only — ring
/// pages, indirect pages, buffer memory — never per request.
/// </summary>
public sealed unsafe class GuestPageAllocator
{
    private readonly Lock _lock = new();
    private readonly Stack<uint> _free = new();

    /// <summary>Frames [<paramref name="firstFrame"/>, +<paramref name="count"/>) of <paramref name="memory"/>.</summary>
    public GuestPageAllocator(GuestMemory memory, uint firstFrame, uint count)
    {
        ArgumentNullException.ThrowIfNull(memory);
        if (firstFrame < memory.FirstDataFrame || count == 0 || (ulong)firstFrame + count > memory.Pages)
        {
            throw new ArgumentOutOfRangeException(nameof(count), $"frames {firstFrame}+{count} are not data frames of dom{memory.DomId} ({memory.FirstDataFrame}..{memory.Pages - 1})");
        }

        Memory = memory;
        for (uint f = firstFrame + count; f > firstFrame; f--)
        {
            _free.Push(f - 1);
        }
    }

    /// <summary>The guest memory the frames belong to.</summary>
    public GuestMemory Memory { get; }

    /// <summary>Frames still free.</summary>
    public int FreeCount
    {
        get
        {
            lock (_lock)
            {
                return _free.Count;
            }
        }
    }

    /// <summary>Takes one frame (zeroed); false when none is left.</summary>
    public bool TryAllocate(out uint frame)
    {
        lock (_lock)
        {
            if (!_free.TryPop(out frame))
            {
                return false;
            }
        }

        Memory.Page(frame).Clear();
        return true;
    }

    /// <summary>Takes one frame or throws <see cref="InsufficientMemoryException"/>.</summary>
    public uint Allocate() => TryAllocate(out uint f) ? f : throw new InsufficientMemoryException($"dom{Memory.DomId} has no free page left for the ixp frontend");

    /// <summary>Gives a frame back.</summary>
    public void Free(uint frame)
    {
        lock (_lock)
        {
            _free.Push(frame);
        }
    }

    /// <summary>Address of a frame in this process.</summary>
    public byte* Address(uint frame)
    {
        fixed (byte* p = Memory.Page(frame))
        {
            return p; // the page is in a memory-mapped file: it does not move
        }
    }
}
