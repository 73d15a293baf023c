using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Tolapai.Ixp.Protocol;
using Tolapai.Xen.EventChannel;
using Tolapai.Xen.GrantTable;
using Tolapai.Xen.Memory;
using Tolapai.Xen.Ring;

namespace Tolapai.Ixp.Frontend;

/// <summary>
/// One ring of an ixp device in the guest: submissions and completions. The data path takes
/// no lock and allocates nothing: request ids come from a lock-free free list, every id has a
/// shadow (a copy of the request as written, kept until its response, for resubmission after
/// migration) and, without persistent grants, its own reserved grant references.
/// One thread submits and one thread (the same or the completion thread) completes.
/// </summary>
public sealed unsafe class IxpFrontendQueue
{
    /// <summary>
    /// Request ids of the session re-creations a resume sends ahead of the kept requests: above
    /// every shadow id (ids are opaque to the backend), so they need no free id when every id
    /// is in flight, and their answers never reach <see cref="Handler"/>.
    /// </summary>
    internal const ulong ReplayIdBase = 1UL << 40;

    private readonly IxpFrontend _owner;
    private FrontRing<IxpRequest, IxpResponse> _ring;
    private EventChannelPort _port;
    private readonly GrantTableFrontend _grants;
    private readonly Shadow[] _shadow;
    private readonly IdQueue _freeIds;
    private readonly uint[] _reservedGrefs; // [id * _grefsPerId + k], non-persistent only
    private readonly int _grefsPerId;
    private readonly uint[] _indirectFrames; // [id * _indirectPagesPerId + p]
    private readonly uint[] _indirectGrefs;
    private readonly int _indirectPagesPerId;
    private readonly ushort _backend;
    private byte* _ringAddress;
    private int _suspended; // 1: the ring is being taken away or is gone (suspend): no one but the resume touches it
    private int _submitting; // the submitting thread is between its gate check and its publish
    private int _polling; // the polling thread is between its gate check and the end of its poll
    private int _resumeAnswers;
    private IxpStatus _resumeStatus;
    private long _resubmitted;
    private long _submitted;
    private long _completed;
    private long _retries;
    private long _grantEndFailures;

    [StructLayout(LayoutKind.Sequential)]
    private struct Shadow
    {
        public IxpRequest Request;
        public ulong Tag;
        public int Grants;
        public bool InUse;
    }

    internal IxpFrontendQueue(IxpFrontend owner, int index, byte* ring, long ringBytes, EventChannelPort port, GrantTableFrontend grants,
        ushort backend, int grefsPerId, uint[] reservedGrefs, int indirectPagesPerId, uint[] indirectFrames, uint[] indirectGrefs)
    {
        _owner = owner;
        Index = index;
        _ring = new FrontRing<IxpRequest, IxpResponse>(ring, ringBytes);
        _ringAddress = ring;
        _port = port;
        _grants = grants;
        _backend = backend;
        _grefsPerId = grefsPerId;
        _reservedGrefs = reservedGrefs;
        _indirectPagesPerId = indirectPagesPerId;
        _indirectFrames = indirectFrames;
        _indirectGrefs = indirectGrefs;
        _shadow = new Shadow[_ring.Size];
        _freeIds = new IdQueue((int)_ring.Size);
        for (uint id = 0; id < _ring.Size; id++)
        {
            _freeIds.Push(id);
        }
    }

    /// <summary>Queue number.</summary>
    public int Index { get; }

    /// <summary>Entries in the ring (= request ids).</summary>
    public uint RingSize => _ring.Size;

    /// <summary>This queue's event channel port.</summary>
    public uint Port => _port.Port;

    /// <summary>Called on the completing thread for each response.</summary>
    public IxpCompletionHandler? Handler { get; set; }

    /// <summary>Requests submitted and not yet completed.</summary>
    public int InFlight => (int)_ring.Size - _freeIds.Count;

    /// <summary>Requests put on the ring.</summary>
    public long Submitted => Volatile.Read(ref _submitted);

    /// <summary>Responses handled.</summary>
    public long Completed => Volatile.Read(ref _completed);

    /// <summary>Submissions refused with Retry.</summary>
    public long Retries => Volatile.Read(ref _retries);

    /// <summary>Requests put on a new ring again after a resume (each completes once, whichever ring answers).</summary>
    public long Resubmitted => Volatile.Read(ref _resubmitted);

    /// <summary>Grants the backend still held when their response came (those ids are kept out of use).</summary>
    public long GrantEndFailures => Volatile.Read(ref _grantEndFailures);

    /// <summary>The shadow of an in-flight request id (what was written to the ring): what a resubmission after migration sends again.</summary>
    public IxpRequest ShadowOf(uint id) => _shadow[id].Request;

    /// <summary>True while request <paramref name="id"/> waits for its response.</summary>
    public bool IsInFlight(uint id) => id < (uint)_shadow.Length && _shadow[id].InUse;

    /// <summary>Seed v1: DES over the parameter page in <paramref name="parameterFrame"/> (a <see cref="DesRequestV1"/> the caller filled).</summary>
    public IxpSubmitResult TrySubmitDesV1(uint parameterFrame, bool encrypt, ulong tag)
    {
        if (!EnterSubmit())
        {
            return IxpSubmitResult.NotConnected;
        }

        using SubmitGate gate = new(this);
        if (parameterFrame < _owner.Pages.Memory.FirstDataFrame || parameterFrame >= _owner.Pages.Memory.Pages)
        {
            return IxpSubmitResult.InvalidParam;
        }

        if (!TryBegin(out uint id, out IxpSubmitResult fail))
        {
            return fail;
        }

        ref Shadow s = ref _shadow[id];
        s.Request = default;
        s.Request.Operation = (byte)(encrypt ? IxpOperation.DesEncryptV1 : IxpOperation.DesDecryptV1);
        s.Request.NrSegments = 1;
        s.Request.Id = id;
        uint gref = GrantFor(id, 0, parameterFrame, readOnly: false);
        s.Request.BodyAs<IxpV1Body>().Gref0 = gref;
        s.Grants = _owner.Negotiated.Persistent ? 0 : 1;
        return Publish(id, tag);
    }

    /// <summary>Creates session <paramref name="session"/> in the backend (feature-sessions).</summary>
    public IxpSubmitResult TrySubmitSessionCreate(uint session, IxpAlgorithm algorithm, IxpDirection direction, ReadOnlySpan<byte> key, ulong tag)
    {
        if (!EnterSubmit())
        {
            return IxpSubmitResult.NotConnected;
        }

        using SubmitGate gate = new(this);
        if (!_owner.Negotiated.Sessions || key.Length > IxpSessionCreateBody.MaxKeyBytes)
        {
            return IxpSubmitResult.InvalidParam;
        }

        if (!TryBegin(out uint id, out IxpSubmitResult fail))
        {
            return fail;
        }

        ref Shadow s = ref _shadow[id];
        s.Request = default;
        s.Request.Operation = (byte)IxpOperation.SessionCreate;
        s.Request.Id = id;
        ref IxpSessionCreateBody b = ref s.Request.BodyAs<IxpSessionCreateBody>();
        b.Session = session;
        b.Algorithm = (byte)algorithm;
        b.Direction = (byte)direction;
        b.KeyLength = (byte)key.Length;
        key.CopyTo(b.KeyBytes);
        s.Grants = 0;
        IxpSubmitResult r = Publish(id, tag);
        // The shadow keeps the key only as long as a resubmission could need it.
        return r;
    }

    /// <summary>Destroys session <paramref name="session"/> in the backend.</summary>
    public IxpSubmitResult TrySubmitSessionDestroy(uint session, ulong tag)
    {
        if (!EnterSubmit())
        {
            return IxpSubmitResult.NotConnected;
        }

        using SubmitGate gate = new(this);
        if (!_owner.Negotiated.Sessions)
        {
            return IxpSubmitResult.InvalidParam;
        }

        if (!TryBegin(out uint id, out IxpSubmitResult fail))
        {
            return fail;
        }

        ref Shadow s = ref _shadow[id];
        s.Request = default;
        s.Request.Operation = (byte)IxpOperation.SessionDestroy;
        s.Request.Id = id;
        s.Request.BodyAs<IxpSessionDestroyBody>().Session = session;
        s.Grants = 0;
        return Publish(id, tag);
    }

    /// <summary>
    /// Ciphers the bytes of <paramref name="source"/> with a session, into
    /// <paramref name="destination"/> (empty: in place). Inline up to 8 segments, else indirect
    /// when negotiated.
    /// </summary>
    public IxpSubmitResult TrySubmitCipher(uint session, ReadOnlySpan<byte> iv, ReadOnlySpan<IxpBuffer> source, ReadOnlySpan<IxpBuffer> destination, ulong tag)
    {
        if (!EnterSubmit())
        {
            return IxpSubmitResult.NotConnected;
        }

        using SubmitGate gate = new(this);
        int total = source.Length + destination.Length;
        IxpNegotiated n = _owner.Negotiated;
        bool indirect = total > Math.Min(IxpCipherBody.MaxSegments, _owner.Features.MaxSegments);
        if (!n.Sessions || source.IsEmpty || iv.Length > IxpCipherBody.IvBytes
            || (indirect && total > n.MaxIndirectSegments)
            || (!n.Persistent && total > _grefsPerId))
        {
            return IxpSubmitResult.InvalidParam;
        }

        uint srcBytes = 0, dstBytes = 0;
        uint firstData = _owner.Pages.Memory.FirstDataFrame, frames = _owner.Pages.Memory.Pages;
        foreach (IxpBuffer b in source)
        {
            if (b.Length == 0 || b.Offset + b.Length > GuestMemory.PageSize || b.Frame < firstData || b.Frame >= frames)
            {
                return IxpSubmitResult.InvalidParam;
            }

            srcBytes += b.Length;
        }

        foreach (IxpBuffer b in destination)
        {
            if (b.Length == 0 || b.Offset + b.Length > GuestMemory.PageSize || b.Frame < firstData || b.Frame >= frames)
            {
                return IxpSubmitResult.InvalidParam;
            }

            dstBytes += b.Length;
        }

        if (!destination.IsEmpty && dstBytes != srcBytes)
        {
            return IxpSubmitResult.InvalidParam;
        }

        if (!TryBegin(out uint id, out IxpSubmitResult fail))
        {
            return fail;
        }

        ref Shadow s = ref _shadow[id];
        s.Request = default;
        s.Request.Id = id;
        Span<IxpSegment> segs;
        if (!indirect)
        {
            s.Request.Operation = (byte)IxpOperation.Cipher;
            s.Request.NrSegments = (byte)total;
            ref IxpCipherBody b = ref s.Request.BodyAs<IxpCipherBody>();
            b.Session = session;
            b.NrSrc = (ushort)source.Length;
            b.NrDst = (ushort)destination.Length;
            b.MessageLength = srcBytes;
            iv.CopyTo(b.IvBytesSpan);
            segs = b.Segments;
        }
        else
        {
            int pages = (total + IxpSegment.PerPage - 1) / IxpSegment.PerPage;
            s.Request.Operation = (byte)IxpOperation.CipherIndirect;
            s.Request.NrSegments = (byte)pages;
            ref IxpCipherIndirectBody b = ref s.Request.BodyAs<IxpCipherIndirectBody>();
            b.Session = session;
            b.NrSrc = (ushort)source.Length;
            b.NrDst = (ushort)destination.Length;
            b.MessageLength = srcBytes;
            iv.CopyTo(b.IvBytesSpan);
            for (int p = 0; p < pages; p++)
            {
                b.IndirectGrefs[p] = _indirectGrefs[(id * _indirectPagesPerId) + p];
            }

            // The id's indirect pages are consecutive in this view only page by page.
            segs = default;
        }

        bool inPlace = destination.IsEmpty;
        int k = 0;
        bool granted = true;
        for (int i = 0; i < source.Length; i++, k++)
        {
            granted &= WriteSegment(id, indirect, segs, k, source[i], readOnly: !inPlace);
        }

        for (int i = 0; i < destination.Length; i++, k++)
        {
            granted &= WriteSegment(id, indirect, segs, k, destination[i], readOnly: false);
        }

        if (!granted)
        {
            // Persistent grants only: the grant table is full. Nothing was published; the id goes back.
            s.InUse = false;
            _freeIds.Push(id);
            return IxpSubmitResult.NoGrants;
        }

        s.Grants = n.Persistent ? 0 : total;
        return Publish(id, tag);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool WriteSegment(uint id, bool indirect, Span<IxpSegment> inline, int k, IxpBuffer buffer, bool readOnly)
    {
        IxpSegment seg = new() { Gref = GrantFor(id, k, buffer.Frame, readOnly), Offset = buffer.Offset, Length = buffer.Length };
        if (!indirect)
        {
            inline[k] = seg;
        }
        else
        {
            uint page = _indirectFrames[(id * _indirectPagesPerId) + (k / IxpSegment.PerPage)];
            IxpSegment* table = (IxpSegment*)_owner.Pages.Address(page);
            table[k % IxpSegment.PerPage] = seg;
            _owner.Pages.Memory.MarkDirty(page); // guest memory a resubmission after a migration reads again
        }

        return seg.Gref != 0; // reference 0 is reserved: never a grant of ours
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private uint GrantFor(uint id, int k, uint frame, bool readOnly)
    {
        if (_owner.Negotiated.Persistent)
        {
            return _owner.PersistentGref(frame);
        }

        uint gref = _reservedGrefs[(id * _grefsPerId) + k];
        _grants.GrantForeignAccessRef(gref, _backend, frame, readOnly);
        return gref;
    }

    /// <summary>
    /// The submitting thread's gate: announces itself (a full barrier), then checks that the
    /// ring is there. A suspend sets <c>_suspended</c> and then waits for <c>_submitting</c> to
    /// clear, so no submission ever writes into a ring being taken away (Dekker's handshake).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool EnterSubmit()
    {
        Interlocked.Exchange(ref _submitting, 1);
        if (Volatile.Read(ref _suspended) != 0 || !_owner.IsConnected)
        {
            Volatile.Write(ref _submitting, 0);
            return false;
        }

        return true;
    }

    /// <summary>Leaves the submitting thread's gate when disposed (the end of a submission that passed <see cref="EnterSubmit"/>).</summary>
    private readonly ref struct SubmitGate(IxpFrontendQueue queue)
    {
        public void Dispose() => Volatile.Write(ref queue._submitting, 0);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool EnterPoll()
    {
        Interlocked.Exchange(ref _polling, 1);
        if (Volatile.Read(ref _suspended) != 0)
        {
            Volatile.Write(ref _polling, 0);
            return false;
        }

        return true;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool TryBegin(out uint id, out IxpSubmitResult fail)
    {
        if (!_freeIds.TryPop(out id))
        {
            Interlocked.Increment(ref _retries);
            fail = IxpSubmitResult.Retry;
            return false;
        }

        fail = IxpSubmitResult.Submitted;
        return true;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private IxpSubmitResult Publish(uint id, ulong tag)
    {
        ref Shadow s = ref _shadow[id];
        s.Tag = tag;
        s.InUse = true;
        // Holding an id means a slot is free: ids = slots, and a response is consumed before its id is freed.
        _ring.NextRequestSlot() = s.Request;
        _ring.CommitRequest();
        Interlocked.Increment(ref _submitted);
        if (_ring.PushRequestsAndCheckNotify())
        {
            _ = _port.Notify();
        }

        return IxpSubmitResult.Submitted;
    }

    /// <summary>Tests and hostile guests: puts <paramref name="request"/> on the ring as is (its id replaced by a free one); returns the id used or −1.</summary>
    internal long SubmitRaw(IxpRequest request, ulong tag)
    {
        if (!EnterSubmit())
        {
            return -1;
        }

        using SubmitGate gate = new(this);
        if (!TryBegin(out uint id, out _))
        {
            return -1;
        }

        ref Shadow s = ref _shadow[id];
        s.Request = request;
        s.Request.Id = id;
        s.Grants = 0;
        _ = Publish(id, tag);
        return id;
    }

    /// <summary>
    /// Suspend, step 1: closes both gates and waits until neither the submitting nor the
    /// polling thread is inside; from now on only the suspend/resume touches the ring.
    /// </summary>
    internal void Quiesce()
    {
        Volatile.Write(ref _suspended, 1);
        Interlocked.MemoryBarrier();
        SpinWait.SpinUntil(() => Volatile.Read(ref _submitting) == 0 && Volatile.Read(ref _polling) == 0);
    }

    /// <summary>Suspend: takes the responses a closing backend wrote (callbacks run on the suspending thread).</summary>
    internal int PollQuiesced() => PollCore(int.MaxValue);

    /// <summary>Resume: the queue's new ring (initialised, granted) and event channel.</summary>
    internal void Attach(byte* ring, long ringBytes, EventChannelPort port)
    {
        var next = new FrontRing<IxpRequest, IxpResponse>(ring, ringBytes);
        if (next.Size != _ring.Size)
        {
            throw new IxpException($"queue {Index}: the new ring has {next.Size} entries, the old one {_ring.Size}");
        }

        _ring = next;
        _ringAddress = ring;
        _port = port;
    }

    /// <summary>
    /// Resume: re-creates a session the backend had, on the new ring before anything else (the
    /// ring is empty then; at most one ring's worth at a time — the caller waits for answers).
    /// </summary>
    internal void ReplaySessionCreate(uint session, IxpAlgorithm algorithm, IxpDirection direction, ReadOnlySpan<byte> key, uint k)
    {
        IxpRequest r = default;
        r.Operation = (byte)IxpOperation.SessionCreate;
        r.Id = ReplayIdBase + k;
        ref IxpSessionCreateBody b = ref r.BodyAs<IxpSessionCreateBody>();
        b.Session = session;
        b.Algorithm = (byte)algorithm;
        b.Direction = (byte)direction;
        b.KeyLength = (byte)key.Length;
        key.CopyTo(b.KeyBytes);
        _ring.NextRequestSlot() = r;
        _ring.CommitRequest();
        b.KeyBytes.Clear();
        if (_ring.PushRequestsAndCheckNotify())
        {
            _ = _port.Notify();
        }
    }

    /// <summary>Answers to <see cref="ReplaySessionCreate"/> so far, and the last bad status among them (Okay if none).</summary>
    internal (int Answers, IxpStatus Status) ResumeAnswers => (Volatile.Read(ref _resumeAnswers), _resumeStatus);

    /// <summary>
    /// Resume: every request still in flight (its shadow kept, its grants re-pointed at the new
    /// backend) goes on the new ring again, as blkfront's blkif_recover does. Returns how many.
    /// </summary>
    internal int Resubmit()
    {
        int n = 0;
        for (uint id = 0; id < _shadow.Length; id++)
        {
            ref Shadow s = ref _shadow[id];
            if (!s.InUse)
            {
                continue;
            }

            _ring.NextRequestSlot() = s.Request;
            _ring.CommitRequest();
            n++;
        }

        Interlocked.Add(ref _resubmitted, n);
        if (_ring.PushRequestsAndCheckNotify() || n > 0)
        {
            _ = _port.Notify();
        }

        return n;
    }

    /// <summary>Resume, last step: the submitting and polling threads may use the new ring.</summary>
    internal void Reopen()
    {
        _resumeAnswers = 0;
        _resumeStatus = IxpStatus.Okay;
        Volatile.Write(ref _suspended, 0);
    }

    /// <summary>Tests and hostile guests: the shared ring header and first entry.</summary>
    internal byte* RingAddress => _ringAddress;

    /// <summary>Handles the responses on the ring (up to <paramref name="max"/>); returns how many (0 while the device is suspended).</summary>
    public int Poll(int max = int.MaxValue)
    {
        if (!EnterPoll())
        {
            return 0;
        }

        try
        {
            return PollCore(max);
        }
        finally
        {
            Volatile.Write(ref _polling, 0);
        }
    }

    private int PollCore(int max)
    {
        int n = 0;
        while (n < max && _ring.TryTakeResponse(out IxpResponse rsp) == RingStatus.Ok)
        {
            n++;
            if (rsp.Id >= ReplayIdBase && Volatile.Read(ref _suspended) != 0)
            {
                // A session re-created during a resume (only the resume polls then).
                if (rsp.Status != (short)IxpStatus.Okay)
                {
                    _resumeStatus = (IxpStatus)rsp.Status;
                }

                Interlocked.Increment(ref _resumeAnswers);
                continue;
            }

            if (rsp.Id >= (ulong)_shadow.Length || !_shadow[rsp.Id].InUse)
            {
                _owner.ProtocolViolation($"queue {Index}: a response for id {rsp.Id} that is not in flight");
                continue;
            }

            uint id = (uint)rsp.Id;
            ref Shadow s = ref _shadow[id];
            bool quarantine = false;
            for (int k = 0; k < s.Grants; k++)
            {
                if (!_grants.EndForeignAccessRef(_reservedGrefs[(id * _grefsPerId) + k]))
                {
                    quarantine = true; // still mapped: reusing the reference would clear the busy bits under the backend
                }
            }

            s.InUse = false;
            ulong tag = s.Tag;
            if (s.Request.Operation == (byte)IxpOperation.SessionCreate)
            {
                s.Request.BodyAs<IxpSessionCreateBody>().KeyBytes.Clear();
            }

            if (quarantine)
            {
                Interlocked.Increment(ref _grantEndFailures);
            }
            else
            {
                _freeIds.Push(id);
            }

            Interlocked.Increment(ref _completed);
            Handler?.Invoke(tag, (IxpStatus)rsp.Status, rsp.RespSize);
        }

        // Responses the backend wrote before it closed are taken above; the rest never come —
        // unless the device is suspending: then they are kept and resubmitted after the resume.
        if (n == 0 && _owner.BackendGone && !_owner.IsSuspended && InFlight > 0)
        {
            n = FailInFlight();
        }

        return n;
    }

    /// <summary>The backend closed (or a resume could not reconnect) with requests of ours unanswered: each completes once with DeviceError (nothing is lost silently).</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    internal int FailInFlight()
    {
        int n = 0;
        for (uint id = 0; id < _shadow.Length; id++)
        {
            ref Shadow s = ref _shadow[id];
            if (!s.InUse)
            {
                continue;
            }

            bool quarantine = false;
            for (int k = 0; k < s.Grants; k++)
            {
                quarantine |= !_grants.EndForeignAccessRef(_reservedGrefs[(id * _grefsPerId) + k]);
            }

            s.InUse = false;
            if (!quarantine)
            {
                _freeIds.Push(id);
            }

            Interlocked.Increment(ref _completed);
            n++;
            Handler?.Invoke(s.Tag, IxpStatus.DeviceError, 0);
        }

        return n;
    }

    /// <summary>
    /// Re-arms rsp_event (the final check) and, if nothing arrived meanwhile, waits for the
    /// backend's notification: <paramref name="spinBudget"/> polls then a futex park.
    /// </summary>
    public WaitResult WaitForResponses(int spinBudget, TimeSpan timeout)
    {
        if (!EnterPoll())
        {
            // Suspended: there is no ring to wait on; the caller polls again after a pause.
            Thread.Sleep(1);
            return WaitResult.TimedOut;
        }

        try
        {
            return _ring.FinalCheckForResponses() ? WaitResult.NotifiedSpinning : _port.Wait(spinBudget, timeout);
        }
        finally
        {
            Volatile.Write(ref _polling, 0);
        }
    }

    /// <summary>True when the backend stopped the ring or the ring saw a bogus response index.</summary>
    public bool IsStopped => _ring.IsStopped;
}
