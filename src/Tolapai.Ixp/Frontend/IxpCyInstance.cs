using System.Buffers.Binary;
using Tolapai.Cpa;
using Tolapai.Ixp.Protocol;
using Tolapai.Xen.Memory;

namespace Tolapai.Ixp.Frontend;

/// <summary>
/// The "split" CPA binding: the same <see cref="ICySymInstance"/> an application uses on the
/// native driver, served through one queue of an ixp frontend. Buffer lists live in the
/// guest's own pages (granted to the backend, persistently when negotiated), so a request
/// carries only grant references: the payload is never copied. There is no copying path to
/// count: a buffer that is not this guest's own memory at the frames it names (a list of
/// another instance, or one built over other memory) is refused with InvalidParam, never
/// staged into granted pages. Sessions are created once in
/// the backend (feature-sessions); an operation carries the session slot, IV and segments.
/// One submitting thread and one polling thread at a time (the CPA rule); in Interrupt mode a
/// completion thread woken by the event channel delivers the callbacks.
/// </summary>
public sealed class IxpCyInstance : CySymInstance
{
    private const ulong ControlTag = 1UL << 63;
    private readonly IxpFrontend _frontend;
    private readonly IxpFrontendQueue _queue;
    private readonly OpContext[] _contexts;
    private readonly IdQueue _freeContexts;
    private readonly Thread? _completionThread;
    private volatile bool _stopping;
    private volatile int _controlDone;
    private IxpStatus _controlStatus;

    private sealed class OpContext
    {
        public SymCallback? Callback;
        public object? Tag;
        public CySymSession? Session;
        public BufferList? Destination;
        public long Stamp;
        public int Bytes;
    }

    /// <summary>A session of the split binding: its slot in the backend's session table.</summary>
    public sealed class IxpSession : CySymSession
    {
        internal IxpSession(ICySymInstance instance, in SymSessionSetupData setup, SymCallback? callback, uint slot)
            : base(instance, setup.Algorithm, setup.Direction, setup.Key.Length, callback) => Slot = slot;

        /// <summary>The backend's session slot.</summary>
        public uint Slot { get; }
    }

    private IxpCyInstance(IxpFrontend frontend, IxpFrontendQueue queue, CompletionMode mode)
        : base($"ixp-split dom{frontend.DomId} q{queue.Index}", mode)
    {
        _frontend = frontend;
        _queue = queue;
        _contexts = new OpContext[queue.RingSize];
        _freeContexts = new IdQueue((int)queue.RingSize);
        for (uint i = 0; i < _contexts.Length; i++)
        {
            _contexts[i] = new OpContext();
            _freeContexts.Push(i);
        }

        queue.Handler = OnResponse;
        if (mode == CompletionMode.Interrupt)
        {
            _completionThread = new Thread(CompletionLoop) { IsBackground = true, Name = Name + " completions" };
            _completionThread.Start();
        }
    }

    /// <summary>
    /// The split binding on queue <paramref name="queue"/> of a Connected (or suspended) frontend. Fails
    /// (Unsupported) when the backend does not offer sessions: protocol v1 cannot carry CPA's
    /// algorithms and buffer lists.
    /// </summary>
    public static CpaStatus Create(IxpFrontend frontend, int queue, CompletionMode mode, out IxpCyInstance? instance)
    {
        ArgumentNullException.ThrowIfNull(frontend);
        instance = null;
        if (!frontend.Negotiated.Sessions)
        {
            return CpaStatus.Unsupported;
        }

        if ((uint)queue >= (uint)frontend.Queues.Count)
        {
            return CpaStatus.InvalidParam;
        }

        // Suspended (a migration): it reconnects; until then operations say Restarting.
        if (!frontend.IsConnected && !frontend.IsSuspended)
        {
            return CpaStatus.Fail;
        }

        instance = new IxpCyInstance(frontend, frontend.Queues[queue], mode);
        return CpaStatus.Success;
    }

    /// <summary>The frontend this instance uses.</summary>
    public IxpFrontend Frontend => _frontend;

    /// <summary>The queue this instance uses.</summary>
    public IxpFrontendQueue Queue => _queue;

    /// <inheritdoc/>
    protected override int SessionContextSize(in SymSessionSetupData setup) => IxpRequest.Size;

    /// <inheritdoc/>
    protected override CpaStatus InitSessionCore(in SymSessionSetupData setup, SymCallback? callback, out CySymSession? session)
    {
        session = null;
        IxpAlgorithm alg = (IxpAlgorithm)setup.Algorithm;
        if (!_frontend.Features.Algorithms.Contains(alg))
        {
            return SetError(CpaStatus.Unsupported, $"the backend does not offer {IxpKeys.Name(alg)}");
        }

        if (_frontend.IsSuspended)
        {
            return SetError(CpaStatus.Restarting, "the ixp device is suspended (a migration or a dom0 restart): try again");
        }

        if (!_frontend.TryAllocateSessionSlot(out uint slot))
        {
            return SetError(CpaStatus.Resource, $"all {_frontend.Features.MaxSessions} backend session slots are in use");
        }

        IxpStatus st = Control(IxpOperation.SessionCreate, slot, alg, (IxpDirection)setup.Direction, setup.Key);
        if (st != IxpStatus.Okay)
        {
            _frontend.FreeSessionSlot(slot);
            return SetError(st == IxpStatus.Busy ? CpaStatus.Resource : CpaStatus.Fail, $"the backend refused the session: {st}");
        }

        _frontend.RememberSession(slot, alg, (IxpDirection)setup.Direction, setup.Key.Span);
        session = new IxpSession(this, setup, callback, slot);
        return CpaStatus.Success;
    }

    /// <inheritdoc/>
    protected override void RemoveSessionCore(CySymSession session)
    {
        IxpSession s = (IxpSession)session;
        // Out of the resume's replay set first: a resume between the destroy's answer and here
        // would otherwise create the session again in a slot about to be reused.
        _frontend.ForgetSession(s.Slot);
        IxpStatus st = Control(IxpOperation.SessionDestroy, s.Slot, default, default, default);
        if (st is IxpStatus.Okay or IxpStatus.NoSession)
        {
            _frontend.FreeSessionSlot(s.Slot);
        }
    }

    /// <summary>Runs one control operation to its response (control path: waits).</summary>
    private IxpStatus Control(IxpOperation op, uint slot, IxpAlgorithm alg, IxpDirection dir, ReadOnlyMemory<byte> key)
    {
        _controlDone = 0;
        long deadline = Environment.TickCount64 + 10_000;
        while (true)
        {
            IxpSubmitResult r = op == IxpOperation.SessionCreate
                ? _queue.TrySubmitSessionCreate(slot, alg, dir, key.Span, ControlTag)
                : _queue.TrySubmitSessionDestroy(slot, ControlTag);
            if (r == IxpSubmitResult.Submitted)
            {
                break;
            }

            if ((r != IxpSubmitResult.Retry && !(r == IxpSubmitResult.NotConnected && _frontend.IsSuspended)) || Environment.TickCount64 > deadline)
            {
                return IxpStatus.Error;
            }

            PollOrWait();
        }

        while (_controlDone == 0)
        {
            if (_frontend.IsSuspended)
            {
                // Kept in its shadow and resubmitted after the resume: wait for that answer.
                deadline = Environment.TickCount64 + 10_000;
            }
            else if (Environment.TickCount64 > deadline || !_frontend.IsConnected)
            {
                return IxpStatus.Error;
            }

            PollOrWait();
        }

        return _controlStatus;
    }

    private void PollOrWait()
    {
        if (CompletionMode == CompletionMode.Polling)
        {
            if (_queue.Poll() == 0)
            {
                _ = _queue.WaitForResponses(2000, TimeSpan.FromMilliseconds(10));
            }
        }
        else
        {
            Thread.Sleep(0);
        }
    }

    /// <inheritdoc/>
    protected override CpaStatus SubmitCore(in SymRequest request)
    {
        int maxSegs = Math.Max(Math.Min(_frontend.Features.MaxSegments, IxpCipherBody.MaxSegments), _frontend.Negotiated.MaxIndirectSegments);
        Span<IxpBuffer> src = stackalloc IxpBuffer[maxSegs];
        Span<IxpBuffer> dst = stackalloc IxpBuffer[request.InPlace ? 0 : maxSegs];
        int ns = Segments(request.Source, request.Offset, request.Length, src);
        int nd = request.InPlace ? 0 : Segments(request.Destination, request.Offset, request.Length, dst);
        if (ns == NotGuestMemory || nd == NotGuestMemory)
        {
            return SetError(CpaStatus.InvalidParam, $"a buffer is not dom{_frontend.DomId}'s own memory at the frames it names: the split binding grants the guest's pages and copies nothing, so it takes only buffer lists from AllocateBufferList");
        }

        if (ns < 0 || nd < 0 || ns + nd > maxSegs)
        {
            return SetError(CpaStatus.InvalidParam, $"the buffers span more than the {maxSegs} segments a request can carry");
        }

        if (!_freeContexts.TryPop(out uint c))
        {
            return SetError(CpaStatus.Retry, "all request contexts are in flight");
        }

        OpContext ctx = _contexts[c];
        ctx.Callback = request.Callback;
        ctx.Stamp = request.Stamp;
        ctx.Bytes = request.Length;
        ctx.Tag = request.Tag;
        ctx.Session = request.Session;
        ctx.Destination = request.Destination;
        Span<byte> iv = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64BigEndian(iv, request.Iv);
        // The application wrote these pages before submitting: their dirty-log marks follow the writes.
        GuestMemory memory = _frontend.Pages.Memory;
        foreach (IxpBuffer b in src[..ns])
        {
            memory.MarkDirty(b.Frame);
        }

        foreach (IxpBuffer b in dst[..nd])
        {
            memory.MarkDirty(b.Frame);
        }

        IxpSubmitResult r = _queue.TrySubmitCipher(((IxpSession)request.Session).Slot, iv, src[..ns], dst[..nd], c);
        if (r == IxpSubmitResult.Submitted)
        {
            return CpaStatus.Success;
        }

        ctx.Callback = null;
        ctx.Tag = null;
        ctx.Session = null;
        ctx.Destination = null;
        _freeContexts.Push(c);
        return r switch
        {
            IxpSubmitResult.Retry => SetError(CpaStatus.Retry, "the ring is full"),
            IxpSubmitResult.NotConnected => SetError(CpaStatus.Restarting, "the ixp device is not connected"),
            IxpSubmitResult.NoGrants => SetError(CpaStatus.Resource, "no grant references left"),
            _ => SetError(CpaStatus.InvalidParam, "the request does not fit the negotiated protocol"),
        };
    }

    private const int NotGuestMemory = -2;

    /// <summary>
    /// Cuts [offset, offset+length) of a list into per-page pieces of the guest's frames; −1 if
    /// it does not fit; <see cref="NotGuestMemory"/> when a buffer's bytes are not this guest's
    /// pages at the frames it names (then granting those frames would cipher other bytes than
    /// the caller's, and copying them in would be a payload copy: neither is done).
    /// </summary>
    private unsafe int Segments(BufferList list, int offset, int length, Span<IxpBuffer> into)
    {
        GuestMemory memory = _frontend.Pages.Memory;
        int n = 0;
        long pos = 0;
        long end = (long)offset + length;
        foreach (FlatBuffer b in list.Buffers)
        {
            long bStart = pos;
            pos += b.DataLength;
            if (pos <= offset || b.DataLength == 0)
            {
                continue;
            }

            if (bStart >= end)
            {
                break;
            }

            long from = Math.Max(offset, bStart) - bStart;
            long to = Math.Min(end, pos) - bStart;
            ReadOnlySpan<uint> frames = b.Frames;
            // The bytes are checked, not the domid the buffer names: a migrated guest keeps its
            // memory (remapped in place) and its buffer lists, but gets a new domid on the new
            // host, so the domid a list was allocated under is no proof either way.
            if (frames.IsEmpty || frames[0] >= memory.Pages
                || b.Data != memory.Base + ((long)frames[0] << GuestMemory.PageShift) + b.PageOffset)
            {
                return NotGuestMemory;
            }

            long at = b.PageOffset + from;
            long stop = b.PageOffset + to;
            while (at < stop)
            {
                int page = (int)(at >> GuestMemory.PageShift);
                int inPage = (int)(at & (GuestMemory.PageSize - 1));
                int len = (int)Math.Min(stop - at, GuestMemory.PageSize - inPage);
                if (page >= frames.Length || frames[page] != frames[0] + (uint)page || frames[page] >= memory.Pages)
                {
                    return NotGuestMemory; // the guest's memory is one run: page k of the buffer is frame first + k
                }

                if (n == into.Length)
                {
                    return -1;
                }

                into[n++] = new IxpBuffer(frames[page], (ushort)inPage, (ushort)len);
                at += len;
            }
        }

        return n;
    }

    private void OnResponse(ulong tag, IxpStatus status, uint responseSize)
    {
        if (tag == ControlTag)
        {
            _controlStatus = status;
            _controlDone = 1;
            return;
        }

        OpContext ctx = _contexts[tag];
        SymCallback cb = ctx.Callback!;
        object? userTag = ctx.Tag;
        CySymSession session = ctx.Session!;
        BufferList? dst = ctx.Destination;
        long stamp = ctx.Stamp;
        int bytes = ctx.Bytes;
        ctx.Callback = null;
        ctx.Tag = null;
        ctx.Session = null;
        ctx.Destination = null;
        _freeContexts.Push((uint)tag);
        if (dst is not null && status == IxpStatus.Okay)
        {
            // The device wrote these pages through its grant mappings (Xen marks them at unmap).
            MarkWritten(dst);
        }

        Complete(cb, userTag, session, status == IxpStatus.Okay ? CpaStatus.Success : CpaStatus.Fail, dst, stamp, bytes);
    }

    private void MarkWritten(BufferList list)
    {
        GuestMemory memory = _frontend.Pages.Memory;
        foreach (FlatBuffer b in list.Buffers)
        {
            foreach (uint f in b.Frames)
            {
                memory.MarkDirty(f);
            }
        }
    }

    /// <inheritdoc/>
    protected override Tolapai.Diagnostics.Stage TraceStage => Tolapai.Diagnostics.Stage.SplitOp;

    /// <inheritdoc/>
    protected override int TraceDomain => _frontend.DomId;

    /// <inheritdoc/>
    public override CpaStatus Poll(int maxResponses, out int delivered)
    {
        delivered = 0;
        if (CompletionMode != CompletionMode.Polling)
        {
            return SetError(CpaStatus.Unsupported, "Poll in Interrupt mode: the completion thread delivers");
        }

        delivered = _queue.Poll(maxResponses <= 0 ? int.MaxValue : maxResponses);
        return delivered > 0 ? CpaStatus.Success : CpaStatus.Retry;
    }

    private void CompletionLoop()
    {
        while (!_stopping)
        {
            if (_queue.Poll() == 0)
            {
                _ = _queue.WaitForResponses(4000, TimeSpan.FromMilliseconds(50));
            }
        }
    }

    /// <inheritdoc/>
    protected override unsafe CpaStatus AllocateBufferListCore(ReadOnlySpan<int> bufferSizes, out BufferList? bufferList)
    {
        bufferList = null;
        FlatBuffer[] buffers = new FlatBuffer[bufferSizes.Length];
        GuestPageAllocator pages = _frontend.Pages;
        for (int i = 0; i < bufferSizes.Length; i++)
        {
            int count = (bufferSizes[i] + GuestMemory.PageSize - 1) / GuestMemory.PageSize;
            if (!pages.TryAllocateContiguous(count, out uint first))
            {
                for (int j = 0; j < i; j++)
                {
                    FreeFrames(buffers[j]);
                }

                return SetError(CpaStatus.Resource, $"dom{_frontend.DomId} has no {count} free consecutive pages");
            }

            uint[] frames = new uint[count];
            for (int k = 0; k < count; k++)
            {
                frames[k] = first + (uint)k;
                if (_frontend.Negotiated.Persistent)
                {
                    _ = _frontend.PersistentGref(frames[k]); // granted now, once: no grant work per request
                }
            }

            buffers[i] = new FlatBuffer(pages.Address(first), bufferSizes[i], _frontend.DomId, frames);
        }

        bufferList = new BufferList(this, buffers);
        return CpaStatus.Success;
    }

    /// <inheritdoc/>
    protected override void FreeBufferListCore(BufferList bufferList)
    {
        foreach (FlatBuffer b in bufferList.Buffers)
        {
            FreeFrames(b);
        }
    }

    private void FreeFrames(FlatBuffer b)
    {
        // A persistent grant stays with its frame (the backend may keep it mapped until the device closes).
        foreach (uint f in b.Frames)
        {
            _frontend.Pages.Free(f);
        }
    }

    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
        _stopping = true;
        _completionThread?.Join();
        _queue.Handler = null;
        base.Dispose(disposing);
    }
}
