namespace Tolapai.Cpa;

/// <summary>
/// A session (<c>CpaCySymSessionCtx</c>): algorithm, direction and key set up once by
/// <see cref="ICySymInstance.InitSession"/>, used by any number of operations, ended by
/// <see cref="ICySymInstance.RemoveSession"/>. Bindings derive from it to keep their own
/// handle (a device session id, a backend session id).
/// </summary>
public abstract class CySymSession
{
    private int _inFlight;
    private int _removed;

    /// <summary>Creates the common part of a session (for bindings).</summary>
    protected CySymSession(ICySymInstance instance, SymCipherAlgorithm algorithm, SymCipherDirection direction, int keyLength, SymCallback? callback)
    {
        ArgumentNullException.ThrowIfNull(instance);
        Instance = instance;
        Algorithm = algorithm;
        Direction = direction;
        KeyLength = keyLength;
        Callback = callback;
    }

    /// <summary>The instance the session belongs to; operations on another instance are refused.</summary>
    public ICySymInstance Instance { get; }

    /// <summary>Cipher algorithm.</summary>
    public SymCipherAlgorithm Algorithm { get; }

    /// <summary>Direction.</summary>
    public SymCipherDirection Direction { get; }

    /// <summary>Key length in bytes (the key itself is kept only in the binding's key schedule).</summary>
    public int KeyLength { get; }

    /// <summary>The completion callback given at init; <see langword="null"/> when only <see cref="ICySymInstance.PerformOpAsync"/> is used.</summary>
    public SymCallback? Callback { get; }

    /// <summary>Operations submitted on this session and not yet completed.</summary>
    public int InFlight => Volatile.Read(ref _inFlight);

    /// <summary>True once removed.</summary>
    public bool IsRemoved => Volatile.Read(ref _removed) != 0;

    /// <summary>True for the ECB algorithms (no IV).</summary>
    public bool IsEcb => Algorithm is SymCipherAlgorithm.DesEcb or SymCipherAlgorithm.TripleDesEcb;

    /// <summary>True for CTR (any message length).</summary>
    public bool IsCtr => Algorithm == SymCipherAlgorithm.TripleDesCtr;

    internal void AddInFlight() => Interlocked.Increment(ref _inFlight);

    internal void RemoveInFlight() => Interlocked.Decrement(ref _inFlight);

    internal bool MarkRemoved() => Interlocked.Exchange(ref _removed, 1) == 0;
}
