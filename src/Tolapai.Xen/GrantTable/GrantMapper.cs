using System.Runtime.CompilerServices;
using Tolapai.Xen.Hypervisor;
using Tolapai.Xen.Memory;

namespace Tolapai.Xen.GrantTable;

/// <summary>
/// The mapping side of grant tables (GNTTABOP_map_grant_ref, unmap_grant_ref, copy) for one
/// local domain, typically dom0's backend. Holds this process's maptrack table: a handle names
/// one mapping. Every failure is a <see cref="GrantStatus"/>, never an exception, whatever the
/// guest wrote into its table.
/// </summary>
public sealed unsafe partial class GrantMapper
{
    private const int LockSpinLimit = 1 << 20;
    private const uint BusyFlags = (uint)(GrantFlags.Reading | GrantFlags.Writing);

    private readonly Host _host;
    private readonly MapTrackEntry[] _track;
    private readonly int[] _freeHandles;
    private readonly Lock _trackLock = new();
    private int _freeCount;

    private struct MapTrackEntry
    {
        public bool InUse;
        public bool ReadOnly;
        public ushort Guest;
        public uint Gref;
        public uint Generation;
    }

    /// <summary>A mapper acting as domain <paramref name="localDomid"/> with room for <paramref name="maxMappings"/> mappings.</summary>
    public GrantMapper(Host host, ushort localDomid, int maxMappings = 4096)
    {
        _host = host;
        LocalDomId = localDomid;
        _track = new MapTrackEntry[maxMappings];
        _freeHandles = new int[maxMappings];
        for (int h = maxMappings; h > 0; h--)
        {
            _freeHandles[_freeCount++] = h - 1;
        }
    }

    /// <summary>The domain this mapper acts as (the grantee).</summary>
    public ushort LocalDomId { get; }

    /// <summary>Mappings currently held.</summary>
    public int ActiveMappings => _track.Length - _freeCount;

    /// <summary>
    /// Maps grant <paramref name="gref"/> of <paramref name="guestDomid"/>. Checks, as Xen does:
    /// the domain exists (BadDomain), the reference is in its table (BadGntref), the entry
    /// permits access to us and is writable if we write (GeneralError, as Xen's _set_status), the
    /// frame is a data page of the guest (BadPage), a handle is free (NoSpace).
    /// </summary>
    public GrantStatus Map(ushort guestDomid, uint gref, bool readOnly, out GrantMapping mapping)
    {
        mapping = default;
        GrantStatus status = Pin(guestDomid, gref, readOnly, out byte* page, out uint generation);
        if (status != GrantStatus.Okay)
        {
            Tolapai.Diagnostics.DataPlaneEventSource.Log.GrantMapFailed(LocalDomId, guestDomid, (int)gref, (int)status);
            return status;
        }

        int handle;
        lock (_trackLock)
        {
            handle = _freeCount > 0 ? _freeHandles[--_freeCount] : -1;
            if (handle >= 0)
            {
                _track[handle] = new MapTrackEntry { InUse = true, ReadOnly = readOnly, Guest = guestDomid, Gref = gref, Generation = generation };
            }
        }

        if (handle < 0)
        {
            Unpin(guestDomid, gref, readOnly, generation);
            return GrantStatus.NoSpace;
        }

        mapping = new GrantMapping(handle, page, readOnly);
        return GrantStatus.Okay;
    }

    /// <summary>Unmaps a handle from <see cref="Map"/>; BadHandle for one not in use.</summary>
    public GrantStatus Unmap(int handle)
    {
        MapTrackEntry e;
        lock (_trackLock)
        {
            if ((uint)handle >= (uint)_track.Length || !_track[handle].InUse)
            {
                return GrantStatus.BadHandle;
            }

            e = _track[handle];
            _track[handle] = default;
            _freeHandles[_freeCount++] = handle;
        }

        return Unpin(e.Guest, e.Gref, e.ReadOnly, e.Generation);
    }

    /// <summary>Unmaps a mapping; see <see cref="Unmap(int)"/>.</summary>
    public GrantStatus Unmap(in GrantMapping mapping) => Unmap(mapping.Handle);

    /// <summary>GNTTABOP_copy from a granted page into <paramref name="destination"/>; BadCopyArg if it would cross the page.</summary>
    public GrantStatus CopyFrom(ushort guestDomid, uint gref, int offset, Span<byte> destination)
    {
        if (offset < 0 || offset > GuestMemory.PageSize - destination.Length)
        {
            return GrantStatus.BadCopyArg;
        }

        GrantStatus status = Pin(guestDomid, gref, readOnly: true, out byte* page, out uint generation);
        if (status != GrantStatus.Okay)
        {
            return status;
        }

        new ReadOnlySpan<byte>(page + offset, destination.Length).CopyTo(destination);
        return Unpin(guestDomid, gref, readOnly: true, generation);
    }

    /// <summary>GNTTABOP_copy from <paramref name="source"/> into a granted page; needs a writable grant.</summary>
    public GrantStatus CopyTo(ushort guestDomid, uint gref, int offset, ReadOnlySpan<byte> source)
    {
        if (offset < 0 || offset > GuestMemory.PageSize - source.Length)
        {
            return GrantStatus.BadCopyArg;
        }

        GrantStatus status = Pin(guestDomid, gref, readOnly: false, out byte* page, out uint generation);
        if (status != GrantStatus.Okay)
        {
            return status;
        }

        source.CopyTo(new Span<byte>(page + offset, source.Length));
        return Unpin(guestDomid, gref, readOnly: false, generation);
    }

    private GrantStatus Pin(ushort guestDomid, uint gref, bool readOnly, out byte* page, out uint generation)
    {
        page = null;
        generation = 0;
        GuestMemory? guest = _host.MapGuestMemory(guestDomid);
        if (guest is null)
        {
            return GrantStatus.BadDomain;
        }

        generation = guest.Generation;

        if (guestDomid == LocalDomId)
        {
            return GrantStatus.PermissionDenied; // mapping one's own grant is refused
        }

        if (gref >= guest.GrantFrames * (uint)GrantEntryV1.PerFrame)
        {
            return GrantStatus.BadGntref;
        }

        ActiveGrantEntry* act = _host.ActiveGrant(guestDomid, gref);
        if (act == null)
        {
            return GrantStatus.BadGntref;
        }

        // flags u16 @0 and domid u16 @2 as one u32, so the domid check and the busy-bit set are one CAS.
        uint* shared = (uint*)(guest.Base + ((long)gref * sizeof(GrantEntryV1)));
        if (!TryLock(act))
        {
            return GrantStatus.EAgain;
        }

        GrantStatus status = GrantStatus.Okay;
        bool first = act->ReadPins == 0 && act->WritePins == 0;
        bool firstWriter = !readOnly && act->WritePins == 0;
        if (!first && act->Mapper != LocalDomId)
        {
            status = GrantStatus.GeneralError;
        }
        else if (first || firstWriter)
        {
            status = SetStatus(shared, readOnly);
            if (status == GrantStatus.Okay && first)
            {
                // Latch the frame once; later guest writes to the entry do not move the mapping.
                act->Frame = Volatile.Read(ref ((GrantEntryV1*)shared)->Frame);
                act->Mapper = LocalDomId;
            }
        }

        if (status == GrantStatus.Okay && (act->Frame < guest.GrantFrames || !guest.IsValidFrame(act->Frame)))
        {
            // Undo what SetStatus set: the guest granted a frame that is not its data page.
            if (first)
            {
                Interlocked.And(ref *shared, ~BusyFlags);
            }
            else if (firstWriter)
            {
                Interlocked.And(ref *shared, ~(uint)GrantFlags.Writing);
            }

            status = GrantStatus.BadPage;
        }

        if (status == GrantStatus.Okay)
        {
            if (readOnly)
            {
                act->ReadPins++;
            }
            else
            {
                act->WritePins++;
            }

            page = guest.FrameAddress(act->Frame);
        }

        Unlock(act);
        return status;
    }

    private GrantStatus Unpin(ushort guestDomid, uint gref, bool readOnly, uint generation)
    {
        GuestMemory? guest = _host.MapGuestMemory(guestDomid);
        ActiveGrantEntry* act = _host.ActiveGrant(guestDomid, gref);
        if (guest is null || act == null || guest.Generation != generation)
        {
            // The guest was destroyed (its active entries with it) or is a new domain with the
            // same id: there is no pin of ours to drop, and touching the new one's would be wrong.
            return GrantStatus.Okay;
        }

        uint* shared = (uint*)(guest.Base + ((long)gref * sizeof(GrantEntryV1)));
        while (!TryLock(act))
        {
            // Unmap must not fail on contention: keep trying (the holder is alive or gets stolen from).
        }

        // Never below zero: pins may have been released already (ReleaseGrantsHeldBy).
        if (readOnly && act->ReadPins > 0)
        {
            act->ReadPins--;
        }
        else if (!readOnly && act->WritePins > 0)
        {
            act->WritePins--;
        }

        // Atomic AND (full fence): the page accesses made under the pin happen before the guest
        // can see the busy bit clear and end access.
        if (act->WritePins == 0)
        {
            Interlocked.And(ref *shared, ~(uint)GrantFlags.Writing);
        }

        if (act->ReadPins == 0 && act->WritePins == 0)
        {
            Interlocked.And(ref *shared, ~(uint)GrantFlags.Reading);
        }

        Unlock(act);
        return GrantStatus.Okay;
    }

    /// <summary>Xen's _set_status_v1: CAS over flags+domid, at most a few retries against a guest rewriting the entry.</summary>
    private GrantStatus SetStatus(uint* shared, bool readOnly)
    {
        uint word = Volatile.Read(ref *shared);
        for (int retries = 0; retries < 5; retries++)
        {
            uint flags = word & 0xFFFF;
            uint domid = word >> 16;
            if ((flags & (uint)GrantFlags.TypeMask) != (uint)GrantFlags.PermitAccess || domid != LocalDomId)
            {
                return GrantStatus.GeneralError; // "Bad flags or dom"
            }

            uint next = word | (uint)GrantFlags.Reading;
            if (!readOnly)
            {
                if ((flags & (uint)GrantFlags.ReadOnly) != 0)
                {
                    return GrantStatus.GeneralError; // "Attempt to write-pin a r/o grant entry"
                }

                next |= (uint)GrantFlags.Writing;
            }

            uint seen = Interlocked.CompareExchange(ref *shared, next, word);
            if (seen == word)
            {
                return GrantStatus.Okay;
            }

            word = seen;
        }

        return GrantStatus.GeneralError; // "Shared grant entry is unstable"
    }

    internal static bool TryLockActive(ActiveGrantEntry* act) => TryLock(act);

    internal static void UnlockActive(ActiveGrantEntry* act) => Unlock(act);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool TryLock(ActiveGrantEntry* act)
    {
        int me = Environment.ProcessId;
        for (int i = 0; i < LockSpinLimit; i++)
        {
            int holder = Volatile.Read(ref act->Lock);
            if (holder == 0)
            {
                // Acquire (CAS is a full fence): pins read below are the last holder's.
                if (Interlocked.CompareExchange(ref act->Lock, me, 0) == 0)
                {
                    return true;
                }
            }
            else if ((i & 0xFFF) == 0xFFF && !Directory.Exists($"/proc/{holder}"))
            {
                // The holder died inside a few instructions of map/unmap: take the lock over.
                if (Interlocked.CompareExchange(ref act->Lock, me, holder) == holder)
                {
                    return true;
                }
            }

            Thread.SpinWait(1);
        }

        return false;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Unlock(ActiveGrantEntry* act) => Volatile.Write(ref act->Lock, 0); // release: pins written before
}
