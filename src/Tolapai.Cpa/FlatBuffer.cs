using Tolapai.Device.Dma;

namespace Tolapai.Cpa;

/// <summary>
/// One contiguous piece of DMA-able memory (<c>CpaFlatBuffer</c>): <see cref="DataLength"/>
/// bytes at <see cref="Data"/>. Only bindings create flat buffers (through
/// <see cref="ICySymInstance.AllocateBufferList"/>), because the binding decides where buffer
/// memory lives: the native binding in dom0 frames registered with the device, the split
/// binding in guest frames it grants to the backend, the software binding in native memory.
/// </summary>
/// <remarks>
/// When the memory is machine memory, <see cref="Frames"/> lists the frame of every page the
/// buffer touches, page by page from the page holding <see cref="Data"/> (whose byte offset
/// in that page is <see cref="PageOffset"/>), all in <see cref="Domain"/>. Software memory has
/// no frames.
/// </remarks>
public sealed unsafe class FlatBuffer
{
    private readonly uint[] _frames;
    private int _dataLength;

    /// <summary>
    /// Creates a flat buffer over binding-owned memory (for bindings).
    /// </summary>
    /// <param name="data">First byte; stays valid until the owning list is freed.</param>
    /// <param name="capacity">Bytes available at <paramref name="data"/>.</param>
    /// <param name="domain">Domain of <paramref name="frames"/>.</param>
    /// <param name="frames">Frame of each page touched, or empty for memory the device cannot see.</param>
    public FlatBuffer(byte* data, int capacity, ushort domain, uint[] frames)
    {
        ArgumentNullException.ThrowIfNull(frames);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(capacity);
        if (data == null)
        {
            throw new ArgumentNullException(nameof(data));
        }

        int pageOffset = (int)((nint)data & (DmaRegistry.FrameSize - 1));
        int pages = (pageOffset + capacity + DmaRegistry.FrameSize - 1) / DmaRegistry.FrameSize;
        if (frames.Length != 0 && frames.Length != pages)
        {
            throw new ArgumentException($"{capacity} bytes at page offset {pageOffset} touch {pages} pages, but {frames.Length} frames were given", nameof(frames));
        }

        Data = data;
        Capacity = capacity;
        _dataLength = capacity;
        Domain = domain;
        _frames = frames;
        PageOffset = pageOffset;
    }

    /// <summary>First byte (<c>pData</c>).</summary>
    public byte* Data { get; }

    /// <summary>Bytes the binding allocated.</summary>
    public int Capacity { get; }

    /// <summary>Bytes in use (<c>dataLenInBytes</c>), 0..<see cref="Capacity"/>; starts at <see cref="Capacity"/>.</summary>
    public int DataLength
    {
        get => _dataLength;
        set
        {
            ArgumentOutOfRangeException.ThrowIfNegative(value);
            ArgumentOutOfRangeException.ThrowIfGreaterThan(value, Capacity);
            _dataLength = value;
        }
    }

    /// <summary>The <see cref="DataLength"/> bytes in use.</summary>
    public Span<byte> Span => new(Data, _dataLength);

    /// <summary>Domain owning <see cref="Frames"/>.</summary>
    public ushort Domain { get; }

    /// <summary>Frame of each page the buffer's capacity touches; empty for software memory.</summary>
    public ReadOnlySpan<uint> Frames => _frames;

    /// <summary>Offset of <see cref="Data"/> inside its first page.</summary>
    public int PageOffset { get; }

    /// <summary>True when the device can address this buffer (it has frames).</summary>
    public bool HasMachineAddress => _frames.Length != 0;

    /// <summary>
    /// Writes the machine-address segments covering bytes [<paramref name="offset"/>,
    /// <paramref name="offset"/> + <paramref name="length"/>) of this buffer into
    /// <paramref name="segments"/>, one segment per run of consecutive frames. Returns how many
    /// were written, or -1 when <paramref name="segments"/> is too short, the range is outside
    /// the capacity, or the buffer has no frames.
    /// </summary>
    public int GetSegments(int offset, int length, Span<DmaSegment> segments)
    {
        if (_frames.Length == 0 || offset < 0 || length <= 0 || (long)offset + length > Capacity)
        {
            return -1;
        }

        const int Page = DmaRegistry.FrameSize;
        long start = PageOffset + (long)offset;
        long end = start + length;
        int n = 0;
        int page = (int)(start / Page);
        long pos = start;
        while (pos < end)
        {
            // Extend the run while the next page's frame follows on.
            int lastPage = page;
            while ((long)(lastPage + 1) * Page < end && _frames[lastPage + 1] == _frames[lastPage] + 1)
            {
                lastPage++;
            }

            long runEnd = Math.Min(end, (long)(lastPage + 1) * Page);
            if (n == segments.Length)
            {
                return -1;
            }

            segments[n++] = new DmaSegment(Domain, _frames[page], (uint)(pos % Page), (uint)(runEnd - pos));
            pos = runEnd;
            page = lastPage + 1;
        }

        return n;
    }
}
