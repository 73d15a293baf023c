namespace Tolapai.Ixp.Frontend;

/// <summary>
/// Free request ids: a bounded single-producer (completer) single-consumer (submitter) queue,
/// lock-free and allocation-free. Each side's index is written only by that side.
/// </summary>
internal sealed class IdQueue
{
    private readonly uint[] _slots;
    private readonly uint _mask;
    private long _head; // consumer (submitter)
    private long _tail; // producer (completer)

    public IdQueue(int capacity)
    {
        int size = (int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)capacity);
        _slots = new uint[size];
        _mask = (uint)size - 1;
    }

    public int Count => (int)(Volatile.Read(ref _tail) - Volatile.Read(ref _head));

    public void Push(uint id)
    {
        long t = _tail;
        _slots[t & _mask] = id;
        // Release: the slot is written before the tail says it is.
        Volatile.Write(ref _tail, t + 1);
    }

    public bool TryPop(out uint id)
    {
        long h = _head;
        // Acquire: the slot is read after the tail that published it.
        if (h == Volatile.Read(ref _tail))
        {
            id = 0;
            return false;
        }

        id = _slots[h & _mask];
        // Release: the slot is read before the producer may reuse it.
        Volatile.Write(ref _head, h + 1);
        return true;
    }
}
