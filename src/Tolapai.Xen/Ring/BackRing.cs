using System.Runtime.CompilerServices;
using Tolapai.Diagnostics;

namespace Tolapai.Xen.Ring;

/// <summary>
/// The backend's view of a shared ring (Xen's <c>struct __name##_back_ring</c>): it consumes
/// requests and produces responses. The frontend controls every shared byte, so every request
/// is copied out once (validate the copy, never the slot), every index is masked, and a
/// req_prod the ring cannot hold (RING_REQUEST_PROD_OVERFLOW) stops this ring only.
/// Not thread-safe: one consumer thread per ring.
/// </summary>
public sealed unsafe class BackRing<TRequest, TResponse>
    where TRequest : unmanaged
    where TResponse : unmanaged
{
    private readonly SharedRingHeader* _sring;
    private readonly byte* _entries;
    private readonly uint _mask;
    private readonly int _entrySize;
    private uint _reqCons;
    private uint _reqProdSeen;
    private uint _rspProdPvt;
    private uint _rspProdPublished;
    private bool _stopped;

    /// <summary>BACK_RING_ATTACH over a ring the frontend initialised; private indexes start at the shared ones.</summary>
    public BackRing(byte* ring, long ringBytes)
    {
        _entrySize = SharedRing.EntrySize<TRequest, TResponse>();
        Size = SharedRing.RingSize(ringBytes, _entrySize);
        if (Size == 0)
        {
            ThrowHelper.ThrowArgument(nameof(ringBytes), $"{ringBytes} bytes cannot hold one {_entrySize}-byte entry after the header.");
        }

        _sring = (SharedRingHeader*)ring;
        _entries = ring + SharedRingHeader.EntriesOffset;
        _mask = Size - 1;
        // rsp_prod is ours: start from it; the requests not yet answered begin there too.
        _rspProdPvt = Volatile.Read(ref _sring->RspProd);
        _rspProdPublished = _rspProdPvt;
        _reqCons = _rspProdPvt;
        _reqProdSeen = _reqCons;
    }

    /// <summary>
    /// Attaches without throwing: false when <paramref name="ringBytes"/> is not a ring page
    /// order's worth of bytes (4096 × 2^0..2^<see cref="SharedRing.MaxPageOrder"/>) — the
    /// check for a frontend that announced a wrong ring size or page order.
    /// </summary>
    public static bool TryAttach(byte* ring, long ringBytes, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out BackRing<TRequest, TResponse>? backRing)
    {
        backRing = null;
        if (ring == null || !SharedRing.IsRingByteCount(ringBytes) || SharedRing.RingSize(ringBytes, SharedRing.EntrySize<TRequest, TResponse>()) == 0)
        {
            return false;
        }

        backRing = new BackRing<TRequest, TResponse>(ring, ringBytes);
        return true;
    }

    /// <summary>RING_SIZE.</summary>
    public uint Size { get; }

    /// <summary>Domain named in this ring's diagnostic events (the owner sets it; -1 when unset).</summary>
    public int DiagnosticDomain { get; set; } = -1;

    /// <summary>Event-channel port named in this ring's diagnostic events (-1 when unset).</summary>
    public int DiagnosticPort { get; set; } = -1;

    /// <summary>req_cons.</summary>
    public uint RequestConsumer => _reqCons;

    /// <summary>rsp_prod_pvt.</summary>
    public uint ResponseProducerPrivate => _rspProdPvt;

    /// <summary>True once the frontend published an impossible req_prod.</summary>
    public bool IsStopped => _stopped;

    /// <summary>The bogus req_prod that stopped the ring (for the log line).</summary>
    public uint BogusRequestProducer { get; private set; }

    /// <summary>
    /// Copies the next request out of the ring, once. Empty when none is published; Full when
    /// req_cons is a ring ahead of rsp_prod_pvt (RING_REQUEST_CONS_OVERFLOW: answer first);
    /// Overflow, and the ring stops, when req_prod is more than a ring ahead of rsp_prod_pvt.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public RingStatus TryTakeRequest(out TRequest request)
    {
        if (_reqCons == _reqProdSeen)
        {
            RingStatus s = Refresh();
            if (s != RingStatus.Ok)
            {
                Unsafe.SkipInit(out request);
                return s;
            }
        }

        if (_reqCons - _rspProdPvt >= Size)
        {
            Unsafe.SkipInit(out request);
            return RingStatus.Full;
        }

        // Copy once: the frontend may rewrite the slot at any time; only this copy is used.
        request = Unsafe.ReadUnaligned<TRequest>(_entries + ((_reqCons & _mask) * (uint)_entrySize));
        _reqCons++;
        return RingStatus.Ok;
    }

    /// <summary>
    /// RING_HAS_UNCONSUMED_REQUESTS with the overflow check: how many requests can be taken now.
    /// 0 when stopped.
    /// </summary>
    public uint UnconsumedRequests
    {
        get
        {
            if (Refresh() == RingStatus.Overflow)
            {
                return 0;
            }

            uint req = _reqProdSeen - _reqCons;
            uint rsp = Size - (_reqCons - _rspProdPvt);
            return req < rsp ? req : rsp;
        }
    }

    /// <summary>
    /// Writes a response into the next response slot (RING_GET_RESPONSE at rsp_prod_pvt).
    /// Full when there is no request this would answer.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public RingStatus TryWriteResponse(in TResponse response)
    {
        if (_rspProdPvt == _reqCons)
        {
            return RingStatus.Full;
        }

        Unsafe.WriteUnaligned(_entries + ((_rspProdPvt & _mask) * (uint)_entrySize), response);
        _rspProdPvt++;
        return RingStatus.Ok;
    }

    /// <summary>RING_PUSH_RESPONSES_AND_CHECK_NOTIFY: publishes rsp_prod_pvt; true if the frontend asked to be notified.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool PushResponsesAndCheckNotify()
    {
        uint old = _rspProdPublished;
        uint next = _rspProdPvt;
        if (old == next)
        {
            return false;
        }

        _rspProdPublished = next;
        // Release: the response slots are written before rsp_prod says they are.
        Volatile.Write(ref _sring->RspProd, next);
        // Full fence: rsp_prod is visible before rsp_event is read (pairs with the frontend's final check).
        Interlocked.MemoryBarrier();
        bool notify = SharedRing.NeedsNotify(old, next, Volatile.Read(ref _sring->RspEvent));
        if (DataPlaneCounters.Enabled)
        {
            DataPlaneCounters.OnPublish(notify, occupancy: -1, DiagnosticDomain, DiagnosticPort);
        }

        return notify;
    }

    /// <summary>
    /// RING_FINAL_CHECK_FOR_REQUESTS: if nothing is left, re-arm req_event = req_cons + 1,
    /// fence, and look again. False means: sleep, the frontend will notify.
    /// </summary>
    public bool FinalCheckForRequests()
    {
        if (UnconsumedRequests != 0 || _stopped)
        {
            return !_stopped;
        }

        // Release: asks the frontend to notify when req_prod passes req_cons.
        Volatile.Write(ref _sring->ReqEvent, _reqCons + 1);
        // Full fence: req_event is visible before req_prod is re-read (pairs with the frontend's push).
        Interlocked.MemoryBarrier();
        return UnconsumedRequests != 0;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private RingStatus Refresh()
    {
        if (_stopped)
        {
            return RingStatus.Overflow;
        }

        // Acquire: request slots are read after the req_prod that published them.
        uint prod = Volatile.Read(ref _sring->ReqProd);
        // RING_REQUEST_PROD_OVERFLOW: more requests than the ring has room for beyond the
        // responses we produced. Also catches req_prod moved backwards (it wraps to huge).
        if (prod - _rspProdPvt > Size || prod - _reqCons > Size)
        {
            BogusRequestProducer = prod;
            _stopped = true;
            XenEventSource.Log.RingRequestOverflow(prod, _rspProdPvt, Size);
            return RingStatus.Overflow;
        }

        _reqProdSeen = prod;
        return prod == _reqCons ? RingStatus.Empty : RingStatus.Ok;
    }
}
