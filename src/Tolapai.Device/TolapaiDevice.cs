using Tolapai.Device.Dma;
using Tolapai.Device.Engine;
using Tolapai.Device.Region;
using Tolapai.Kernels.Des;
using Tolapai.Xen.Interop;

namespace Tolapai.Device;

/// <summary>
/// The emulated Tolapai crypto accelerator: ring pairs in a non-coherent region
/// (<see cref="DeviceRegion"/>), an IOMMU (<see cref="Dma"/>), a session table (its content
/// descriptors) and engine threads running SIMD DES/3DES. Drivers talk to it through
/// <see cref="DeviceQueue"/> (one per ring pair); sessions and DMA registration are
/// control-plane calls.
/// </summary>
public sealed unsafe class TolapaiDevice : IDisposable
{
    private readonly DeviceEngine[] _engines;
    private readonly int[] _pairInUse;
    private readonly int[] _pairFaulted;
    private long _nextDom0Frame = 16;
    private int _disposed;

    private TolapaiDevice(DeviceOptions options)
    {
        Options = options;
        Region = new DeviceRegion(new RegionLayout(options.RingPairs, options.RingEntries, options.MaxSegments), options.Coherence, options.RegionPath);
        Sessions = new DeviceSessionTable(options.MaxSessions);
        _pairInUse = new int[options.RingPairs];
        _pairFaulted = new int[options.RingPairs];
        _engines = new DeviceEngine[options.Engines];
        for (int i = 0; i < _engines.Length; i++)
        {
            _engines[i] = new DeviceEngine(this, i);
        }

        foreach (DeviceEngine e in _engines)
        {
            e.Start();
        }
    }

    /// <summary>Configuration.</summary>
    public DeviceOptions Options { get; }

    /// <summary>The IOMMU: frames the device may reach.</summary>
    public DmaRegistry Dma { get; } = new();

    /// <summary>Coherence mode of the ring region.</summary>
    public CoherenceMode Coherence => Options.Coherence;

    /// <summary>The ring region.</summary>
    public DeviceRegion Region { get; }

    /// <summary>True once disposed (engines stopped, region freed): drivers must not touch the region any more.</summary>
    public bool IsDisposed => Volatile.Read(ref _disposed) != 0;

    /// <summary>Sessions held now.</summary>
    public int SessionCount => Sessions.Count;

    internal DeviceSessionTable Sessions { get; }

    /// <summary>Creates the device and starts its engines.</summary>
    /// <exception cref="ArgumentException">The options are out of range.</exception>
    public static TolapaiDevice Create(DeviceOptions? options = null)
    {
        options ??= new DeviceOptions();
        string? error = options.Validate();
        if (error is not null)
        {
            throw new ArgumentException(error, nameof(options));
        }

        return new TolapaiDevice(options);
    }

    /// <summary>
    /// Loads a session into the device (its content descriptor: scheduled key, mode,
    /// direction). False when the table is full. The key is scheduled here; the caller keeps
    /// nothing but the id.
    /// </summary>
    /// <exception cref="ArgumentException">The key is not 8, 16 or 24 bytes.</exception>
    public bool TryCreateSession(ReadOnlySpan<byte> key, CipherMode mode, CipherDirection direction, out uint sessionId)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        return Sessions.TryCreate(key, mode, direction, out sessionId);
    }

    /// <summary>Removes a session and wipes its key; no request may be in flight on it. False for an unknown id.</summary>
    public bool DestroySession(uint sessionId) => Sessions.Destroy(sessionId);

    /// <summary>Takes a free ring pair for a driver instance; false when all are in use.</summary>
    public bool TryReservePair(out int pair)
    {
        for (int p = 0; p < _pairInUse.Length; p++)
        {
            if (Interlocked.CompareExchange(ref _pairInUse[p], 1, 0) == 0)
            {
                pair = p;
                return true;
            }
        }

        pair = -1;
        return false;
    }

    /// <summary>Gives a ring pair back.</summary>
    public void ReleasePair(int pair) => Volatile.Write(ref _pairInUse[pair], 0);

    /// <summary>True when the device stopped serving a pair (its producer index went more than a ring ahead).</summary>
    public bool IsPairFaulted(int pair) => Volatile.Read(ref _pairFaulted[pair]) != 0;

    /// <summary>
    /// Hands out <paramref name="count"/> consecutive dom0 frame numbers for the driver's own
    /// DMA memory (the driver registers them in <see cref="Dma"/> with their host addresses).
    /// </summary>
    public uint AllocateDom0Frames(uint count)
    {
        long first = Interlocked.Add(ref _nextDom0Frame, count) - count;
        if (first + count > DmaRegistry.MaxFrames)
        {
            throw new InvalidOperationException("dom0 DMA frame numbers exhausted");
        }

        return (uint)first;
    }

    /// <summary>Counters summed over the engines (read while running: approximate).</summary>
    public DeviceCounters QueryCounters()
    {
        DeviceCounters c = default;
        foreach (DeviceEngine e in _engines)
        {
            c = c with
            {
                Batches = c.Batches + Volatile.Read(ref e.Batches),
                Requests = c.Requests + Volatile.Read(ref e.Requests),
                Errors = c.Errors + Volatile.Read(ref e.Errors),
                Scattered = c.Scattered + Volatile.Read(ref e.Scattered),
                BounceBytes = c.BounceBytes + Volatile.Read(ref e.BounceBytes),
                DmaSegments = c.DmaSegments + Volatile.Read(ref e.DmaSegments),
                DmaSegmentsOutsideGrants = c.DmaSegmentsOutsideGrants + Volatile.Read(ref e.DmaSegmentsOutsideGrants),
                Parks = c.Parks + Volatile.Read(ref e.Parks),
                Coalesced = c.Coalesced + Volatile.Read(ref e.Coalesced),
                ExecuteSeconds = c.ExecuteSeconds + ((double)Volatile.Read(ref e.ExecuteTicks) / System.Diagnostics.Stopwatch.Frequency),
            };
        }

        return c;
    }

    /// <summary>
    /// Each engine thread's count of managed bytes allocated, read by that thread on its next
    /// loop pass after this call (a parked engine is woken for it). Two samples bracket a
    /// window exactly: their difference is what each engine allocated between them.
    /// </summary>
    /// <param name="timeout">How long to wait for every engine's answer (default 10 s).</param>
    /// <exception cref="TimeoutException">An engine did not answer in time.</exception>
    public long[] SampleEngineAllocatedBytes(TimeSpan? timeout = null) =>
        Diagnostics.ThreadAllocationProbe.Sample([.. _engines.Select(e => e.Allocations)], () => RingDeviceDoorbell(force: true), timeout ?? TimeSpan.FromSeconds(10));

    /// <summary>Stops the engines and frees the region and every session.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        foreach (DeviceEngine e in _engines)
        {
            e.Stop();
        }

        Sessions.Clear();
        Region.Dispose();
    }

    internal void FaultPair(int pair) => Volatile.Write(ref _pairFaulted[pair], 1);

    /// <summary>The driver side's doorbell: wakes a parked engine (only if one said it sleeps, unless forced).</summary>
    internal void RingDeviceDoorbell(bool force = false)
    {
        uint* bell = (uint*)Region.Doorbells;

        // Only the first submitter after the engine announced sleep pays for the wake-up:
        // taking "sleeping" back to 0 makes the next ones see an awake engine.
        if (force || (Volatile.Read(ref bell[1]) != 0 && Interlocked.Exchange(ref bell[1], 0u) != 0))
        {
            Interlocked.Increment(ref bell[0]);
            Futex.Wake(&bell[0], int.MaxValue);
        }
    }

    /// <summary>The device's interrupt to ring pair <paramref name="pair"/>'s driver, if it armed it.</summary>
    internal void RaiseInterrupt(int pair)
    {
        uint* irq = (uint*)(Region.Doorbells + ((pair + 1) * RegionLayout.LineSize));
        if (Volatile.Read(ref irq[1]) != 0)
        {
            Volatile.Write(ref irq[1], 0u);
            Interlocked.Increment(ref irq[0]);
            Futex.Wake(&irq[0], int.MaxValue);
        }
    }
}

/// <summary>What the engines did.</summary>
public readonly record struct DeviceCounters
{
    /// <summary>Batches run.</summary>
    public long Batches { get; init; }

    /// <summary>Requests answered.</summary>
    public long Requests { get; init; }

    /// <summary>Requests answered with an error.</summary>
    public long Errors { get; init; }

    /// <summary>Requests that ran piecewise over several host-contiguous runs.</summary>
    public long Scattered { get; init; }

    /// <summary>Times an engine parked.</summary>
    public long Parks { get; init; }

    /// <summary>
    /// Payload bytes copied through the engines' bounce block (blocks straddling two scattered
    /// runs), each byte counted twice (into the block and out of it); 0 when buffers are
    /// block-aligned per page.
    /// </summary>
    public long BounceBytes { get; init; }

    /// <summary>Segments of the requests the engines ran (each translated and used for DMA).</summary>
    public long DmaSegments { get; init; }

    /// <summary>
    /// Segments that lay outside the request's own memory: of another domain than the request's
    /// <see cref="Region.RequestEntry.Requester"/>, or, for a guest's request, a frame not
    /// registered as mapped from that guest's grant (<see cref="Dma.DmaRegistry.Register(ushort, uint, uint, byte*, bool, bool)"/>).
    /// 0 proves the split data plane's zero copy structurally: the device read and wrote only
    /// the pages the guest granted.
    /// </summary>
    public long DmaSegmentsOutsideGrants { get; init; }

    /// <summary>Times an engine waited for a short batch to fill.</summary>
    public long Coalesced { get; init; }

    /// <summary>Seconds the engines spent running batches (wall clock, summed over engines).</summary>
    public double ExecuteSeconds { get; init; }
}
