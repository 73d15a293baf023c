using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using Tolapai.Diagnostics;

namespace Tolapai.Cpa;

/// <summary>
/// The part of every binding that is the same: argument checks with their messages, the
/// counters of <see cref="QueryStats"/>, session bookkeeping (in flight, removed, owner), and
/// the pooled <see cref="PerformOpAsync"/>. A binding implements the <c>*Core</c> methods:
/// make and remove its session, submit a validated <see cref="SymRequest"/> without blocking,
/// deliver completions through <see cref="Complete(SymCallback, object?, CySymSession, CpaStatus, BufferList?, long, int)"/>, and allocate buffer memory.
/// </summary>
public abstract class CySymInstance : ICySymInstance
{
    // Lists this instance allocated: only these go back to the binding's FreeBufferListCore (a
    // list a user built over memory of its own, e.g. a backend over mapped guest pages, is only
    // marked freed), and a stopping binding frees the ones still out (FreeOwnBufferLists).
    private readonly Lock _listLock = new();
    private readonly HashSet<BufferList> _ownLists = new(ReferenceEqualityComparer.Instance);
    private readonly SymOpCompletionSource.Pool _asyncPool;
    private string? _lastError;
    private long _sessionsInitialized;
    private long _sessionsRemoved;
    private long _sessionErrors;
    private long _requests;
    private long _requestErrors;
    private long _retries;
    private long _completed;
    private long _completedErrors;
    private int _disposed;

    /// <summary>Creates the common part; <paramref name="asyncPoolSize"/> task sources are made up front.</summary>
    protected CySymInstance(string name, CompletionMode completionMode, int asyncPoolSize = 256)
    {
        ArgumentNullException.ThrowIfNull(name);
        Name = name;
        CompletionMode = completionMode;
        _asyncPool = new SymOpCompletionSource.Pool(asyncPoolSize);
    }

    /// <inheritdoc/>
    public string Name { get; }

    /// <inheritdoc/>
    public CompletionMode CompletionMode { get; }

    /// <inheritdoc/>
    public string? LastError => Volatile.Read(ref _lastError);

    /// <summary>True once disposed.</summary>
    protected bool IsDisposed => Volatile.Read(ref _disposed) != 0;

    /// <summary>Key length for an algorithm check: 8 for DES, 16 or 24 for 3DES.</summary>
    public static bool IsValidKeyLength(SymCipherAlgorithm algorithm, int length) => algorithm switch
    {
        SymCipherAlgorithm.DesEcb or SymCipherAlgorithm.DesCbc => length == 8,
        SymCipherAlgorithm.TripleDesEcb or SymCipherAlgorithm.TripleDesCbc or SymCipherAlgorithm.TripleDesCtr => length is 16 or 24,
        _ => false,
    };

    /// <summary>Checks setup data; returns null when good, else the message.</summary>
    public static string? ValidateSetup(in SymSessionSetupData setup)
    {
        if (!Enum.IsDefined(setup.Algorithm))
        {
            return $"unknown cipher algorithm {(int)setup.Algorithm}";
        }

        if (!Enum.IsDefined(setup.Direction))
        {
            return $"unknown cipher direction {(int)setup.Direction}";
        }

        if (!IsValidKeyLength(setup.Algorithm, setup.Key.Length))
        {
            return $"{setup.Algorithm} takes a {(setup.Algorithm is SymCipherAlgorithm.DesEcb or SymCipherAlgorithm.DesCbc ? "8" : "16- or 24")}-byte key, not {setup.Key.Length} bytes";
        }

        return null;
    }

    /// <inheritdoc/>
    public CpaStatus GetSessionContextSize(in SymSessionSetupData setup, out int sizeInBytes)
    {
        sizeInBytes = 0;
        string? error = ValidateSetup(setup);
        if (error is not null)
        {
            return SetError(CpaStatus.InvalidParam, error);
        }

        sizeInBytes = SessionContextSize(setup);
        return CpaStatus.Success;
    }

    /// <inheritdoc/>
    public CpaStatus InitSession(in SymSessionSetupData setup, SymCallback? callback, out CySymSession? session)
    {
        session = null;
        CpaStatus status;
        string? error = IsDisposed ? "the instance is stopped" : ValidateSetup(setup);
        if (error is not null)
        {
            status = SetError(IsDisposed ? CpaStatus.Fail : CpaStatus.InvalidParam, error);
        }
        else
        {
            status = InitSessionCore(setup, callback, out session);
        }

        Interlocked.Increment(ref status == CpaStatus.Success ? ref _sessionsInitialized : ref _sessionErrors);
        return status;
    }

    /// <inheritdoc/>
    public CpaStatus RemoveSession(CySymSession session)
    {
        CpaStatus status;
        if (session is null)
        {
            status = SetError(CpaStatus.InvalidParam, "session is null");
        }
        else if (!ReferenceEquals(session.Instance, this))
        {
            status = SetError(CpaStatus.InvalidParam, $"the session belongs to instance '{session.Instance.Name}', not '{Name}'");
        }
        else if (session.IsRemoved)
        {
            status = SetError(CpaStatus.InvalidParam, "the session was already removed");
        }
        else if (session.InFlight != 0)
        {
            status = SetError(CpaStatus.Retry, $"the session has {session.InFlight} operations in flight");
        }
        else if (!session.MarkRemoved())
        {
            status = SetError(CpaStatus.InvalidParam, "the session was already removed");
        }
        else
        {
            RemoveSessionCore(session);
            status = CpaStatus.Success;
        }

        Interlocked.Increment(ref status == CpaStatus.Success ? ref _sessionsRemoved : ref _sessionErrors);
        return status;
    }

    /// <inheritdoc/>
    public CpaStatus PerformOp(object? callbackTag, in SymOpData opData, BufferList source, BufferList destination)
    {
        CySymSession? session = opData.Session;
        if (session is not null && session.Callback is null && ReferenceEquals(session.Instance, this))
        {
            return RequestError(CpaStatus.InvalidParam, "the session has no callback; use PerformOpAsync");
        }

        return Submit(session?.Callback!, callbackTag, opData, source, destination);
    }

    /// <inheritdoc/>
    public ValueTask<CpaStatus> PerformOpAsync(in SymOpData opData, BufferList source, BufferList destination)
    {
        SymOpCompletionSource completion = _asyncPool.Rent();
        ValueTask<CpaStatus> task = completion.Task;
        CpaStatus status = Submit(SymOpCompletionSource.Callback, completion, opData, source, destination);
        if (status != CpaStatus.Success)
        {
            completion.Abandon();
            return new ValueTask<CpaStatus>(status);
        }

        return task;
    }

    /// <inheritdoc/>
    public abstract CpaStatus Poll(int maxResponses, out int delivered);

    /// <inheritdoc/>
    public CpaStatus QueryStats(out SymStats stats)
    {
        stats = new SymStats
        {
            NumSessionsInitialized = Volatile.Read(ref _sessionsInitialized),
            NumSessionsRemoved = Volatile.Read(ref _sessionsRemoved),
            NumSessionErrors = Volatile.Read(ref _sessionErrors),
            NumSymOpRequests = Volatile.Read(ref _requests),
            NumSymOpRequestErrors = Volatile.Read(ref _requestErrors),
            NumSymOpRetries = Volatile.Read(ref _retries),
            NumSymOpCompleted = Volatile.Read(ref _completed),
            NumSymOpCompletedErrors = Volatile.Read(ref _completedErrors),
        };
        return CpaStatus.Success;
    }

    /// <inheritdoc/>
    public CpaStatus AllocateBufferList(ReadOnlySpan<int> bufferSizes, out BufferList? bufferList)
    {
        bufferList = null;
        if (IsDisposed)
        {
            return SetError(CpaStatus.Fail, "the instance is stopped");
        }

        if (bufferSizes.IsEmpty)
        {
            return SetError(CpaStatus.InvalidParam, "a buffer list needs at least one buffer");
        }

        foreach (int size in bufferSizes)
        {
            if (size <= 0)
            {
                return SetError(CpaStatus.InvalidParam, $"buffer size {size} is not positive");
            }
        }

        CpaStatus status = AllocateBufferListCore(bufferSizes, out bufferList);
        if (status == CpaStatus.Success)
        {
            lock (_listLock)
            {
                _ownLists.Add(bufferList!);
            }
        }

        return status;
    }

    /// <inheritdoc/>
    public CpaStatus FreeBufferList(BufferList bufferList)
    {
        if (bufferList is null)
        {
            return SetError(CpaStatus.InvalidParam, "buffer list is null");
        }

        if (!ReferenceEquals(bufferList.Owner, this))
        {
            return SetError(CpaStatus.InvalidParam, $"the buffer list belongs to instance '{bufferList.Owner.Name}', not '{Name}'");
        }

        if (!bufferList.MarkFreed())
        {
            return SetError(CpaStatus.InvalidParam, "the buffer list was already freed");
        }

        bool own;
        lock (_listLock)
        {
            own = _ownLists.Remove(bufferList);
        }

        if (own)
        {
            FreeBufferListCore(bufferList);
        }

        return CpaStatus.Success;
    }

    /// <summary>Frees every list this instance allocated that is still out (for a binding that is stopping).</summary>
    protected void FreeOwnBufferLists()
    {
        BufferList[] lists;
        lock (_listLock)
        {
            lists = [.. _ownLists];
            _ownLists.Clear();
        }

        foreach (BufferList list in lists)
        {
            if (list.MarkFreed())
            {
                FreeBufferListCore(list);
            }
        }
    }

    /// <summary>Stops the instance (<c>cpaCyStopInstance</c>) and frees what the binding holds.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            Dispose(true);
        }

        GC.SuppressFinalize(this);
    }

    /// <summary>Frees the binding's resources.</summary>
    protected virtual void Dispose(bool disposing)
    {
    }

    /// <summary>Bytes of session state the binding keeps for <paramref name="setup"/> (already validated).</summary>
    protected abstract int SessionContextSize(in SymSessionSetupData setup);

    /// <summary>Makes the binding's session for validated <paramref name="setup"/>.</summary>
    protected abstract CpaStatus InitSessionCore(in SymSessionSetupData setup, SymCallback? callback, out CySymSession? session);

    /// <summary>Ends a session with nothing in flight (wipe its key, free its slot).</summary>
    protected abstract void RemoveSessionCore(CySymSession session);

    /// <summary>
    /// Submits a validated request without blocking. <see cref="CpaStatus.Success"/> promises
    /// exactly one later <see cref="Complete(SymCallback, object?, CySymSession, CpaStatus, BufferList?, long, int)"/> for it; anything else means nothing was submitted
    /// (use <see cref="SetError"/> for the message).
    /// </summary>
    protected abstract CpaStatus SubmitCore(in SymRequest request);

    /// <summary>Allocates a list of DMA-able buffers of the (validated, positive) sizes.</summary>
    protected abstract CpaStatus AllocateBufferListCore(ReadOnlySpan<int> bufferSizes, out BufferList? bufferList);

    /// <summary>Releases the memory of a list this instance allocated (called once per list).</summary>
    protected abstract void FreeBufferListCore(BufferList bufferList);

    /// <summary>
    /// Delivers one completion: counts it, releases the session's in-flight count, reports it to
    /// Tolapai-DataPlane (<paramref name="bytes"/> to its counters and, with the request's
    /// <see cref="SymRequest.Stamp"/> when a trace asked for it, a <c>RequestCompleted</c> event
    /// with the submit-to-completion latency of this binding's stage), and calls the callback.
    /// Bindings call it once per submitted request (<see cref="SubmitCore"/> Success).
    /// </summary>
    protected void Complete(SymCallback callback, object? tag, CySymSession session, CpaStatus status, BufferList? destination, long stamp, int bytes) =>
        Complete(callback, tag, session, status, destination, stamp, bytes, TraceStage);

    /// <summary>As the overload without <paramref name="stage"/>, reporting the latency as <paramref name="stage"/> (a driver used by a backend reports the device stage).</summary>
    protected void Complete(SymCallback callback, object? tag, CySymSession session, CpaStatus status, BufferList? destination, long stamp, int bytes, Stage stage)
    {
        ArgumentNullException.ThrowIfNull(callback);
        ArgumentNullException.ThrowIfNull(session);
        long n = Interlocked.Increment(ref status == CpaStatus.Success ? ref _completed : ref _completedErrors);
        session.RemoveInFlight();
        DataPlaneCounters.OnCompleted(bytes);
        if (stamp != 0)
        {
            long ns = (long)((System.Diagnostics.Stopwatch.GetTimestamp() - stamp) * (1e9 / System.Diagnostics.Stopwatch.Frequency));
            DataPlaneEventSource.Log.RequestCompleted(stage, TraceDomain, n, (int)status, bytes, ns);
        }

        callback(tag, status, destination);
    }

    /// <summary>The stage this binding's request latencies are reported as (native, split, software).</summary>
    protected virtual Stage TraceStage => Stage.NativeOp;

    /// <summary>The domain this instance runs in, for trace events (0 in dom0).</summary>
    protected virtual int TraceDomain => 0;

    /// <summary>Records a message for <see cref="LastError"/> and returns <paramref name="status"/>.</summary>
    protected CpaStatus SetError(CpaStatus status, string message)
    {
        Volatile.Write(ref _lastError, message);
        return status;
    }

    /// <summary>Counts a refused submission (Retry separately) and records its message.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    protected CpaStatus RequestError(CpaStatus status, string message)
    {
        Interlocked.Increment(ref status == CpaStatus.Retry ? ref _retries : ref _requestErrors);
        return SetError(status, message);
    }

    /// <summary>
    /// Checks a session for submission on this instance (by a binding's own submission path,
    /// e.g. by machine address): returns null when good, else the message.
    /// </summary>
    protected string? ValidateSession(CySymSession? session)
    {
        if (session is null)
        {
            return "opData.Session is null";
        }

        if (!ReferenceEquals(session.Instance, this))
        {
            return $"the session belongs to instance '{session.Instance.Name}', not '{Name}'";
        }

        return session.IsRemoved ? "the session was removed" : null;
    }

    /// <summary>
    /// Checks an IV for a session: 8 bytes for CBC and CTR (returned big-endian in
    /// <paramref name="iv"/>), ignored for ECB. Returns null when good, else the message.
    /// </summary>
    protected static string? ValidateIv(CySymSession session, ReadOnlySpan<byte> ivBytes, out ulong iv)
    {
        ArgumentNullException.ThrowIfNull(session);
        iv = 0;
        if (session.IsEcb)
        {
            return null;
        }

        if (ivBytes.Length != 8)
        {
            return $"{session.Algorithm} takes an 8-byte IV, not {ivBytes.Length} bytes";
        }

        iv = BinaryPrimitives.ReadUInt64BigEndian(ivBytes);
        return null;
    }

    /// <summary>
    /// Checks a message length for a session: positive, and whole 8-byte blocks except for CTR.
    /// Returns null when good, else the message.
    /// </summary>
    protected static string? ValidateLength(CySymSession session, long length)
    {
        ArgumentNullException.ThrowIfNull(session);
        if (length <= 0)
        {
            return $"messageLenToCipher is {length}; it must be positive";
        }

        if (!session.IsCtr && (length & 7) != 0)
        {
            return $"messageLenToCipher {length} is not a multiple of the 8-byte block ({session.Algorithm})";
        }

        return length > int.MaxValue ? $"messageLenToCipher {length} is too large" : null;
    }

    /// <summary>Marks one more operation in flight on a session (a binding's own submission path).</summary>
    protected static void BeginOperation(CySymSession session)
    {
        ArgumentNullException.ThrowIfNull(session);
        session.AddInFlight();
    }

    /// <summary>Undoes <see cref="BeginOperation"/> for a submission that was refused.</summary>
    protected static void AbortOperation(CySymSession session)
    {
        ArgumentNullException.ThrowIfNull(session);
        session.RemoveInFlight();
    }

    /// <summary>Counts an accepted submission (a binding's own submission path).</summary>
    protected void CountRequest() => Interlocked.Increment(ref _requests);

    private CpaStatus Submit(SymCallback callback, object? tag, in SymOpData op, BufferList source, BufferList destination)
    {
        if (IsDisposed)
        {
            return RequestError(CpaStatus.Fail, "the instance is stopped");
        }

        CySymSession? session = op.Session;
        string? error = ValidateSession(session)
            ?? ValidateList(source, "source")
            ?? ValidateList(destination, "destination");
        if (error is not null)
        {
            return RequestError(CpaStatus.InvalidParam, error);
        }

        if (op.PacketType != SymPacketType.Full)
        {
            return Enum.IsDefined(op.PacketType)
                ? RequestError(CpaStatus.Unsupported, $"packet type {op.PacketType} is not supported; only Full")
                : RequestError(CpaStatus.InvalidParam, $"unknown packet type {(int)op.PacketType}");
        }

        error = ValidateIv(session!, op.Iv.Span, out ulong iv) ?? ValidateLength(session!, op.MessageLenToCipher);
        if (error is not null)
        {
            return RequestError(CpaStatus.InvalidParam, error);
        }

        long end = (long)op.CryptoStartSrcOffset + op.MessageLenToCipher;
        if (op.CryptoStartSrcOffset < 0)
        {
            return RequestError(CpaStatus.InvalidParam, $"cryptoStartSrcOffset {op.CryptoStartSrcOffset} is negative");
        }

        long srcLength = source.TotalLength;
        if (end > srcLength)
        {
            return RequestError(CpaStatus.InvalidParam, $"offset {op.CryptoStartSrcOffset} + length {op.MessageLenToCipher} runs past the source's {srcLength} bytes");
        }

        long dstLength = ReferenceEquals(source, destination) ? srcLength : destination.TotalLength;
        if (end > dstLength)
        {
            return RequestError(CpaStatus.InvalidParam, $"offset {op.CryptoStartSrcOffset} + length {op.MessageLenToCipher} runs past the destination's {dstLength} bytes");
        }

        session!.AddInFlight();
        long stamp = DataPlaneEventSource.Log.RequestsEnabled ? System.Diagnostics.Stopwatch.GetTimestamp() : 0;
        CpaStatus status = SubmitCore(new SymRequest(callback, tag, session, iv, op.CryptoStartSrcOffset, op.MessageLenToCipher, source, destination, stamp));
        if (status == CpaStatus.Success)
        {
            long id = Interlocked.Increment(ref _requests);
            DataPlaneCounters.OnSubmitted();
            if (stamp != 0)
            {
                DataPlaneEventSource.Log.RequestSubmitted(TraceStage, TraceDomain, id, op.MessageLenToCipher);
            }
        }
        else
        {
            session.RemoveInFlight();
            Interlocked.Increment(ref status == CpaStatus.Retry ? ref _retries : ref _requestErrors);
            if (status == CpaStatus.Retry)
            {
                DataPlaneCounters.OnRetry();
                DataPlaneEventSource.Log.RingFull(TraceDomain, 0, session.InFlight);
            }
        }

        return status;
    }

    private string? ValidateList(BufferList? list, string what)
    {
        if (list is null)
        {
            return $"{what} buffer list is null";
        }

        if (!ReferenceEquals(list.Owner, this))
        {
            return $"the {what} buffer list belongs to instance '{list.Owner.Name}', not '{Name}'";
        }

        if (list.IsFreed)
        {
            return $"the {what} buffer list was freed";
        }

        return list.TotalLength == 0 ? $"the {what} buffer list is empty (0 bytes)" : null;
    }
}
