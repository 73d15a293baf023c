using System.Runtime.CompilerServices;
using Tolapai.Xen.Memory;

namespace Tolapai.Xen.GrantTable;

/// <summary>
/// The guest's side of its grant table (Linux's gnttab_*): grant a frame to another domain,
/// end that access. Entries live in the guest's first frames; this object only keeps the free
/// list of references, private to the guest process.
/// </summary>
public sealed unsafe class GrantTableFrontend
{
    /// <summary>References 0..7 are reserved for the toolstack (xenstore, console), as GNTTAB_NR_RESERVED_ENTRIES.</summary>
    public const uint ReservedEntries = 8;

    private readonly GuestMemory _memory;
    private readonly GrantEntryV1* _entries;
    private readonly uint[] _free;
    private readonly Lock _freeLock = new();
    private int _freeCount;

    /// <summary>Wraps the grant table at the start of <paramref name="memory"/> (the caller's own domain).</summary>
    public GrantTableFrontend(GuestMemory memory)
    {
        _memory = memory;
        _entries = (GrantEntryV1*)memory.Base;
        Capacity = memory.GrantFrames * GrantEntryV1.PerFrame;
        _free = new uint[Capacity - ReservedEntries];
        for (uint r = Capacity; r > ReservedEntries; r--)
        {
            _free[_freeCount++] = r - 1;
        }
    }

    /// <summary>Number of grant references.</summary>
    public uint Capacity { get; }

    /// <summary>References not in use.</summary>
    public int FreeCount => _freeCount;

    /// <summary>
    /// gnttab_grant_foreign_access: takes a free reference and grants <paramref name="frame"/> to
    /// <paramref name="domid"/>. Returns NoSpace when the table is full, BadPage for a frame
    /// that is not this guest's data page.
    /// </summary>
    public GrantStatus GrantForeignAccess(ushort domid, uint frame, bool readOnly, out uint gref)
    {
        gref = 0;
        if (frame < _memory.GrantFrames || !_memory.IsValidFrame(frame))
        {
            return GrantStatus.BadPage;
        }

        lock (_freeLock)
        {
            if (_freeCount == 0)
            {
                return GrantStatus.NoSpace;
            }

            gref = _free[--_freeCount];
        }

        GrantForeignAccessRef(gref, domid, frame, readOnly);
        return GrantStatus.Okay;
    }

    /// <summary>
    /// gnttab_grant_foreign_access_ref: fills a reference the caller owns. frame and domid are
    /// written first; flags last with a release store, so a mapper that sees PermitAccess sees them.
    /// </summary>
    public void GrantForeignAccessRef(uint gref, ushort domid, uint frame, bool readOnly)
    {
        GrantEntryV1* e = Entry(gref);
        e->Frame = frame;
        e->DomId = domid;
        Volatile.Write(ref e->Flags, (ushort)(GrantFlags.PermitAccess | (readOnly ? GrantFlags.ReadOnly : 0)));
        _memory.MarkDirty(gref / GrantEntryV1.PerFrame); // the table is guest memory: a migration copies it again
    }

    /// <summary>
    /// After a resume whose backend is another domain: every entry that permits access to
    /// <paramref name="from"/> permits it to <paramref name="to"/> instead (frame and flags kept).
    /// Returns the entries changed.
    /// </summary>
    public int Retarget(ushort from, ushort to)
    {
        int changed = 0;
        for (uint gref = ReservedEntries; gref < Capacity; gref++)
        {
            GrantEntryV1* e = _entries + gref;
            if ((Volatile.Read(ref e->Flags) & (ushort)GrantFlags.PermitAccess) != 0 && e->DomId == from)
            {
                e->DomId = to;
                _memory.MarkDirty(gref / GrantEntryV1.PerFrame);
                changed++;
            }
        }

        return changed;
    }

    /// <summary>
    /// After a resume on a host that has no pins on this guest's grants (a new host, or a dom0
    /// that died and came back): clears every GTF_reading/GTF_writing left in the table by the
    /// old host's mappers, so that ending access works again. Returns the entries cleared.
    /// </summary>
    public int ClearStaleBusyBits()
    {
        int cleared = 0;
        for (uint gref = 0; gref < Capacity; gref++)
        {
            GrantEntryV1* e = _entries + gref;
            const ushort busy = (ushort)(GrantFlags.Reading | GrantFlags.Writing);
            if ((Volatile.Read(ref e->Flags) & busy) != 0)
            {
                Interlocked.And(ref *(uint*)e, ~(uint)busy);
                cleared++;
            }
        }

        if (cleared > 0)
        {
            _memory.MarkDirty(0, _memory.GrantFrames);
        }

        return cleared;
    }

    /// <summary>
    /// gnttab_end_foreign_access_ref: revokes access unless the frame is mapped
    /// (GTF_reading/GTF_writing set). The clear is a CAS from a value without either busy bit,
    /// so a mapper that pins concurrently either wins (and this fails) or sees flags 0.
    /// </summary>
    /// <returns>True when access is ended: from now on no other domain can touch the page.</returns>
    public bool EndForeignAccessRef(uint gref)
    {
        GrantEntryV1* e = Entry(gref);
        ushort flags = Volatile.Read(ref e->Flags);
        while (true)
        {
            if ((flags & (ushort)(GrantFlags.Reading | GrantFlags.Writing)) != 0)
            {
                return false;
            }

            ushort seen = Interlocked.CompareExchange(ref e->Flags, 0, flags);
            if (seen == flags)
            {
                _memory.MarkDirty(gref / GrantEntryV1.PerFrame);
                return true;
            }

            flags = seen;
        }
    }

    /// <summary>Ends access and, on success, returns the reference to the free list.</summary>
    public bool EndForeignAccess(uint gref)
    {
        if (!EndForeignAccessRef(gref))
        {
            return false;
        }

        lock (_freeLock)
        {
            _free[_freeCount++] = gref;
        }

        return true;
    }

    /// <summary>Current flags of an entry (acquire read).</summary>
    public GrantFlags FlagsOf(uint gref) => (GrantFlags)Volatile.Read(ref Entry(gref)->Flags);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private GrantEntryV1* Entry(uint gref)
    {
        if (gref >= Capacity)
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(gref), $"grant reference {gref} is outside the {Capacity}-entry table.");
        }

        return _entries + gref;
    }
}
