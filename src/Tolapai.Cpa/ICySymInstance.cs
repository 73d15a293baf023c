namespace Tolapai.Cpa;

/// <summary>
/// A symmetric crypto instance (<c>CpaInstanceHandle</c> with the <c>cpaCySym*</c> calls): the
/// one interface the application sees, whatever binding is behind it (native: the dom0 driver
/// on the device; split: a guest's frontend; software: the kernels in process).
/// </summary>
/// <remarks>
/// Every call returns a <see cref="CpaStatus"/>; none throws for bad input, and none blocks:
/// <see cref="PerformOp"/> answers <see cref="CpaStatus.Retry"/> when the device ring is full.
/// On <see cref="CpaStatus.InvalidParam"/> nothing was submitted and <see cref="LastError"/>
/// says what was wrong. Operations allocate nothing on the success path.
/// </remarks>
public interface ICySymInstance : IDisposable
{
    /// <summary>A name for logs ("native:0", "split:dom3/0", "software").</summary>
    string Name { get; }

    /// <summary>How completions are delivered.</summary>
    CompletionMode CompletionMode { get; }

    /// <summary>The message of the last refused call on this instance (the latest, if several threads submit), or <see langword="null"/>.</summary>
    string? LastError { get; }

    /// <summary>
    /// Bytes of session state the binding keeps for a session made from
    /// <paramref name="setup"/> (<c>cpaCySymSessionCtxGetSize</c>). The memory itself is
    /// allocated by the binding in <see cref="InitSession"/>.
    /// </summary>
    CpaStatus GetSessionContextSize(in SymSessionSetupData setup, out int sizeInBytes);

    /// <summary>
    /// Sets up a session (<c>cpaCySymInitSession</c>). <paramref name="callback"/> receives the
    /// completions of <see cref="PerformOp"/>; it may be <see langword="null"/> when the session
    /// is only used with <see cref="PerformOpAsync"/>. Wrong algorithm, direction or key
    /// length: <see cref="CpaStatus.InvalidParam"/>; no session slot left: <see cref="CpaStatus.Resource"/>.
    /// </summary>
    CpaStatus InitSession(in SymSessionSetupData setup, SymCallback? callback, out CySymSession? session);

    /// <summary>
    /// Ends a session (<c>cpaCySymRemoveSession</c>); its key is wiped. Answers
    /// <see cref="CpaStatus.Retry"/> while operations are in flight on it, and
    /// <see cref="CpaStatus.InvalidParam"/> for an unknown, removed or foreign session.
    /// </summary>
    CpaStatus RemoveSession(CySymSession session);

    /// <summary>
    /// Submits one operation (<c>cpaCySymPerformOp</c>): cipher
    /// <see cref="SymOpData.MessageLenToCipher"/> bytes of <paramref name="source"/> from
    /// <see cref="SymOpData.CryptoStartSrcOffset"/> into the same range of
    /// <paramref name="destination"/> (the same list for in place). Returns at once:
    /// <see cref="CpaStatus.Success"/> (the session's callback will be called exactly once with
    /// <paramref name="callbackTag"/>), <see cref="CpaStatus.Retry"/> (ring full; submit again
    /// later), or an error with nothing submitted.
    /// </summary>
    CpaStatus PerformOp(object? callbackTag, in SymOpData opData, BufferList source, BufferList destination);

    /// <summary>
    /// As <see cref="PerformOp"/>, completing the returned task instead of calling the session's
    /// callback. A refused submission (Retry, InvalidParam, ...) gives an already completed task
    /// with that status; otherwise the task completes with the operation's status. The task is
    /// backed by a pooled <see cref="System.Threading.Tasks.Sources.IValueTaskSource{TResult}"/>:
    /// await it once, and allocate nothing.
    /// </summary>
    ValueTask<CpaStatus> PerformOpAsync(in SymOpData opData, BufferList source, BufferList destination);

    /// <summary>
    /// Polling mode (<c>icp_sal_CyPollInstance</c>): delivers up to <paramref name="maxResponses"/>
    /// completions (0 = all that are ready) on this thread. <see cref="CpaStatus.Success"/> when
    /// some were delivered, <see cref="CpaStatus.Retry"/> when none was ready,
    /// <see cref="CpaStatus.Unsupported"/> in <see cref="CompletionMode.Interrupt"/> mode.
    /// </summary>
    CpaStatus Poll(int maxResponses, out int delivered);

    /// <summary>The instance's counters (<c>cpaCySymQueryStats64</c>).</summary>
    CpaStatus QueryStats(out SymStats stats);

    /// <summary>
    /// Allocates a buffer list of DMA-able memory (as <c>qaeMemAllocNUMA</c> plus building a
    /// <c>CpaBufferList</c>): one flat buffer per entry of <paramref name="bufferSizes"/>, each
    /// of that many bytes, in memory the binding chooses so the device can reach it. Control
    /// plane; allocate once and reuse. Bad sizes: <see cref="CpaStatus.InvalidParam"/>; out of
    /// memory: <see cref="CpaStatus.Resource"/>.
    /// </summary>
    CpaStatus AllocateBufferList(ReadOnlySpan<int> bufferSizes, out BufferList? bufferList);

    /// <summary>Returns a list's memory to the instance; <see cref="CpaStatus.InvalidParam"/> for a foreign or already freed list.</summary>
    CpaStatus FreeBufferList(BufferList bufferList);
}
