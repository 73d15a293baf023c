using System.Runtime.CompilerServices;
using Tolapai.Diagnostics;

namespace Tolapai.Xen.Ring;

/// <summary>
/// The frontend's view of a shared ring (Xen's <c>struct __name##_front_ring</c>): it produces
/// requests and consumes responses. Private indexes live in this object, in this process only.
/// Not thread-safe: one producer thread per ring, as in Xen.
/// </summary>
public sealed unsafe class FrontRing<TRequest, TResponse>
    where TRequest : unmanaged
    where TResponse : unmanaged
{
    private readonly SharedRingHeader* _sring;
    private readonly byte* _entries;
    private readonly uint _mask;
    private readonly int _entrySize;
    private uint _reqProdPvt;
    private uint _reqProdPublished;
    private uint _rspCons;
    private uint _rspProdSeen;
    private bool _stopped;

    /// <summary>
    /// FRONT_RING_ATTACH over <paramref name="ringBytes"/> bytes at <paramref name="ring"/>, which the caller
    /// has initialised (<see cref="SharedRing.Initialize"/>) or is re-attaching to; private
    /// indexes start at the shared ones (a ring may start at any index value).
    /// </summary>
    public FrontRing(byte* ring, long ringBytes)
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
        _rspCons = Volatile.Read(ref _sring->RspProd);
        _rspProdSeen = _rspCons;
        _reqProdPvt = Volatile.Read(ref _sring->ReqProd);
        _reqProdPublished = _reqProdPvt;
    }

    /// <summary>RING_SIZE: entries in the ring.</summary>
    public uint Size { get; }

    /// <summary>Domain named in this ring's diagnostic events (the owner sets it; -1 when unset).</summary>
    public int DiagnosticDomain { get; set; } = -1;

    /// <summary>Event-channel port named in this ring's diagnostic events (-1 when unset).</summary>
    public int DiagnosticPort { get; set; } = -1;

    /// <summary>Bytes per entry (the request/response union).</summary>
    public int EntrySize => _entrySize;

    /// <summary>req_prod_pvt: requests written, published or not.</summary>
    public uint RequestProducerPrivate => _reqProdPvt;

    /// <summary>rsp_cons: responses consumed.</summary>
    public uint ResponseConsumer => _rspCons;

    /// <summary>True after the backend published a response index the ring cannot hold.</summary>
    public bool IsStopped => _stopped;

    /// <summary>RING_FREE_REQUESTS.</summary>
    public uint FreeRequests => Size - (_reqProdPvt - _rspCons);

    /// <summary>RING_FULL.</summary>
    public bool IsFull => FreeRequests == 0;

    /// <summary>Requests written or published whose response has not been consumed.</summary>
    public uint InFlight => _reqProdPvt - _rspCons;

    /// <summary>
    /// Writes <paramref name="request"/> into the next free slot (RING_GET_REQUEST at
    /// req_prod_pvt, then req_prod_pvt++). Not visible to the backend until a push.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryWriteRequest(in TRequest request)
    {
        if (_reqProdPvt - _rspCons >= Size)
        {
            return false;
        }

        Unsafe.WriteUnaligned(_entries + ((_reqProdPvt & _mask) * (uint)_entrySize), request);
        _reqProdPvt++;
        return true;
    }

    /// <summary>
    /// The next free slot, for filling in place (zero copy of large requests); call
    /// <see cref="CommitRequest"/> after. Only valid when not <see cref="IsFull"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ref TRequest NextRequestSlot() => ref Unsafe.AsRef<TRequest>(_entries + ((_reqProdPvt & _mask) * (uint)_entrySize));

    /// <summary>Counts the slot from <see cref="NextRequestSlot"/> as written.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void CommitRequest() => _reqProdPvt++;

    /// <summary>
    /// RING_PUSH_REQUESTS_AND_CHECK_NOTIFY: publishes req_prod_pvt and says whether the backend
    /// asked to be notified (its req_event lies in the published range).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool PushRequestsAndCheckNotify()
    {
        uint old = _reqProdPublished;
        uint next = _reqProdPvt;
        if (old == next)
        {
            return false;
        }

        _reqProdPublished = next;
        // Release: the slots are written before req_prod says they are.
        Volatile.Write(ref _sring->ReqProd, next);
        // Full fence (Xen's mb()): req_prod is visible before we read req_event; pairs with the
        // backend's final check (req_event store, fence, req_prod load). Without it both sides
        // can miss each other and the backend sleeps on work.
        Interlocked.MemoryBarrier();
        bool notify = SharedRing.NeedsNotify(old, next, Volatile.Read(ref _sring->ReqEvent));
        if (DataPlaneCounters.Enabled)
        {
            DataPlaneCounters.OnPublish(notify, next - _rspCons, DiagnosticDomain, DiagnosticPort);
        }

        return notify;
    }

    /// <summary>RING_PUSH_REQUESTS: publishes without the notify check (release store).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void PushRequests()
    {
        _reqProdPublished = _reqProdPvt;
        Volatile.Write(ref _sring->ReqProd, _reqProdPvt);
    }

    /// <summary>
    /// Copies the next response out of the ring. Empty when none is published, Overflow (and
    /// the ring stops) when rsp_prod claims more responses than requests published
    /// (RING_RESPONSE_PROD_OVERFLOW's intent: the backend is not trusted blindly either).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public RingStatus TryTakeResponse(out TResponse response)
    {
        // rsp_prod is re-read only once the responses already seen are consumed, so a batch
        // costs one read of the backend's line, not one per response.
        if (_rspCons == _rspProdSeen)
        {
            RingStatus s = RefreshResponses();
            if (s != RingStatus.Ok)
            {
                Unsafe.SkipInit(out response);
                return s;
            }
        }

        response = Unsafe.ReadUnaligned<TResponse>(_entries + ((_rspCons & _mask) * (uint)_entrySize));
        _rspCons++;
        return RingStatus.Ok;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private RingStatus RefreshResponses()
    {
        if (_stopped)
        {
            return RingStatus.Overflow;
        }

        // Acquire: the response slots are read after the rsp_prod that published them.
        uint prod = Volatile.Read(ref _sring->RspProd);
        // A response for a request never published (or an index gone backwards) is impossible.
        if (prod - _rspCons > _reqProdPublished - _rspCons)
        {
            _stopped = true;
            XenEventSource.Log.RingResponseOverflow(prod, _rspCons, _reqProdPublished);
            return RingStatus.Overflow;
        }

        _rspProdSeen = prod;
        return prod == _rspCons ? RingStatus.Empty : RingStatus.Ok;
    }

    /// <summary>RING_HAS_UNCONSUMED_RESPONSES (acquire read of rsp_prod).</summary>
    public uint UnconsumedResponses => Volatile.Read(ref _sring->RspProd) - _rspCons;

    /// <summary>
    /// RING_FINAL_CHECK_FOR_RESPONSES: if nothing is left, re-arm rsp_event = rsp_cons + 1,
    /// fence, and look again, so a response published meanwhile is not slept on.
    /// </summary>
    public bool FinalCheckForResponses()
    {
        if (UnconsumedResponses != 0)
        {
            return true;
        }

        // Release: asks the backend to notify for the next response.
        Volatile.Write(ref _sring->RspEvent, _rspCons + 1);
        // Full fence: rsp_event is visible before rsp_prod is re-read (pairs with the backend's push).
        Interlocked.MemoryBarrier();
        return UnconsumedResponses != 0;
    }

}
