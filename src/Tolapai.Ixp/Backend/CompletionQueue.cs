namespace Tolapai.Ixp.Backend;

/// <summary>
/// Completed requests on their way from the driver's completion context (any thread) to the
/// queue's service thread: a bounded multi-producer single-consumer array queue (Vyukov's
/// sequence-per-cell design), lock-free and allocation-free. Capacity ≥ requests in flight,
/// so a push never finds it full.
/// </summary>
internal sealed class CompletionQueue<T>
    where T : class
{
    private readonly Cell[] _cells;
    private readonly long _mask;
    private long _enqueue;
    private long _dequeue;

    private struct Cell
    {
        public long Sequence;
        public T? Item;
    }

    public CompletionQueue(int capacity)
    {
        int size = (int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)Math.Max(2, capacity));
        _cells = new Cell[size];
        _mask = size - 1;
        for (int i = 0; i < size; i++)
        {
            _cells[i].Sequence = i;
        }
    }

    public bool TryPush(T item)
    {
        long pos = Volatile.Read(ref _enqueue);
        while (true)
        {
            ref Cell cell = ref _cells[pos & _mask];
            // Acquire: the consumer's release of this cell happened before we reuse it.
            long diff = Volatile.Read(ref cell.Sequence) - pos;
            if (diff == 0)
            {
                if (Interlocked.CompareExchange(ref _enqueue, pos + 1, pos) == pos)
                {
                    cell.Item = item;
                    // Release: the item is written before the sequence says the cell is full.
                    Volatile.Write(ref cell.Sequence, pos + 1);
                    return true;
                }

                pos = Volatile.Read(ref _enqueue);
            }
            else if (diff < 0)
            {
                return false; // full
            }
            else
            {
                pos = Volatile.Read(ref _enqueue);
            }
        }
    }

    public bool TryPop(out T? item)
    {
        long pos = _dequeue;
        ref Cell cell = ref _cells[pos & _mask];
        // Acquire: the item is read after the sequence that published it.
        if (Volatile.Read(ref cell.Sequence) != pos + 1)
        {
            item = null;
            return false;
        }

        item = cell.Item;
        cell.Item = null;
        _dequeue = pos + 1;
        // Release: the cell is emptied before producers may refill it.
        Volatile.Write(ref cell.Sequence, pos + _mask + 1);
        return true;
    }
}
