using System.Runtime.InteropServices;
using Tolapai.Device;
using Tolapai.Device.Dma;
using Tolapai.Device.Region;

namespace Tolapai.Cpa.Native;

/// <summary>
/// The native binding: the dom0 driver on the emulated device. An instance owns one ring pair
/// (<see cref="DeviceQueue"/>); buffer memory is dom0 pages registered with the device's
/// IOMMU; operations go on the request ring by machine address and completions come back in
/// ring order, by polling or from a driver thread woken by the device's interrupt.
/// </summary>
/// <remarks>
/// Dispose instances before their device: disposing an instance lets its requests in flight
/// complete, then returns its buffer memory, sessions and ring pair. An instance whose device
/// was disposed first only frees its memory (the engines are stopped).
/// </remarks>
public sealed unsafe class NativeCyInstance : CySymInstance
{
    /// <summary>Source plus destination segments one request may carry on a device with default options (see <see cref="SegmentLimit"/>).</summary>
    public const int MaxSegments = RequestEntry.MaxSegments;

    private const string RingFull = "the device ring is full";

    private readonly DeviceQueue _queue;
    private readonly InFlight[] _inFlight;
    private readonly uint _mask;
    private readonly Thread? _completionThread;
    private readonly Lock _control = new();
    private readonly HashSet<NativeSession> _sessions = [];
    private volatile bool _stopping;

    private NativeCyInstance(TolapaiDevice device, DeviceQueue queue, CompletionMode mode)
        : base($"native:{queue.Pair}", mode, Math.Max(64, queue.Capacity))
    {
        Device = device;
        _queue = queue;
        _inFlight = new InFlight[queue.Capacity];
        _mask = (uint)queue.Capacity - 1;
        if (mode == CompletionMode.Interrupt)
        {
            _completionThread = new Thread(CompletionLoop) { IsBackground = true, Name = $"tolapai-native-{queue.Pair}-irq" };
            _completionThread.Start();
        }
    }

    /// <summary>The device.</summary>
    public TolapaiDevice Device { get; }

    /// <summary>The device's IOMMU: the split backend registers the guest frames it mapped here before submitting by machine address.</summary>
    public DmaRegistry Dma => Device.Dma;

    /// <summary>Source plus destination segments one request may carry on this instance's device (<see cref="DeviceOptions.MaxSegments"/>).</summary>
    public int SegmentLimit => _queue.MaxSegments;

    /// <summary>Requests on the ring now.</summary>
    public int InFlightCount => _queue.InFlight;

    /// <summary>Ring entries of this instance's ring pair.</summary>
    public int RingCapacity => _queue.Capacity;

    /// <summary>Opens an instance on a free ring pair of <paramref name="device"/>; <see cref="CpaStatus.Resource"/> when none is free.</summary>
    public static CpaStatus Create(TolapaiDevice device, CompletionMode mode, out NativeCyInstance? instance) =>
        Create(device, mode, null, out instance);

    /// <summary>As <see cref="Create(TolapaiDevice, CompletionMode, out NativeCyInstance?)"/> with the driver's ring writer made by <paramref name="queueFactory"/> (tests: a deliberately wrong driver).</summary>
    internal static CpaStatus Create(TolapaiDevice device, CompletionMode mode, Func<TolapaiDevice, int, DeviceQueue>? queueFactory, out NativeCyInstance? instance)
    {
        ArgumentNullException.ThrowIfNull(device);
        instance = null;
        if (!Enum.IsDefined(mode))
        {
            return CpaStatus.InvalidParam;
        }

        DeviceQueue? queue;
        if (queueFactory is null)
        {
            if (!DeviceQueue.TryOpen(device, out queue))
            {
                return CpaStatus.Resource;
            }
        }
        else
        {
            if (!device.TryReservePair(out int pair))
            {
                return CpaStatus.Resource;
            }

            queue = queueFactory(device, pair);
        }

        instance = new NativeCyInstance(device, queue!, mode);
        return CpaStatus.Success;
    }

    /// <summary>
    /// The split backend's entry: cipher the bytes the <paramref name="source"/> segments
    /// describe (their total is the message length) into the <paramref name="destination"/>
    /// segments (same total; empty = in place), with <paramref name="session"/>'s algorithm
    /// and <paramref name="iv"/> (8 bytes for CBC/CTR, ignored for ECB), on behalf of domain
    /// <paramref name="requester"/> (the guest whose request it is; 0 for dom0's own memory):
    /// the device counts every segment outside that domain's granted frames
    /// (<see cref="DeviceCounters.DmaSegmentsOutsideGrants"/>). Every frame must be
    /// registered in <see cref="Dma"/> (the destination's writable); otherwise the operation
    /// completes with <see cref="CpaStatus.Fail"/> and no memory is touched. Completion:
    /// <c>session.Callback(callbackTag, status, null)</c>. Returns at once: Success, Retry
    /// (ring full) or InvalidParam (with <see cref="CySymInstance.LastError"/>), nothing submitted unless Success.
    /// </summary>
    public CpaStatus PerformOpMachine(object? callbackTag, ushort requester, CySymSession session, ReadOnlySpan<byte> iv, ReadOnlySpan<DmaSegment> source, ReadOnlySpan<DmaSegment> destination)
    {
        if (IsDisposed)
        {
            return RequestError(CpaStatus.Fail, "the instance is stopped");
        }

        string? error = ValidateSession(session);
        if (error is null && session.Callback is null)
        {
            error = "the session has no callback";
        }

        if (error is not null)
        {
            return RequestError(CpaStatus.InvalidParam, error);
        }

        if (source.IsEmpty || source.Length + destination.Length > SegmentLimit)
        {
            return RequestError(CpaStatus.InvalidParam, $"a request takes 1..{SegmentLimit} segments in all with at least one source; got {source.Length} source and {destination.Length} destination");
        }

        long srcTotal = SegmentTotal(source, out error);
        long dstTotal = destination.IsEmpty ? srcTotal : SegmentTotal(destination, out error);
        error ??= srcTotal != dstTotal ? $"source segments hold {srcTotal} bytes, destination segments {dstTotal}" : null;
        ulong ivValue = 0;
        error ??= ValidateIv(session, iv, out ivValue) ?? ValidateLength(session, srcTotal);
        if (error is not null)
        {
            return RequestError(CpaStatus.InvalidParam, error);
        }

        NativeSession ns = (NativeSession)session;
        if (_queue.InFlight >= _queue.Capacity)
        {
            return RequestError(CpaStatus.Retry, RingFull);
        }

        BeginOperation(session);
        ref InFlight slot = ref _inFlight[NextIndex() & _mask];
        // Requests by machine address come from a backend serving a guest: their latency is the device stage.
        long stamp = Tolapai.Diagnostics.DataPlaneEventSource.Log.RequestsEnabled ? System.Diagnostics.Stopwatch.GetTimestamp() : 0;
        slot = new InFlight(session.Callback!, callbackTag, session, null, stamp, (int)srcTotal, Tolapai.Diagnostics.Stage.Device);
        if (!_queue.TrySubmit(0, requester, ns.DeviceId, ivValue, (uint)srcTotal, source, destination, out _))
        {
            slot = default;
            AbortOperation(session);
            return RequestError(CpaStatus.Retry, RingFull);
        }

        CountRequest();
        return CpaStatus.Success;
    }

    /// <inheritdoc/>
    public override CpaStatus Poll(int maxResponses, out int delivered)
    {
        delivered = 0;
        if (CompletionMode == CompletionMode.Interrupt)
        {
            return SetError(CpaStatus.Unsupported, "the instance is in interrupt mode; completions come from its driver thread");
        }

        delivered = Drain(maxResponses <= 0 ? int.MaxValue : maxResponses);
        return delivered > 0 ? CpaStatus.Success : CpaStatus.Retry;
    }

    /// <inheritdoc/>
    protected override int SessionContextSize(in SymSessionSetupData setup) =>
        SymAlgorithms.IsTripleDes(setup.Algorithm) ? 3 * DesScheduleBytes : DesScheduleBytes;

    /// <inheritdoc/>
    protected override CpaStatus InitSessionCore(in SymSessionSetupData setup, SymCallback? callback, out CySymSession? session)
    {
        session = null;
        if (!Device.TryCreateSession(setup.Key.Span, SymAlgorithms.Mode(setup.Algorithm), SymAlgorithms.Direction(setup.Direction), out uint id))
        {
            return SetError(CpaStatus.Resource, $"the device holds {Device.Options.MaxSessions} sessions already");
        }

        var ns = new NativeSession(this, setup, callback, id);
        lock (_control)
        {
            _sessions.Add(ns);
        }

        session = ns;
        return CpaStatus.Success;
    }

    /// <inheritdoc/>
    protected override void RemoveSessionCore(CySymSession session)
    {
        lock (_control)
        {
            _sessions.Remove((NativeSession)session);
        }

        Device.DestroySession(((NativeSession)session).DeviceId);
    }

    /// <inheritdoc/>
    protected override CpaStatus SubmitCore(in SymRequest request)
    {
        Span<DmaSegment> segs = stackalloc DmaSegment[_queue.MaxSegments];
        int nsrc = request.Source.GetSegments(request.Offset, request.Length, segs);
        int ndst = 0;
        if (nsrc > 0 && !request.InPlace)
        {
            ndst = request.Destination.GetSegments(request.Offset, request.Length, segs[nsrc..]);
        }

        if (nsrc <= 0 || ndst < 0)
        {
            return SetError(CpaStatus.InvalidParam, $"the buffers need more than {segs.Length} machine-address segments for this range");
        }

        if (_queue.InFlight >= _queue.Capacity)
        {
            return SetError(CpaStatus.Retry, RingFull);
        }

        // The in-flight record goes in before the request is published: a completion thread
        // may take the response the moment the device writes it.
        ref InFlight slot = ref _inFlight[NextIndex() & _mask];
        slot = new InFlight(request.Callback, request.Tag, request.Session, request.Destination, request.Stamp, request.Length, Tolapai.Diagnostics.Stage.NativeOp);
        if (!_queue.TrySubmit(0, 0, ((NativeSession)request.Session).DeviceId, request.Iv, (uint)request.Length, segs[..nsrc], segs.Slice(nsrc, ndst), out _))
        {
            slot = default;
            return SetError(CpaStatus.Retry, RingFull);
        }

        return CpaStatus.Success;
    }

    /// <inheritdoc/>
    protected override CpaStatus AllocateBufferListCore(ReadOnlySpan<int> bufferSizes, out BufferList? bufferList)
    {
        FlatBuffer[] buffers = new FlatBuffer[bufferSizes.Length];
        int made = 0;
        try
        {
            for (; made < buffers.Length; made++)
            {
                int size = bufferSizes[made];
                uint pages = (uint)((size + DmaRegistry.FrameSize - 1) / DmaRegistry.FrameSize);
                byte* mem = (byte*)NativeMemory.AlignedAlloc((nuint)pages * DmaRegistry.FrameSize, DmaRegistry.FrameSize);
                NativeMemory.Clear(mem, (nuint)pages * DmaRegistry.FrameSize);
                uint first = Device.AllocateDom0Frames(pages);
                uint[] frames = new uint[pages];
                for (uint i = 0; i < pages; i++)
                {
                    frames[i] = first + i;
                }

                Device.Dma.Register(0, first, pages, mem, writable: true);
                buffers[made] = new FlatBuffer(mem, size, 0, frames);
            }
        }
        catch (OutOfMemoryException)
        {
            for (int i = 0; i < made; i++)
            {
                Release(buffers[i]);
            }

            bufferList = null;
            return SetError(CpaStatus.Resource, "out of memory for DMA buffers");
        }

        bufferList = new BufferList(this, buffers);
        return CpaStatus.Success;
    }

    /// <inheritdoc/>
    protected override void FreeBufferListCore(BufferList bufferList)
    {
        foreach (FlatBuffer b in bufferList.Buffers)
        {
            Release(b);
        }
    }

    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
        _stopping = true;
        if (_completionThread is not null)
        {
            _queue.Wake();
            _completionThread.Join();
        }

        // Requests still on the ring complete (callbacks and all) before their memory goes:
        // the engine may be writing into it. Bounded, in case the device was stopped first.
        long giveUp = Environment.TickCount64 + 5000;
        while (!Device.IsDisposed && _queue.InFlight > 0 && Environment.TickCount64 < giveUp)
        {
            if (Drain(int.MaxValue) == 0)
            {
                Thread.Yield();
            }
        }

        NativeSession[] sessions;
        lock (_control)
        {
            sessions = [.. _sessions];
            _sessions.Clear();
        }

        FreeOwnBufferLists();

        foreach (NativeSession session in sessions)
        {
            if (!Device.IsDisposed)
            {
                Device.DestroySession(session.DeviceId);
            }
        }

        if (!Device.IsDisposed)
        {
            _queue.Dispose();
        }

        base.Dispose(disposing);
    }

    private const int DesScheduleBytes = 16 * 8 * 2;

    private uint NextIndex() => _queue.NextIndex;

    private void Release(FlatBuffer b)
    {
        Device.Dma.Unregister(0, b.Frames[0], (uint)b.Frames.Length);
        NativeMemory.AlignedFree(b.Data - b.PageOffset);
    }

    private static long SegmentTotal(ReadOnlySpan<DmaSegment> segments, out string? error)
    {
        long total = 0;
        foreach (DmaSegment s in segments)
        {
            if (s.Length == 0 || s.Offset >= DmaRegistry.FrameSize)
            {
                error = $"segment {s} is empty or starts beyond its frame";
                return 0;
            }

            total += s.Length;
        }

        error = null;
        return total;
    }

    private int Drain(int max)
    {
        int n = 0;
        while (n < max && _queue.TryPeekResponse(out DeviceResponse rsp))
        {
            // Copy and clear the record before the slot is given back: from then on the
            // submitting thread may reuse it.
            ref InFlight slot = ref _inFlight[rsp.Index & _mask];
            InFlight op = slot;
            slot = default;
            _queue.ConsumeResponse();
            n++;
            Complete(op.Callback, op.Tag, op.Session, rsp.Status == DeviceStatus.Ok ? CpaStatus.Success : CpaStatus.Fail, op.Destination, op.Stamp, op.Bytes, op.Stage);
        }

        return n;
    }

    private void CompletionLoop()
    {
        while (!_stopping)
        {
            if (_queue.WaitForResponse(TimeSpan.FromMicroseconds(20), TimeSpan.FromMilliseconds(100)))
            {
                Drain(int.MaxValue);
            }
        }

        Drain(int.MaxValue);
    }

    private readonly struct InFlight(SymCallback callback, object? tag, CySymSession session, BufferList? destination, long stamp, int bytes, Tolapai.Diagnostics.Stage stage)
    {
        public long Stamp { get; } = stamp;

        public int Bytes { get; } = bytes;

        public Tolapai.Diagnostics.Stage Stage { get; } = stage;

        public SymCallback Callback { get; } = callback;

        public object? Tag { get; } = tag;

        public CySymSession Session { get; } = session;

        public BufferList? Destination { get; } = destination;
    }

    private sealed class NativeSession(NativeCyInstance instance, in SymSessionSetupData setup, SymCallback? callback, uint deviceId)
        : CySymSession(instance, setup.Algorithm, setup.Direction, setup.Key.Length, callback)
    {
        public uint DeviceId { get; } = deviceId;
    }
}
