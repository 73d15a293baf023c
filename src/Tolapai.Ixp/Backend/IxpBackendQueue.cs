using Tolapai.Faults;
using Tolapai.Ixp.Protocol;
using Tolapai.Xen.EventChannel;
using Tolapai.Xen.Ring;

namespace Tolapai.Ixp.Backend;

/// <summary>
/// One ring of a guest's device (blkback's xen_blkif_ring): takes
/// requests (each copied out of the ring once, rule 1; indexes checked, rule 2), maps their
/// grants (rule 3), submits them to the driver, and answers on the ring as the driver
/// completes them, notifying only when the frontend asked (the rsp_event rule). A
/// <see cref="IxpBackendWorker"/> gives each of its queues a turn in round robin.
/// </summary>
public sealed unsafe partial class IxpBackendQueue
{
    private static object? s_allocSink; // the alloc-backend fault's objects, kept reachable

    private readonly IxpBackendDevice _device;
    private readonly BackRing<IxpRequest, IxpResponse> _ring;
    private readonly EventChannelPort _port;
    private readonly Pending[] _pending;
    private readonly Pending[] _free;
    private readonly CompletionQueue<Pending> _completions;
    private int _freeCount;
    private Pending? _stalled; // taken and mapped, refused by the driver with Retry: submitted again first
    private volatile bool _stop;
    private volatile bool _released;
    private long _drainDeadline;
    private long _served;
    private long _notifies;
    private long _parks;

    internal IxpBackendQueue(IxpBackendDevice device, int index, byte* ring, long ringBytes, EventChannelPort port)
    {
        _device = device;
        Index = index;
        _ring = new BackRing<IxpRequest, IxpResponse>(ring, ringBytes);
        _port = port;
        int maxSegments = Math.Max(IxpCipherBody.MaxSegments, device.Options.MaxIndirectSegments);
        _pending = new Pending[_ring.Size];
        _free = new Pending[_ring.Size];
        for (int i = 0; i < _pending.Length; i++)
        {
            _pending[i] = new Pending(this, maxSegments);
            _free[_freeCount++] = _pending[i];
        }

        _completions = new CompletionQueue<Pending>((int)_ring.Size);
    }

    /// <summary>Queue number.</summary>
    public int Index { get; }

    /// <summary>Responses written.</summary>
    public long Served => Interlocked.Read(ref _served);

    /// <summary>Notifications sent to the frontend.</summary>
    public long Notifies => Interlocked.Read(ref _notifies);

    /// <summary>Times the service thread parked.</summary>
    public long Parks => Interlocked.Read(ref _parks);

    /// <summary>Requests at the driver.</summary>
    public int InFlight => _pending.Length - Volatile.Read(ref _freeCount);

    internal IxpBackendDevice Device => _device;

    /// <summary>The worker serving this queue.</summary>
    internal IxpBackendWorker? Worker { get; set; }

    /// <summary>This queue's event channel (the worker parks on it).</summary>
    internal EventChannelPort Port => _port;

    /// <summary>Set by the device: take no more requests; finish what is at the driver.</summary>
    internal void RequestStop() => _stop = true;

    /// <summary>True once the worker let go of this queue: nothing at the driver, never touched again.</summary>
    internal bool IsReleased => _released;

    /// <summary>The driver's completion: any thread. The response is written by the worker.</summary>
    internal void OnDriverComplete(Pending p, IxpStatus status)
    {
        p.DriverStatus = (int)status;
        _ = _completions.TryPush(p); // capacity = ring size ≥ pending entries: never full
    }

    /// <summary>
    /// One turn of the worker on this ring: answers completed requests, takes up to
    /// <paramref name="batch"/> new ones, publishes responses (notifying if asked). Returns
    /// the work done; a queue that is stopping and has nothing in flight is released (-1).
    /// </summary>
    internal int Turn(int batch)
    {
        // Test-only (TOLAPAI_TEST_FAULTS): a slower backend also takes longer to answer what the
        // driver completed, before the responses are published, as slower code would.
        long faultStart = TestFaults.SlowBackend != 1 ? System.Diagnostics.Stopwatch.GetTimestamp() : 0;
        int work = DrainCompletions();
        if (TestFaults.SlowBackend != 1 && work > 0)
        {
            TestFaults.Burn(faultStart, TestFaults.SlowBackend);
        }

        if (_stop)
        {
            if (_stalled is { } stalled)
            {
                // Never reached the driver: answer it now rather than wait for a drain that cannot come.
                _stalled = null;
                Finish(stalled, IxpStatus.Busy);
            }

            if (_ring.PushResponsesAndCheckNotify())
            {
                _ = _port.Notify();
            }

            if (InFlight == 0 || Environment.TickCount64 > ReleaseDeadline())
            {
                _released = true;
                return -1;
            }

            return work;
        }

        work += TakeRequests(batch);
        if (_ring.PushResponsesAndCheckNotify())
        {
            _notifies++;
            _ = _port.Notify();
        }

        if (_ring.IsStopped)
        {
            _device.Fail($"queue {Index}: bogus req_prod {_ring.BogusRequestProducer} (rsp_prod_pvt {_ring.ResponseProducerPrivate}, ring {_ring.Size})");
            _stop = true;
        }

        return work;
    }

    /// <summary>Returns the staging buffers of the <c>copy-backend</c> test fault to the driver, once nothing of this queue is at the device.</summary>
    internal void FreeStaging()
    {
        foreach (Pending p in _pending)
        {
            _device.Backend.Driver.FreeStaging(p);
        }
    }

    /// <summary>After an internal error: this queue is dropped by its worker at once.</summary>
    internal void Abandon()
    {
        _stop = true;
        _released = true;
    }

    /// <summary>True while requests are at the driver or one waits to be submitted again.</summary>
    internal bool Busy => InFlight > 0 || _stalled is not null;

    /// <summary>The final check before parking: re-arms req_event; true if requests came meanwhile.</summary>
    internal bool FinalCheck() => !_stop && _ring.FinalCheckForRequests();

    internal void CountPark() => _parks++;

    private long ReleaseDeadline()
    {
        if (_drainDeadline == 0)
        {
            _drainDeadline = Environment.TickCount64 + (long)_device.Options.DrainTimeout.TotalMilliseconds;
        }

        return _drainDeadline;
    }

    private int DrainCompletions()
    {
        int n = 0;
        while (_completions.TryPop(out Pending? p))
        {
            Finish(p!, (IxpStatus)p!.DriverStatus);
            n++;
        }

        return n;
    }

    private int TakeRequests(int batch)
    {
        int n = 0;
        if (_stalled is { } s)
        {
            // Waiting for room under max-requests, or for the driver's ring.
            if (!s.HoldsOutstanding)
            {
                if (!_device.TryTakeOutstanding())
                {
                    return 0;
                }

                s.HoldsOutstanding = true;
            }

            IxpStatus st = _device.Backend.Driver.Submit(s);
            if (st == IxpStatus.Busy)
            {
                return 0;
            }

            _stalled = null;
            if (st != IxpStatus.Okay)
            {
                Finish(s, _device.Refuse(st, "driver: " + _device.Backend.Driver.Instance.LastError));
            }

            n++;
        }

        while (n < batch && _freeCount > 0)
        {
            // Test-only (TOLAPAI_TEST_FAULTS): a slower backend takes longer to take and prepare a
            // request, so the driver sees it later, as it would with slower code.
            long faultStart = TestFaults.SlowBackend != 1 ? System.Diagnostics.Stopwatch.GetTimestamp() : 0;
            RingStatus rs = _ring.TryTakeRequest(out IxpRequest req);
            if (rs != RingStatus.Ok)
            {
                break;
            }

            n++;
            Pending p = _free[--_freeCount];
            p.Id = req.Id;
            p.Operation = (IxpOperation)req.Operation;
            p.Length = 0;
            p.SessionSlot = -1;
            p.NrSrc = 0;
            p.NrDst = 0;
            p.DriverSession = null;
            p.Session = null;
            p.HoldsOutstanding = false;
            IxpStatus status = Prepare(ref req, p, out bool submit);
            if (TestFaults.SlowBackend != 1)
            {
                TestFaults.Burn(faultStart, TestFaults.SlowBackend);
            }

            if (status == IxpStatus.Okay && submit)
            {
                if (!_device.TryTakeOutstanding())
                {
                    // max-requests: this one waits here, the rest in the guest's ring. Session
                    // operations never wait: they do not go to the driver.
                    _stalled = p;
                    break;
                }

                p.HoldsOutstanding = true;
                status = _device.Backend.Driver.Submit(p);
                if (status == IxpStatus.Busy)
                {
                    _stalled = p;
                    break;
                }

                if (status == IxpStatus.Okay)
                {
                    continue; // answered when the driver completes it
                }

                status = _device.Refuse(status, "driver: " + _device.Backend.Driver.Instance.LastError);
            }

            Finish(p, status);
        }

        return n;
    }

    /// <summary>Answers a request: unmaps its per-request grants, writes the response, frees its entry.</summary>
    internal void Finish(Pending p, IxpStatus status)
    {
        if (p.Staged)
        {
            // The copy-backend test fault: the result is in the backend's buffer, not yet in the guest's pages.
            if (status == IxpStatus.Okay)
            {
                _device.Backend.Driver.CopyOutStaged(p);
            }

            p.Staged = false;
        }

        for (int i = 0; i < p.NrSrc; i++)
        {
            _device.UnmapSegment(ref p.Source[i]);
        }

        for (int i = 0; i < p.NrDst; i++)
        {
            _device.UnmapSegment(ref p.Destination[i]);
        }

        p.NrSrc = 0;
        p.NrDst = 0;
        if (p.SessionSlot >= 0)
        {
            _device.ReleaseSession(p.SessionSlot);
            p.SessionSlot = -1;
        }

        if (p.DriverSession is { } v1)
        {
            _device.Backend.Driver.RemoveSession(v1);
            p.DriverSession = null;
        }

        // Rule 4: the response is built whole (pad zero), nothing else reaches shared memory.
        IxpResponse rsp = new() { Id = p.Id, Operation = (byte)p.Operation, Status = (short)status, RespSize = status == IxpStatus.Okay ? p.Length : 0 };
        _ = _ring.TryWriteResponse(rsp); // a slot is free: this request's own
        _served++;
        _device.Backend.CountResponse();
        if (status == IxpStatus.Okay && p.Length != 0)
        {
            _device.Backend.CountPayloadServed(p.Length);
        }

        if (Faults.TestFaults.AllocBackend)
        {
            // Escapes to a static, so the JIT cannot place it on the stack: a real heap allocation.
            Volatile.Write(ref s_allocSink, new object());
        }

        _free[_freeCount++] = p;
        if (p.HoldsOutstanding)
        {
            p.HoldsOutstanding = false;
            _device.ReturnOutstanding();
        }
    }
}
