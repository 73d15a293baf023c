using Tolapai.Device.Dma;

namespace Tolapai.Cpa;

/// <summary>
/// An ordered list of flat buffers (<c>CpaBufferList</c>) whose bytes an operation sees as one
/// concatenated message. Allocated by an instance (<see cref="ICySymInstance.AllocateBufferList"/>),
/// usable only with that instance, and returned to it with <see cref="Dispose"/> (or
/// <see cref="ICySymInstance.FreeBufferList"/>). Lists are meant to be allocated once and
/// reused for many operations.
/// </summary>
public sealed class BufferList : IDisposable
{
    private readonly FlatBuffer[] _buffers;
    private int _freed;

    /// <summary>Creates a list (for bindings).</summary>
    /// <param name="owner">The instance that allocated the memory and frees it.</param>
    /// <param name="buffers">The flat buffers, at least one.</param>
    /// <param name="bindingData">The binding's own bookkeeping (<c>pPrivateMetaData</c>), e.g. grant references.</param>
    public BufferList(ICySymInstance owner, FlatBuffer[] buffers, object? bindingData = null)
    {
        ArgumentNullException.ThrowIfNull(owner);
        ArgumentNullException.ThrowIfNull(buffers);
        ArgumentOutOfRangeException.ThrowIfZero(buffers.Length);
        foreach (FlatBuffer? b in buffers)
        {
            ArgumentNullException.ThrowIfNull(b, nameof(buffers));
        }

        Owner = owner;
        _buffers = buffers;
        BindingData = bindingData;
    }

    /// <summary>The instance that allocated this list.</summary>
    public ICySymInstance Owner { get; }

    /// <summary>The binding's private data (<c>pPrivateMetaData</c>).</summary>
    public object? BindingData { get; }

    /// <summary>Free for the application (<c>pUserData</c>).</summary>
    public object? UserData { get; set; }

    /// <summary>Number of flat buffers (<c>numBuffers</c>).</summary>
    public int Count => _buffers.Length;

    /// <summary>The flat buffers (<c>pBuffers</c>).</summary>
    public ReadOnlySpan<FlatBuffer> Buffers => _buffers;

    /// <summary>One flat buffer.</summary>
    public FlatBuffer this[int index] => _buffers[index];

    /// <summary>True once freed; a freed list is refused by every call.</summary>
    public bool IsFreed => Volatile.Read(ref _freed) != 0;

    /// <summary>Sum of the flat buffers' <see cref="FlatBuffer.DataLength"/>.</summary>
    public long TotalLength
    {
        get
        {
            long total = 0;
            foreach (FlatBuffer b in _buffers)
            {
                total += b.DataLength;
            }

            return total;
        }
    }

    /// <summary>
    /// Writes the machine-address segments covering bytes [<paramref name="offset"/>,
    /// <paramref name="offset"/> + <paramref name="length"/>) of the concatenated list (by
    /// <see cref="FlatBuffer.DataLength"/>). Returns the count, or -1 when
    /// <paramref name="segments"/> is too short, the range is outside the list, or a buffer
    /// has no frames.
    /// </summary>
    public int GetSegments(long offset, long length, Span<DmaSegment> segments)
    {
        if (offset < 0 || length <= 0)
        {
            return -1;
        }

        int n = 0;
        long pos = 0;
        long end = offset + length;
        foreach (FlatBuffer b in _buffers)
        {
            long bStart = pos;
            long bEnd = pos + b.DataLength;
            pos = bEnd;
            if (bEnd <= offset || b.DataLength == 0)
            {
                continue;
            }

            if (bStart >= end)
            {
                break;
            }

            long from = Math.Max(offset, bStart) - bStart;
            long to = Math.Min(end, bEnd) - bStart;
            int got = b.GetSegments((int)from, (int)(to - from), segments[n..]);
            if (got < 0)
            {
                return -1;
            }

            n += got;
        }

        return pos >= end ? n : -1;
    }

    /// <summary>Marks the list freed; returns false if it already was (for bindings).</summary>
    public bool MarkFreed() => Interlocked.Exchange(ref _freed, 1) == 0;

    /// <summary>Returns the memory to the owning instance.</summary>
    public void Dispose() => Owner.FreeBufferList(this);
}
