using System.Runtime.InteropServices;
using Tolapai.Kernels.Des;

namespace Tolapai.Cpa.Software;

/// <summary>
/// The software binding: no device; each operation runs on the kernels in the submitting
/// thread (<see cref="DesCipher.Transform"/>), and its completion is queued for
/// <see cref="Poll"/> (polling mode) or delivered before <see cref="ICySymInstance.PerformOp"/>
/// returns (interrupt mode). Buffer memory is plain native memory without machine addresses.
/// For tests, and as the reference the other bindings are compared with.
/// </summary>
public sealed unsafe class SoftwareCyInstance : CySymInstance
{
    private readonly Completion[] _queue;
    private readonly int _mask;
    private readonly Lock _control = new();
    private readonly HashSet<SoftwareSession> _sessions = [];
    private int _head;
    private int _tail;

    /// <summary>Creates an instance; in polling mode up to <paramref name="queueDepth"/> (a power of two) completions wait for <see cref="Poll"/>, more get Retry.</summary>
    public SoftwareCyInstance(CompletionMode mode = CompletionMode.Polling, int queueDepth = 1024)
        : base("software", mode)
    {
        if (queueDepth < 1 || (queueDepth & (queueDepth - 1)) != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(queueDepth), queueDepth, "a power of two");
        }

        _queue = new Completion[queueDepth];
        _mask = queueDepth - 1;
    }

    /// <inheritdoc/>
    public override CpaStatus Poll(int maxResponses, out int delivered)
    {
        delivered = 0;
        if (CompletionMode == CompletionMode.Interrupt)
        {
            return SetError(CpaStatus.Unsupported, "the instance is in interrupt mode; completions are delivered at submission");
        }

        int max = maxResponses <= 0 ? int.MaxValue : maxResponses;
        int head = _head;

        // Acquire: the record was written before the submitter moved the tail.
        while (delivered < max && head != Volatile.Read(ref _tail))
        {
            Completion c = _queue[head & _mask];
            _queue[head & _mask] = default;
            head++;

            // Release: the slot is free for the submitter once it sees the head move.
            Volatile.Write(ref _head, head);
            delivered++;
            Complete(c.Callback, c.Tag, c.Session, CpaStatus.Success, c.Destination, c.Stamp, c.Bytes);
        }

        return delivered > 0 ? CpaStatus.Success : CpaStatus.Retry;
    }

    /// <inheritdoc/>
    protected override Tolapai.Diagnostics.Stage TraceStage => Tolapai.Diagnostics.Stage.SoftwareOp;

    /// <inheritdoc/>
    protected override int SessionContextSize(in SymSessionSetupData setup) =>
        SymAlgorithms.IsTripleDes(setup.Algorithm) ? 768 : 256;

    /// <inheritdoc/>
    protected override CpaStatus InitSessionCore(in SymSessionSetupData setup, SymCallback? callback, out CySymSession? session)
    {
        var s = new SoftwareSession(this, setup, callback, DesKeySchedule.Create(setup.Key.Span));
        lock (_control)
        {
            _sessions.Add(s);
        }

        session = s;
        return CpaStatus.Success;
    }

    /// <inheritdoc/>
    protected override void RemoveSessionCore(CySymSession session)
    {
        lock (_control)
        {
            _sessions.Remove((SoftwareSession)session);
        }

        ((SoftwareSession)session).Key.Dispose();
    }

    /// <inheritdoc/>
    protected override CpaStatus SubmitCore(in SymRequest request)
    {
        bool queue = CompletionMode == CompletionMode.Polling;
        int tail = _tail;
        if (queue && tail - Volatile.Read(ref _head) >= _queue.Length)
        {
            return SetError(CpaStatus.Retry, "the completion queue is full; poll");
        }

        SoftwareSession s = (SoftwareSession)request.Session;
        ListCipher.Run(s.Key, SymAlgorithms.Mode(s.Algorithm), SymAlgorithms.Direction(s.Direction), request.Iv, request.Source, request.Destination, request.Offset, request.Length);
        if (!queue)
        {
            Complete(request.Callback, request.Tag, s, CpaStatus.Success, request.Destination, request.Stamp, request.Length);
            return CpaStatus.Success;
        }

        _queue[tail & _mask] = new Completion(request.Callback, request.Tag, s, request.Destination, request.Stamp, request.Length);

        // Release: the record before the new tail.
        Volatile.Write(ref _tail, tail + 1);
        return CpaStatus.Success;
    }

    /// <inheritdoc/>
    protected override CpaStatus AllocateBufferListCore(ReadOnlySpan<int> bufferSizes, out BufferList? bufferList)
    {
        FlatBuffer[] buffers = new FlatBuffer[bufferSizes.Length];
        for (int i = 0; i < buffers.Length; i++)
        {
            byte* mem = (byte*)NativeMemory.AlignedAlloc((nuint)bufferSizes[i], 64);
            NativeMemory.Clear(mem, (nuint)bufferSizes[i]);
            buffers[i] = new FlatBuffer(mem, bufferSizes[i], 0, []);
        }

        bufferList = new BufferList(this, buffers);
        return CpaStatus.Success;
    }

    /// <inheritdoc/>
    protected override void FreeBufferListCore(BufferList bufferList)
    {
        foreach (FlatBuffer b in bufferList.Buffers)
        {
            NativeMemory.AlignedFree(b.Data);
        }
    }

    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
        SoftwareSession[] sessions;
        lock (_control)
        {
            sessions = [.. _sessions];
            _sessions.Clear();
        }

        FreeOwnBufferLists();

        foreach (SoftwareSession session in sessions)
        {
            session.Key.Dispose();
        }

        base.Dispose(disposing);
    }

    private readonly record struct Completion(SymCallback Callback, object? Tag, CySymSession Session, BufferList Destination, long Stamp, int Bytes);

    private sealed class SoftwareSession(SoftwareCyInstance instance, in SymSessionSetupData setup, SymCallback? callback, DesKeySchedule key)
        : CySymSession(instance, setup.Algorithm, setup.Direction, setup.Key.Length, callback)
    {
        public DesKeySchedule Key { get; } = key;
    }
}
