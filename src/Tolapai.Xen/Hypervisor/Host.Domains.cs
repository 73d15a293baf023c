using System.Diagnostics;
using Tolapai.Xen.GrantTable;
using Tolapai.Xen.Memory;

namespace Tolapai.Xen.Hypervisor;

/// <summary>A consistent-enough snapshot of one domain-table slot.</summary>
/// <param name="DomId">Domain id.</param>
/// <param name="State">Lifecycle state.</param>
/// <param name="Pid">Owning process.</param>
/// <param name="StartTime">Owning process start time.</param>
/// <param name="Heartbeat">Last heartbeat, CLOCK_MONOTONIC ns.</param>
/// <param name="Pages">Pages of guest memory.</param>
/// <param name="GrantFrames">Grant table frames.</param>
/// <param name="Generation">Creation count of the slot.</param>
public readonly record struct DomainInfo(ushort DomId, DomainState State, int Pid, ulong StartTime, long Heartbeat, uint Pages, uint GrantFrames, uint Generation)
{
    /// <summary>What the domain said in its last shutdown call (<see cref="ShutdownReason.None"/> while it runs normally).</summary>
    public ShutdownReason Shutdown { get; init; } = ShutdownReason.None;
}

public sealed unsafe partial class Host
{
    /// <summary>
    /// Creates domain <paramref name="domid"/> owned by <paramref name="pid"/> (default: this
    /// process) with a zeroed memory file of <paramref name="pages"/> pages, the first
    /// <paramref name="grantFrames"/> of which hold its grant table.
    /// </summary>
    /// <returns>Ok, EINVAL (bad id or sizes), EEXIST (slot in use), ESRCH (no such process).</returns>
    public XenError CreateDomain(ushort domid, uint pages, uint grantFrames, int pid = 0)
    {
        DomainEntry* d = DomainSlot(domid);
        if (d == null || grantFrames == 0 || pages <= grantFrames || pages > (1u << 20)
            || (ulong)grantFrames * GrantEntryV1.PerFrame > MaxGrantEntries)
        {
            return XenError.EINVAL;
        }

        pid = pid == 0 ? Environment.ProcessId : pid;
        ulong? start = ProcessIdentity.StartTime(pid);
        if (start is null)
        {
            return XenError.ESRCH;
        }

        // Claim the slot: only one creator wins Free → Creating.
        if (Interlocked.CompareExchange(ref d->State, (uint)DomainState.Creating, (uint)DomainState.Free) != (uint)DomainState.Free)
        {
            return XenError.EEXIST;
        }

        try
        {
            SharedFile.Create(MemoryPath(domid), GuestMemory.FileLength(pages)).Dispose();
        }
        catch
        {
            // Give the slot back rather than leave it Creating forever.
            Volatile.Write(ref d->State, (uint)DomainState.Free);
            throw;
        }

        ResetDomainTables(domid);
        d->DomId = domid;
        d->Pid = pid;
        d->StartTime = start.Value;
        d->Pages = pages;
        d->GrantFrames = grantFrames;
        d->Heartbeat = MonotonicNanoseconds();
        d->Generation++;
        d->Shutdown = (uint)ShutdownReason.None;
        // Release: every field above is visible before the state says Running.
        Volatile.Write(ref d->State, (uint)DomainState.Running);
        return XenError.Ok;
    }

    /// <summary>
    /// Destroys a domain: closes its event channels (peers see them unbound and are woken),
    /// releases the pins it held on other guests' grants (so they can end access, as Xen does
    /// when a backend domain dies), deletes its memory file and frees the slot.
    /// </summary>
    public XenError DestroyDomain(ushort domid)
    {
        DomainEntry* d = DomainSlot(domid);
        if (d == null)
        {
            return XenError.EINVAL;
        }

        if (Interlocked.CompareExchange(ref d->State, (uint)DomainState.Dying, (uint)DomainState.Running) != (uint)DomainState.Running)
        {
            return XenError.ENOENT;
        }

        for (uint port = 1; port < PortsPerDomain; port++)
        {
            _ = CloseEventChannel(domid, port);
        }

        _ = ReleaseGrantsHeldBy(domid);

        lock (_memoryLock)
        {
            Retire(domid);
        }

        File.Delete(MemoryPath(domid));
        // Release: teardown is done before the slot can be claimed again.
        Volatile.Write(ref d->State, (uint)DomainState.Free);
        return XenError.Ok;
    }

    /// <summary>Reads a domain-table slot, or null when <paramref name="domid"/> is out of range or free.</summary>
    public DomainInfo? Lookup(ushort domid)
    {
        DomainEntry* d = DomainSlot(domid);
        if (d == null)
        {
            return null;
        }

        // Acquire: the fields below were written before the state we read.
        DomainState state = (DomainState)Volatile.Read(ref d->State);
        if (state == DomainState.Free)
        {
            return null;
        }

        return new DomainInfo(domid, state, d->Pid, d->StartTime, Volatile.Read(ref d->Heartbeat), d->Pages, d->GrantFrames, d->Generation)
        {
            Shutdown = (ShutdownReason)Volatile.Read(ref d->Shutdown),
        };
    }

    /// <summary>
    /// The guest's <c>SCHEDOP_shutdown</c>: domain <paramref name="domid"/> (which must be owned
    /// by this process) records <paramref name="reason"/>; a toolstack waiting for a suspend sees it.
    /// </summary>
    /// <returns>Ok, ENOENT (not running), EPERM (another process's domain).</returns>
    public XenError ShutdownSelf(ushort domid, ShutdownReason reason)
    {
        DomainEntry* d = DomainSlot(domid);
        if (d == null || Volatile.Read(ref d->State) != (uint)DomainState.Running)
        {
            return XenError.ENOENT;
        }

        if (d->Pid != Environment.ProcessId)
        {
            return XenError.EPERM;
        }

        Volatile.Write(ref d->Shutdown, (uint)reason);
        return XenError.Ok;
    }

    /// <summary>
    /// The toolstack's side of a cancelled suspend (<c>xc_domain_resume</c> with fast resume): the
    /// domain runs on here, its shutdown code cleared.
    /// </summary>
    public XenError ClearShutdown(ushort domid)
    {
        DomainEntry* d = DomainSlot(domid);
        if (d == null || Volatile.Read(ref d->State) != (uint)DomainState.Running)
        {
            return XenError.ENOENT;
        }

        Volatile.Write(ref d->Shutdown, (uint)ShutdownReason.None);
        return XenError.Ok;
    }

    /// <summary>True when the domain is Running and its process (same pid AND same start time) still exists.</summary>
    public bool IsAlive(ushort domid) =>
        Lookup(domid) is { State: DomainState.Running } info && ProcessIdentity.IsAlive(info.Pid, info.StartTime);

    /// <summary>Records a heartbeat for <paramref name="domid"/> (release store of CLOCK_MONOTONIC ns).</summary>
    public void Heartbeat(ushort domid)
    {
        DomainEntry* d = DomainSlot(domid);
        if (d != null)
        {
            Volatile.Write(ref d->Heartbeat, MonotonicNanoseconds());
        }
    }

    /// <summary>Nanoseconds since the last heartbeat of <paramref name="domid"/>, or null if it does not exist.</summary>
    public long? HeartbeatAge(ushort domid) => Lookup(domid) is { } info ? MonotonicNanoseconds() - info.Heartbeat : null;

    /// <summary>
    /// Destroys every Running domain whose process is gone (pid + start time), and, when
    /// <paramref name="staleAfter"/> is given, every one whose heartbeat is older than that (a
    /// hung process); returns their ids.
    /// </summary>
    public IReadOnlyList<ushort> ReapDeadDomains(TimeSpan? staleAfter = null)
    {
        List<ushort> reaped = [];
        long now = MonotonicNanoseconds();
        for (uint id = 0; id < MaxDomains; id++)
        {
            if (Lookup((ushort)id) is not { State: DomainState.Running } info)
            {
                continue;
            }

            bool dead = !ProcessIdentity.IsAlive(info.Pid, info.StartTime)
                || (staleAfter is { } limit && now - info.Heartbeat > (long)(limit.TotalMilliseconds * 1e6));
            if (dead && DestroyDomain((ushort)id) == XenError.Ok)
            {
                reaped.Add((ushort)id);
            }
        }

        return reaped;
    }

    /// <summary>
    /// Maps a domain's memory into this process (once; later calls return the same mapping).
    /// Used by the guest for its own memory and by a backend for foreign pages. Null when the
    /// domain is not running or its memory file is missing or short.
    /// </summary>
    public GuestMemory? MapGuestMemory(ushort domid)
    {
        if (Lookup(domid) is not { State: DomainState.Running } info)
        {
            return null;
        }

        lock (_memoryLock)
        {
            GuestMemory? m = _memory[domid];
            if (m is not null && m.Generation != info.Generation)
            {
                Retire(domid); // the domain was destroyed and created again: a new file
                m = null;
            }

            if (m is null)
            {
                SharedFile file;
                try
                {
                    file = SharedFile.Open(MemoryPath(domid), GuestMemory.FileLength(info.Pages));
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException)
                {
                    // Destroyed meanwhile, or the file is shorter than the domain table says
                    // (InvalidDataException): no such memory, not a crash.
                    return null;
                }

                m = new GuestMemory(file, domid, info.Pages, info.GrantFrames, info.Generation);
                _memory[domid] = m;
            }

            return m;
        }
    }

    /// <summary>
    /// Drops every pin that <paramref name="mapper"/> holds on other domains' grants and clears
    /// the matching GTF_reading/GTF_writing, as Xen releases a dead domain's maptrack. Any
    /// mapping that process still had is void. Returns the number of grant entries released.
    /// </summary>
    public int ReleaseGrantsHeldBy(ushort mapper)
    {
        int released = 0;
        for (uint g = 0; g < MaxDomains; g++)
        {
            if (g == mapper || Lookup((ushort)g) is not { State: DomainState.Running } info)
            {
                continue;
            }

            GuestMemory? guest = null;
            uint entries = Math.Min(info.GrantFrames * (uint)GrantEntryV1.PerFrame, MaxGrantEntries);
            for (uint gref = 0; gref < entries; gref++)
            {
                ActiveGrantEntry* act = ActiveGrant(g, gref);
                if (act->Mapper != mapper || (Volatile.Read(ref act->ReadPins) | Volatile.Read(ref act->WritePins)) == 0)
                {
                    continue;
                }

                guest ??= MapGuestMemory((ushort)g);
                if (guest is null || !GrantMapper.TryLockActive(act))
                {
                    continue;
                }

                if (act->Mapper == mapper && (act->ReadPins | act->WritePins) != 0)
                {
                    act->ReadPins = 0;
                    act->WritePins = 0;
                    uint* shared = (uint*)(guest.Base + ((long)gref * sizeof(GrantEntryV1)));
                    // Atomic AND: the guest's CAS on flags sees either the busy bits or none.
                    Interlocked.And(ref *shared, ~(uint)(GrantFlags.Reading | GrantFlags.Writing));
                    released++;
                }

                GrantMapper.UnlockActive(act);
            }
        }

        return released;
    }

    /// <summary>
    /// Gives up this host's cached mapping of <paramref name="domid"/>'s memory without unmapping
    /// it: a guest that moves to another host keeps its memory object (remapped in place onto the
    /// new host's file), so this host must not unmap it when it is disposed.
    /// </summary>
    public void DetachGuestMemory(ushort domid, GuestMemory memory)
    {
        ArgumentNullException.ThrowIfNull(memory);
        lock (_memoryLock)
        {
            if (domid < MaxDomains && ReferenceEquals(_memory[domid], memory))
            {
                _memory[domid] = null;
            }
        }
    }

    /// <summary>
    /// Takes a guest's own memory object, already remapped onto this host's file of
    /// <paramref name="domid"/> (<see cref="GuestMemory.Remap"/>), as this host's mapping of that domain.
    /// </summary>
    public void AttachGuestMemory(ushort domid, GuestMemory memory)
    {
        ArgumentNullException.ThrowIfNull(memory);
        lock (_memoryLock)
        {
            if (domid >= MaxDomains)
            {
                throw new ArgumentOutOfRangeException(nameof(domid), domid, "no such domain slot");
            }

            Retire(domid);
            _memory[domid] = memory;
        }
    }

    /// <summary>Moves a domain's mapping out of the cache; the caller holds <c>_memoryLock</c>.</summary>
    private void Retire(ushort domid)
    {
        if (_memory[domid] is { } old)
        {
            _retired.Add(old);
            _memory[domid] = null;
        }
    }

    private void ResetDomainTables(ushort domid)
    {
        for (uint port = 0; port < PortsPerDomain; port++)
        {
            *PortEntry(domid, port) = default;
        }

        new Span<ActiveGrantEntry>(ActiveGrant(domid, 0), (int)MaxGrantEntries).Clear();
    }

    /// <summary>CLOCK_MONOTONIC in ns on Linux (Stopwatch's source there), the same clock in every process.</summary>
    internal static long MonotonicNanoseconds() =>
        Stopwatch.Frequency == 1_000_000_000 ? Stopwatch.GetTimestamp() : (long)(Stopwatch.GetTimestamp() * (1e9 / Stopwatch.Frequency));
}
