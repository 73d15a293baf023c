using Tolapai.Kernels.Des;

namespace Tolapai.Device.Engine;

/// <summary>A session the device holds: the scheduled key, mode and direction (its content descriptor).</summary>
internal sealed class DeviceSession
{
    public DeviceSession(uint id, DesKeySchedule key, CipherMode mode, CipherDirection direction)
    {
        Id = id;
        Key = key;
        Mode = mode;
        Direction = direction;
    }

    public uint Id { get; }

    public DesKeySchedule Key { get; }

    public CipherMode Mode { get; }

    public CipherDirection Direction { get; }
}

/// <summary>
/// The device's session table: slot + generation ids, so an id of a destroyed session never
/// finds the session that took its slot. Create/destroy take a lock (control plane); the
/// engines look up with one volatile read.
/// </summary>
internal sealed class DeviceSessionTable
{
    private readonly DeviceSession?[] _slots;
    private readonly ushort[] _generations;
    private readonly Stack<int> _free = new();
    private readonly Lock _lock = new();

    public DeviceSessionTable(int capacity)
    {
        _slots = new DeviceSession?[capacity];
        _generations = new ushort[capacity];
        for (int i = capacity - 1; i >= 0; i--)
        {
            _free.Push(i);
        }
    }

    public int Count { get; private set; }

    public bool TryCreate(ReadOnlySpan<byte> key, CipherMode mode, CipherDirection direction, out uint id)
    {
        lock (_lock)
        {
            if (!_free.TryPop(out int slot))
            {
                id = 0;
                return false;
            }

            // Generation starts at 1 so that id 0 (a zeroed entry) is never a session.
            ushort gen = (ushort)(_generations[slot] + 1 == 0 ? 1 : _generations[slot] + 1);
            _generations[slot] = gen;
            id = ((uint)gen << 16) | (uint)slot;
            Volatile.Write(ref _slots[slot], new DeviceSession(id, DesKeySchedule.Create(key), mode, direction));
            Count++;
            return true;
        }
    }

    public bool Destroy(uint id)
    {
        lock (_lock)
        {
            int slot = (int)(id & 0xFFFF);
            if (slot >= _slots.Length || _slots[slot] is not { } s || s.Id != id)
            {
                return false;
            }

            Volatile.Write(ref _slots[slot], null);
            s.Key.Dispose();
            _free.Push(slot);
            Count--;
            return true;
        }
    }

    public DeviceSession? Find(uint id)
    {
        uint slot = id & 0xFFFF;
        DeviceSession?[] slots = _slots;
        if (slot >= (uint)slots.Length)
        {
            return null;
        }

        DeviceSession? s = Volatile.Read(ref slots[slot]);
        return s is not null && s.Id == id ? s : null;
    }

    public void Clear()
    {
        lock (_lock)
        {
            for (int i = 0; i < _slots.Length; i++)
            {
                _slots[i]?.Key.Dispose();
                _slots[i] = null;
            }
        }
    }
}
