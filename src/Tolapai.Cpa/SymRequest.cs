namespace Tolapai.Cpa;

/// <summary>
/// A validated operation as <see cref="CySymInstance"/> hands it to its binding: where to
/// deliver the completion, the session, the IV as a big-endian 64-bit value, and the range
/// to cipher in the source and destination lists (already checked against both).
/// </summary>
public readonly struct SymRequest
{
    /// <summary>Creates a request (for bindings and tests).</summary>
    public SymRequest(SymCallback callback, object? tag, CySymSession session, ulong iv, int offset, int length, BufferList source, BufferList destination, long stamp = 0)
    {
        Stamp = stamp;
        Callback = callback;
        Tag = tag;
        Session = session;
        Iv = iv;
        Offset = offset;
        Length = length;
        Source = source;
        Destination = destination;
    }

    /// <summary>Called once when the operation completes.</summary>
    public SymCallback Callback { get; }

    /// <summary>
    /// Submission time (Stopwatch ticks) when a trace wants per-request latency (the Requests
    /// keyword of Tolapai-DataPlane at Verbose), else 0. Bindings keep it with the request and
    /// hand it back to <c>Complete</c>.
    /// </summary>
    public long Stamp { get; }

    /// <summary>The caller's tag, passed back to <see cref="Callback"/>.</summary>
    public object? Tag { get; }

    /// <summary>The session (belongs to this instance, not removed).</summary>
    public CySymSession Session { get; }

    /// <summary>IV or initial counter, big-endian (0 for ECB).</summary>
    public ulong Iv { get; }

    /// <summary>First byte to cipher in the concatenated lists.</summary>
    public int Offset { get; }

    /// <summary>Bytes to cipher (whole blocks for ECB/CBC).</summary>
    public int Length { get; }

    /// <summary>Source list.</summary>
    public BufferList Source { get; }

    /// <summary>Destination list (the same object for in place).</summary>
    public BufferList Destination { get; }

    /// <summary>True when source and destination are the same list.</summary>
    public bool InPlace => ReferenceEquals(Source, Destination);
}
