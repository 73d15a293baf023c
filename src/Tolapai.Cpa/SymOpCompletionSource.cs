using System.Threading.Tasks.Sources;

namespace Tolapai.Cpa;

/// <summary>
/// The pooled task source behind <see cref="ICySymInstance.PerformOpAsync"/>: a
/// <see cref="ManualResetValueTaskSourceCore{TResult}"/> that goes back to its pool when the
/// awaiter has read the result, so an awaited operation allocates nothing.
/// </summary>
public sealed class SymOpCompletionSource : IValueTaskSource<CpaStatus>
{
    /// <summary>The callback a binding calls to complete one of these (the tag is the source).</summary>
    public static readonly SymCallback Callback = static (tag, status, _) => ((SymOpCompletionSource)tag!).SetResult(status);

    private readonly Pool _pool;
    private ManualResetValueTaskSourceCore<CpaStatus> _core;

    private SymOpCompletionSource(Pool pool)
    {
        _pool = pool;

        // Continuations run on the thread pool, never inline on the device's completion path.
        _core.RunContinuationsAsynchronously = true;
    }

    /// <summary>A task for the current use of this source.</summary>
    public ValueTask<CpaStatus> Task => new(this, _core.Version);

    /// <summary>Completes the current use.</summary>
    public void SetResult(CpaStatus status) => _core.SetResult(status);

    /// <inheritdoc/>
    public CpaStatus GetResult(short token)
    {
        try
        {
            return _core.GetResult(token);
        }
        finally
        {
            _core.Reset();
            _pool.Return(this);
        }
    }

    /// <inheritdoc/>
    public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

    /// <inheritdoc/>
    public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);

    /// <summary>Gives a source back without it having completed (a refused submission).</summary>
    public void Abandon()
    {
        _core.Reset();
        _pool.Return(this);
    }

    /// <summary>
    /// A lock-free pool of sources: a fixed array of slots taken and given back with
    /// <see cref="Interlocked.Exchange{T}(ref T, T)"/>; a new source is made only when every slot is empty.
    /// </summary>
    public sealed class Pool
    {
        private readonly SymOpCompletionSource?[] _slots;

        /// <summary>Creates a pool holding up to <paramref name="capacity"/> idle sources, all made up front.</summary>
        public Pool(int capacity)
        {
            ArgumentOutOfRangeException.ThrowIfNegativeOrZero(capacity);
            _slots = new SymOpCompletionSource?[capacity];
            for (int i = 0; i < capacity; i++)
            {
                _slots[i] = new SymOpCompletionSource(this);
            }
        }

        /// <summary>Takes a source (making one if the pool is empty).</summary>
        public SymOpCompletionSource Rent()
        {
            SymOpCompletionSource?[] slots = _slots;
            for (int i = 0; i < slots.Length; i++)
            {
                SymOpCompletionSource? s = Interlocked.Exchange(ref slots[i], null);
                if (s is not null)
                {
                    return s;
                }
            }

            return new SymOpCompletionSource(this);
        }

        internal void Return(SymOpCompletionSource source)
        {
            SymOpCompletionSource?[] slots = _slots;
            for (int i = 0; i < slots.Length; i++)
            {
                if (Interlocked.CompareExchange(ref slots[i], source, null) is null)
                {
                    return;
                }
            }

            // Pool full: the extra source is left to the GC.
        }
    }
}
