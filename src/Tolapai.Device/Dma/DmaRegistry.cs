namespace Tolapai.Device.Dma;

/// <summary>
/// The device's IOMMU: which machine frames (domain, frame) the driver has registered for DMA,
/// where each lives in this process, and whether the device may write it. The engine
/// translates every segment of every request here and refuses a request that touches any
/// frame not registered (or writes a read-only one) before it reads or writes a byte.
/// </summary>
/// <remarks>
/// Registration is control plane (a lock, copy-on-write growth); translation is data plane and
/// lock-free: a volatile read of the domain's table and of one entry. An entry is the frame's
/// page-aligned host address with bit 0 = present, bit 1 = writable and bit 2 = granted (a
/// guest frame the split backend mapped from that guest's grant, as opposed to memory the
/// registering domain owns). Unregistering a frame
/// while the device still has a request on it in flight is the driver's bug, as with a real
/// IOMMU: the driver (or the split backend) unregisters only frames with no request pending.
/// </remarks>
public sealed unsafe class DmaRegistry
{
    /// <summary>Bytes per frame.</summary>
    public const int FrameSize = 4096;

    /// <summary>Highest frame number accepted plus one (16 GiB of 4 KiB frames per domain).</summary>
    public const uint MaxFrames = 1u << 22;

    private const nint Present = 1;
    private const nint Writable = 2;
    private const nint Granted = 4;
    private const nint FlagMask = FrameSize - 1;

    private readonly nint[]?[] _domains = new nint[]?[ushort.MaxValue + 1];
    private readonly Lock _lock = new();
    private int _registered;

    /// <summary>Frames registered now, over all domains.</summary>
    public int RegisteredFrames => Volatile.Read(ref _registered);

    /// <summary>
    /// Registers <paramref name="count"/> frames <paramref name="firstFrame"/>.. of
    /// <paramref name="domain"/>, frame i at <paramref name="hostAddress"/> + i × 4096.
    /// Re-registering a frame replaces its address and permission.
    /// </summary>
    /// <exception cref="ArgumentException">The address is not page aligned or a frame is beyond <see cref="MaxFrames"/>.</exception>
    public void Register(ushort domain, uint firstFrame, uint count, byte* hostAddress, bool writable) =>
        Register(domain, firstFrame, count, hostAddress, writable, granted: false);

    /// <summary>
    /// As <see cref="Register(ushort, uint, uint, byte*, bool)"/>, marking the frames as
    /// <paramref name="granted"/>: frames of guest <paramref name="domain"/> that dom0 reaches
    /// through a grant mapping of that guest (the split backend registers every frame it maps
    /// this way). The engine checks the mark on every segment of a request made for a guest.
    /// </summary>
    /// <exception cref="ArgumentException">The address is not page aligned or a frame is beyond <see cref="MaxFrames"/>.</exception>
    public void Register(ushort domain, uint firstFrame, uint count, byte* hostAddress, bool writable, bool granted)
    {
        if (((nint)hostAddress & FlagMask) != 0 || hostAddress == null)
        {
            throw new ArgumentException("host address must be a non-null, 4096-byte aligned address", nameof(hostAddress));
        }

        if (count == 0 || firstFrame >= MaxFrames || count > MaxFrames - firstFrame)
        {
            throw new ArgumentException($"frames {firstFrame}+{count} are outside 0..{MaxFrames - 1}", nameof(count));
        }

        lock (_lock)
        {
            nint[]? table = _domains[domain];
            uint needed = firstFrame + count;
            if (table is null || table.Length < needed)
            {
                nint[] grown = new nint[Math.Max(needed, table is null ? 64u : Math.Min(MaxFrames, (uint)table.Length * 2u))];
                table?.CopyTo(grown, 0);
                table = grown;
            }

            for (uint i = 0; i < count; i++)
            {
                if (table[firstFrame + i] == 0)
                {
                    _registered++;
                }

                table[firstFrame + i] = (nint)(hostAddress + ((long)i * FrameSize)) | Present | (writable ? Writable : 0) | (granted ? Granted : 0);
            }

            // Release: the entries are written before a translator can see the (new) table.
            Volatile.Write(ref _domains[domain], table);
        }
    }

    /// <summary>Removes frames from the registry; frames not registered are ignored. Returns how many were removed.</summary>
    public int Unregister(ushort domain, uint firstFrame, uint count = 1)
    {
        int removed = 0;
        lock (_lock)
        {
            nint[]? table = _domains[domain];
            if (table is null)
            {
                return 0;
            }

            for (ulong f = firstFrame; f < (ulong)firstFrame + count && f < (ulong)table.Length; f++)
            {
                if (Volatile.Read(ref table[f]) != 0)
                {
                    Volatile.Write(ref table[f], 0);
                    removed++;
                }
            }

            _registered -= removed;
        }

        return removed;
    }

    /// <summary>Removes every frame of <paramref name="domain"/> (a guest that went away). Returns how many were removed.</summary>
    public int UnregisterDomain(ushort domain)
    {
        lock (_lock)
        {
            nint[]? table = _domains[domain];
            if (table is null)
            {
                return 0;
            }

            int removed = 0;
            foreach (nint e in table)
            {
                if (e != 0)
                {
                    removed++;
                }
            }

            Volatile.Write(ref _domains[domain], null);
            _registered -= removed;
            return removed;
        }
    }

    /// <summary>
    /// Translates one frame: its host address, if registered and (when <paramref name="write"/>)
    /// writable. Lock-free.
    /// </summary>
    public bool TryTranslate(ushort domain, uint frame, bool write, out byte* host) => TryTranslate(domain, frame, write, out host, out _);

    /// <summary>
    /// As <see cref="TryTranslate(ushort, uint, bool, out byte*)"/>, also saying whether the
    /// frame was registered as <paramref name="granted"/> (a guest frame mapped from its grant).
    /// </summary>
    public bool TryTranslate(ushort domain, uint frame, bool write, out byte* host, out bool granted)
    {
        nint[]? table = Volatile.Read(ref _domains[domain]);
        if (table is not null && frame < (uint)table.Length)
        {
            nint e = Volatile.Read(ref table[frame]);
            if ((e & Present) != 0 && (!write || (e & Writable) != 0))
            {
                host = (byte*)(e & ~FlagMask);
                granted = (e & Granted) != 0;
                return true;
            }
        }

        host = null;
        granted = false;
        return false;
    }
}
