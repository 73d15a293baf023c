using System.Runtime.CompilerServices;
using Tolapai.Device.Dma;
using Tolapai.Device.Region;
using Tolapai.Xen.Interop;

namespace Tolapai.Device;

/// <summary>A response as the driver reads it.</summary>
public readonly record struct DeviceResponse(uint Index, ulong Tag, DeviceStatus Status);

/// <summary>
/// The driver's side of one ring pair: writes requests into the CPU view of the region,
/// flushes them, publishes <c>req_prod</c>, rings the engine's doorbell if it sleeps; takes
/// responses in ring order after invalidating their line; waits for the interrupt. One
/// submitting thread and one completing thread at a time (single producer, single consumer).
/// </summary>
/// <remarks>
/// The flush/invalidate steps are virtual so a test can build a deliberately wrong driver
/// (one that forgets a flush) and see strict coherence catch it.
/// </remarks>
public unsafe class DeviceQueue : IDisposable
{
    private readonly TolapaiDevice _device;
    private readonly DeviceRegion _region;
    private readonly long _pairOffset;
    private readonly uint _mask;
    private readonly int _entrySize;
    private readonly int _maxSegments;
    private readonly byte* _cpuPair;
    private readonly uint* _irq;
    private uint _reqProd;
    private uint _rspCons;
    private int _disposed;

    /// <summary>Opens the queue on a ring pair reserved with <see cref="TolapaiDevice.TryReservePair"/> (for drivers and test doubles).</summary>
    protected DeviceQueue(TolapaiDevice device, int pair)
    {
        ArgumentNullException.ThrowIfNull(device);
        _device = device;
        _region = device.Region;
        Pair = pair;
        Capacity = _region.Layout.Entries;
        _mask = (uint)Capacity - 1;
        _entrySize = _region.Layout.RequestEntrySize;
        _maxSegments = _region.Layout.MaxSegments;
        _pairOffset = _region.Layout.PairOffset(pair);
        _cpuPair = _region.Cpu + _pairOffset;
        _irq = (uint*)(_region.Doorbells + ((pair + 1) * RegionLayout.LineSize));

        // A pair used before continues from where its last driver left it (which had
        // collected every response).
        _reqProd = Volatile.Read(ref *(uint*)(_cpuPair + RegionLayout.RequestProducer));
        _rspCons = _reqProd;
    }

    /// <summary>The ring pair.</summary>
    public int Pair { get; }

    /// <summary>Source plus destination segments one request may carry on this device.</summary>
    public int MaxSegments => _maxSegments;

    /// <summary>Entries per ring: at most this many requests are in flight.</summary>
    public int Capacity { get; }

    /// <summary>Requests submitted and not yet taken back.</summary>
    public int InFlight => (int)(Volatile.Read(ref _reqProd) - Volatile.Read(ref _rspCons));

    /// <summary>The ring index the next request will take (its response carries it).</summary>
    public uint NextIndex => _reqProd;

    /// <summary>The device this queue is on.</summary>
    public TolapaiDevice Device => _device;

    /// <summary>Opens a queue on a free ring pair; false when none is free.</summary>
    public static bool TryOpen(TolapaiDevice device, out DeviceQueue? queue)
    {
        ArgumentNullException.ThrowIfNull(device);
        if (!device.TryReservePair(out int pair))
        {
            queue = null;
            return false;
        }

        queue = new DeviceQueue(device, pair);
        return true;
    }

    /// <summary>
    /// Puts one request on the ring: <paramref name="source"/> segments, then
    /// <paramref name="destination"/> ones (empty = in place), made for domain
    /// <paramref name="requester"/> (0 for dom0's own buffers; the guest a backend serves, whose
    /// granted frames every segment should lie in). Returns false, writing nothing,
    /// when the ring is full. Returns the ring index it used in <paramref name="index"/> (the
    /// response carries it). Never blocks.
    /// </summary>
    /// <exception cref="ArgumentException">No source segment, or more than <see cref="MaxSegments"/> in all.</exception>
    public bool TrySubmit(ulong tag, ushort requester, uint session, ulong iv, uint length, ReadOnlySpan<DmaSegment> source, ReadOnlySpan<DmaSegment> destination, out uint index)
    {
        if (source.IsEmpty || source.Length + destination.Length > _maxSegments)
        {
            ThrowSegments(source.Length, destination.Length, _maxSegments);
        }

        uint prod = _reqProd;
        if (prod - Volatile.Read(ref _rspCons) >= (uint)Capacity)
        {
            index = 0;
            return false;
        }

        long entryOffset = _pairOffset + RegionLayout.RequestEntries + ((prod & _mask) * _entrySize);
        ref RequestEntry e = ref *(RequestEntry*)(_region.Cpu + entryOffset);
        e.Tag = tag;
        e.Sequence = prod;
        e.Session = session;
        e.Iv = iv;
        e.Length = length;
        e.OpCode = RequestEntry.OpCipher;
        e.Flags = destination.IsEmpty ? RequestEntry.FlagInPlace : (byte)0;
        e.SourceCount = (byte)source.Length;
        e.DestinationCount = (byte)destination.Length;
        e.Requester = requester;
        var segs = new Span<DmaSegment>(_region.Cpu + entryOffset + RequestEntry.HeaderSize, source.Length + destination.Length);
        source.CopyTo(segs);
        destination.CopyTo(segs[source.Length..]);

        // 1. The entry (the lines it uses) reaches the device's view before the index that publishes it.
        FlushRequest(entryOffset, RequestEntry.HeaderSize + (segs.Length * DmaSegment.Size));

        // 2. Publish: release-store req_prod, then flush its line.
        Volatile.Write(ref *(uint*)(_cpuPair + RegionLayout.RequestProducer), prod + 1);
        FlushProducer(_pairOffset + RegionLayout.RequestProducer, sizeof(uint));
        Volatile.Write(ref _reqProd, prod + 1);

        // 3. Doorbell only if an engine said it sleeps. Full fence: req_prod is visible before
        //    we read "sleeping" (the engine sets sleeping, fences, re-reads req_prod).
        Interlocked.MemoryBarrier();
        _device.RingDeviceDoorbell();
        index = prod;
        return true;
    }

    /// <summary>Takes the next response in ring order, if the device has written it. Never blocks.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryTakeResponse(out DeviceResponse response)
    {
        if (!TryPeekResponse(out response))
        {
            return false;
        }

        ConsumeResponse();
        return true;
    }

    /// <summary>
    /// Reads the next response in ring order without giving its slot back, so the caller can
    /// finish with its own record of that ring index before a submitter may reuse it; then
    /// <see cref="ConsumeResponse"/>. Never blocks.
    /// </summary>
    public bool TryPeekResponse(out DeviceResponse response)
    {
        uint cons = _rspCons;
        if (cons == Volatile.Read(ref _reqProd))
        {
            response = default;
            return false;
        }

        long offset = _pairOffset + _region.Layout.ResponseEntries + ((cons & _mask) * ResponseEntry.Size);
        InvalidateResponse(offset, ResponseEntry.Size);
        byte* rsp = _region.Cpu + offset;

        // Acquire: sequence and status (written last by the device) before the tag.
        ulong head = Volatile.Read(ref *(ulong*)rsp);
        if ((uint)head != cons + 1)
        {
            response = default;
            return false;
        }

        response = new DeviceResponse(cons, *(ulong*)(rsp + 8), (DeviceStatus)(int)(head >> 32));
        return true;
    }

    /// <summary>Gives back the slot of the response last peeked.</summary>
    public void ConsumeResponse()
    {
        // Release: the submitter may reuse the slot (and the caller's record of it) once it sees rsp_cons move.
        Volatile.Write(ref _rspCons, _rspCons + 1);
    }

    /// <summary>
    /// Interrupt mode: spins up to <paramref name="spin"/> for a response, then arms the
    /// interrupt and sleeps until the device raises it or <paramref name="timeout"/> passes.
    /// True when a response is ready.
    /// </summary>
    public bool WaitForResponse(TimeSpan spin, TimeSpan timeout)
    {
        long spinUntil = System.Diagnostics.Stopwatch.GetTimestamp() + (long)(spin.TotalSeconds * System.Diagnostics.Stopwatch.Frequency);
        while (true)
        {
            if (ResponseReady())
            {
                return true;
            }

            if (System.Diagnostics.Stopwatch.GetTimestamp() >= spinUntil)
            {
                break;
            }

            Thread.SpinWait(20);
        }

        uint seq = Volatile.Read(ref _irq[0]);
        Volatile.Write(ref _irq[1], 1u);

        // Full fence: "armed" is visible before we look at the slot again (the device writes
        // responses, fences, then reads "armed").
        Interlocked.MemoryBarrier();
        if (ResponseReady())
        {
            Volatile.Write(ref _irq[1], 0u);
            return true;
        }

        Futex.Wait(&_irq[0], seq, timeout);
        Volatile.Write(ref _irq[1], 0u);
        return ResponseReady();
    }

    /// <summary>Wakes a thread sleeping in <see cref="WaitForResponse"/> (to stop it).</summary>
    public void Wake()
    {
        Interlocked.Increment(ref _irq[0]);
        Futex.Wake(&_irq[0], int.MaxValue);
    }

    /// <summary>Releases the ring pair. Responses not taken are lost.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _device.ReleasePair(Pair);
        }

        GC.SuppressFinalize(this);
    }

    /// <summary>Makes a written request entry visible to the device (region offset, length).</summary>
    protected virtual void FlushRequest(long offset, int length) => _region.Flush(offset, length);

    /// <summary>Makes the new req_prod visible to the device.</summary>
    protected virtual void FlushProducer(long offset, int length) => _region.Flush(offset, length);

    /// <summary>Drops the CPU's stale copy of a response slot before reading it.</summary>
    protected virtual void InvalidateResponse(long offset, int length) => _region.Invalidate(offset, length);

    private bool ResponseReady()
    {
        uint cons = _rspCons;
        if (cons == Volatile.Read(ref _reqProd))
        {
            return false;
        }

        long offset = _pairOffset + _region.Layout.ResponseEntries + ((cons & _mask) * ResponseEntry.Size);
        InvalidateResponse(offset, ResponseEntry.Size);
        return (uint)Volatile.Read(ref *(ulong*)(_region.Cpu + offset)) == cons + 1;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowSegments(int src, int dst, int max) =>
        throw new ArgumentException($"a request needs 1..{max} segments in all, with at least one source; got {src} source and {dst} destination");
}
