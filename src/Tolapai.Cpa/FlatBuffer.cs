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
    private int _frameCount;
    private int _dataLength;

    /// <summary>
    /// Creates a flat buffer over binding-owned memory (for bindings).
    /// </summary>
    /// <param name="data">First byte; stays valid until the owning list is freed.</param>
    /// <param name="capacity">Bytes available at <paramref name="data"/>.</param>
    /// <param name="domain">Domain of <paramref name="frames"/>.</param>
    /// <param name="frames">Frame of each page touched, or empty for memory the device cannot see. Kept, not copied.</param>
    public FlatBuffer(byte* data, int capacity, ushort domain, uint[] frames)
    {
        ArgumentNullException.ThrowIfNull(frames);
        _frames = frames;
        Bind(data, capacity, domain, frames.Length, nameof(frames));
    }

    /// <summary>
    /// Creates an unbound flat buffer that <see cref="Rebind(byte*, int, ushort, ReadOnlySpan{uint})"/>
    /// can point at up to <paramref name="maxFrames"/> frames at a time without allocating —
    /// for a backend that keeps one per request slot over memory it maps per request. Until
    /// bound it has no memory (<see cref="Capacity"/> 0).
    /// </summary>
    public FlatBuffer(int maxFrames)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxFrames);
        _frames = new uint[maxFrames];
    }

    /// <summary>
    /// Points this buffer at other memory (for bindings; never while an operation on it is in
    /// flight): <paramref name="capacity"/> bytes at <paramref name="data"/>, the frames of the
    /// pages they touch copied into this buffer's own frame array (which must be long enough:
    /// the <see cref="FlatBuffer(int)"/> size, or the array given at construction).
    /// <see cref="DataLength"/> becomes <paramref name="capacity"/>.
    /// </summary>
    public void Rebind(byte* data, int capacity, ushort domain, ReadOnlySpan<uint> frames)
    {
        if (frames.Length > _frames.Length)
        {
            throw new ArgumentException($"{frames.Length} frames do not fit this buffer's {_frames.Length}", nameof(frames));
        }

        frames.CopyTo(_frames);
        Bind(data, capacity, domain, frames.Length, nameof(frames));
    }

    /// <summary>As <see cref="Rebind(byte*, int, ushort, ReadOnlySpan{uint})"/> for memory on consecutive frames from <paramref name="firstFrame"/>.</summary>
    public void Rebind(byte* data, int capacity, ushort domain, uint firstFrame)
    {
        int pages = PagesTouched(data, capacity);
        if (pages > _frames.Length)
        {
            throw new ArgumentException($"{capacity} bytes touch {pages} pages; this buffer holds {_frames.Length} frames", nameof(capacity));
        }

        for (int i = 0; i < pages; i++)
        {
            _frames[i] = firstFrame + (uint)i;
        }

        Bind(data, capacity, domain, pages, nameof(firstFrame));
    }

    /// <summary>First byte (<c>pData</c>).</summary>
    public byte* Data { get; private set; }

    /// <summary>Bytes the binding allocated.</summary>
    public int Capacity { get; private set; }

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
    public ushort Domain { get; private set; }

    /// <summary>Frame of each page the buffer's capacity touches; empty for software memory.</summary>
    public ReadOnlySpan<uint> Frames => new(_frames, 0, _frameCount);

    /// <summary>Offset of <see cref="Data"/> inside its first page.</summary>
    public int PageOffset { get; private set; }

    /// <summary>True when the device can address this buffer (it has frames).</summary>
    public bool HasMachineAddress => _frameCount != 0;

    /// <summary>
    /// Writes the machine-address segments covering bytes [<paramref name="offset"/>,
    /// <paramref name="offset"/> + <paramref name="length"/>) of this buffer into
    /// <paramref name="segments"/>, one segment per run of consecutive frames. Returns how many
    /// were written, or -1 when <paramref name="segments"/> is too short, the range is outside
    /// the capacity, or the buffer has no frames.
    /// </summary>
    public int GetSegments(int offset, int length, Span<DmaSegment> segments)
    {
        if (_frameCount == 0 || offset < 0 || length <= 0 || (long)offset + length > Capacity)
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

    private static int PagesTouched(byte* data, int capacity)
    {
        int pageOffset = (int)((nint)data & (DmaRegistry.FrameSize - 1));
        return (int)(((long)pageOffset + capacity + DmaRegistry.FrameSize - 1) / DmaRegistry.FrameSize);
    }

    private void Bind(byte* data, int capacity, ushort domain, int frameCount, string frameParameter)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(capacity);
        if (data == null)
        {
            throw new ArgumentNullException(nameof(data));
        }

        int pages = PagesTouched(data, capacity);
        if (frameCount != 0 && frameCount != pages)
        {
            throw new ArgumentException($"{capacity} bytes at page offset {(int)((nint)data & (DmaRegistry.FrameSize - 1))} touch {pages} pages, but {frameCount} frames were given", frameParameter);
        }

        Data = data;
        Capacity = capacity;
        _dataLength = capacity;
        Domain = domain;
        _frameCount = frameCount;
        PageOffset = (int)((nint)data & (DmaRegistry.FrameSize - 1));
    }
}
