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
    private readonly bool[] _used; // index: frame − FirstFrame
    private int _freeCount;
    private readonly HashSet<uint> _reserved = [];

    /// <summary>Frames [<paramref name="firstFrame"/>, +<paramref name="count"/>) of <paramref name="memory"/>.</summary>
    public GuestPageAllocator(GuestMemory memory, uint firstFrame, uint count)
    {
        ArgumentNullException.ThrowIfNull(memory);
        if (firstFrame < memory.FirstDataFrame || count == 0 || (ulong)firstFrame + count > memory.Pages)
        {
            throw new ArgumentOutOfRangeException(nameof(count), $"frames {firstFrame}+{count} are not data frames of dom{memory.DomId} ({memory.FirstDataFrame}..{memory.Pages - 1})");
        }

        Memory = memory;
        FirstFrame = firstFrame;
        _used = new bool[count];
        _freeCount = (int)count;
    }

    /// <summary>
    /// Every data frame of <paramref name="memory"/> except <paramref name="reserved"/> (the
    /// xenstore page, a console page: wherever the toolstack put them, e.g. the top page).
    /// </summary>
    public static GuestPageAllocator AllExcept(GuestMemory memory, params ReadOnlySpan<uint> reserved)
    {
        ArgumentNullException.ThrowIfNull(memory);
        GuestPageAllocator a = new(memory, memory.FirstDataFrame, memory.Pages - memory.FirstDataFrame);
        foreach (uint f in reserved)
        {
            if (f >= a.FirstFrame && f - a.FirstFrame < a._used.Length && !a._used[f - a.FirstFrame])
            {
                a._used[f - a.FirstFrame] = true;
                a._reserved.Add(f);
                a._freeCount--;
            }
        }

        return a;
    }

    /// <summary>First frame of the range.</summary>
    public uint FirstFrame { get; }

    /// <summary>The guest memory the frames belong to.</summary>
    public GuestMemory Memory { get; }

    /// <summary>Frames still free.</summary>
    public int FreeCount
    {
        get
        {
            lock (_lock)
            {
                return _freeCount;
            }
        }
    }

    /// <summary>Takes one frame (zeroed); false when none is left.</summary>
    public bool TryAllocate(out uint frame) => TryAllocateContiguous(1, out frame);

    /// <summary>Takes <paramref name="count"/> consecutive frames (zeroed; one run of bytes in the guest's memory); false when no run is free.</summary>
    public bool TryAllocateContiguous(int count, out uint firstFrame)
    {
        firstFrame = 0;
        if (count <= 0)
        {
            return false;
        }

        lock (_lock)
        {
            int run = 0;
            for (int i = 0; i < _used.Length; i++)
            {
                run = _used[i] ? 0 : run + 1;
                if (run == count)
                {
                    int start = i - count + 1;
                    for (int j = start; j <= i; j++)
                    {
                        _used[j] = true;
                    }

                    _freeCount -= count;
                    firstFrame = FirstFrame + (uint)start;
                    break;
                }
            }

            if (run != count)
            {
                return false;
            }
        }

        Memory.PageRange(firstFrame, (uint)count).Clear();
        return true;
    }

    /// <summary>Takes one frame or throws <see cref="InsufficientMemoryException"/>.</summary>
    public uint Allocate() => TryAllocate(out uint f) ? f : throw new InsufficientMemoryException($"dom{Memory.DomId} has no free page left for the ixp frontend");

    /// <summary>Gives a frame back.</summary>
    public void Free(uint frame)
    {
        lock (_lock)
        {
            if (frame >= FirstFrame && frame - FirstFrame < _used.Length && _used[frame - FirstFrame] && !_reserved.Contains(frame))
            {
                _used[frame - FirstFrame] = false;
                _freeCount++;
            }
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
