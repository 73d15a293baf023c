using System.Diagnostics;
using System.Globalization;
using Tolapai.Xen.Hypervisor;
using Tolapai.Xen.Memory;
using Tolapai.Xen.XenStore;
using Tolapai.Xen.Xenbus;

namespace Tolapai.Xen.Toolstack;

/// <summary>
/// Suspend, resume and migration (<c>xl migrate</c>, libxl's save/restore through a socket; here
/// the "socket" is the two hosts' memory files, which this process maps both of).
/// </summary>
public sealed partial class DomainToolstack
{
    /// <summary>The lock a migration of <paramref name="domid"/> holds on its source host.</summary>
    public static string MigrationLockPath(string runDirectory, ushort domid) =>
        Path.Combine(runDirectory, string.Create(CultureInfo.InvariantCulture, $"dom{domid}.migrate.lock"));

    /// <summary>
    /// <c>xl migrate &lt;domid&gt; --to &lt;run-dir&gt;</c>: opens the destination's toolstack (its dom0
    /// must run) and moves the guest there (<see cref="MigrateAsync(ushort, DomainToolstack, MigrationOptions?, CancellationToken)"/>).
    /// </summary>
    public async Task<MigrationResult> MigrateAsync(ushort domid, string destinationRunDirectory, MigrationOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(destinationRunDirectory);
        CheckGuestDomId(domid);
        CheckMigratable(domid);
        string destination = Path.GetFullPath(destinationRunDirectory);
        if (SameDirectory(destination, RunDirectory))
            throw new ToolstackException($"domain {domid} is already on {RunDirectory}", isUsageError: true);
        await using DomainToolstack to = await OpenAsync(destination, cancellationToken).ConfigureAwait(false);
        return await MigrateAsync(domid, to, options, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Moves guest <paramref name="domid"/> to <paramref name="destination"/>'s host: (live only:
    /// pre-copy rounds of its memory while it runs, each copying the pages its dirty log marked);
    /// <c>control/shutdown = suspend</c> and a wait for the guest to quiesce its devices and
    /// suspend; the final copy; the domain built on the destination (same memory, name and
    /// devices, a new xenstore channel) and a <see cref="ResumeTicket"/> for the guest; the wait
    /// for the guest to run there; and the source's copy of the domain released (its process is
    /// not touched). Any failure before the guest took the ticket undoes the destination's part
    /// and resumes the guest on the source.
    /// </summary>
    public async Task<MigrationResult> MigrateAsync(ushort domid, DomainToolstack destination, MigrationOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(destination);
        CheckGuestDomId(domid);
        MigrationOptions o = options ?? new MigrationOptions();
        if (SameDirectory(destination.RunDirectory, RunDirectory))
            throw new ToolstackException($"domain {domid} is already on {RunDirectory}", isUsageError: true);
        CheckMigratable(domid);
        if (!RunDirectories.IsDom0Running(destination.RunDirectory))
            throw new ToolstackException($"no dom0 running on {destination.RunDirectory}");
        using FileLock migrating = FileLock.TryAcquire(MigrationLockPath(RunDirectory, domid))
            ?? throw new ToolstackException($"a migration of domain {domid} is already running");
        DomainInfo info = CheckMigratable(domid); // again under the lock: a migration that just ended released it
        string home = XsPath.DomainPath(domid);
        string name = await TryReadAsync(home + "/name").ConfigureAwait(false) ?? throw new ToolstackException($"domain {domid} has no name in XenStore");
        await CheckCanSuspendAsync(domid).ConfigureAwait(false);
        if (await destination.FindByNameAsync(name).ConfigureAwait(false) is ushort clash)
            throw new ToolstackException($"a domain named '{name}' already exists on {destination.RunDirectory} (domid {clash})");
        IReadOnlyList<(string Type, uint DevId)> devices = await DevicesAsync(domid).ConfigureAwait(false);
        var incoming = IncomingDomain.From(info, name, [.. devices.Select(d => d.Type)]);

        long started = Stopwatch.GetTimestamp();
        ushort newId = await destination.ReserveIncomingAsync(incoming, cancellationToken).ConfigureAwait(false);
        o.Log?.Invoke($"domain {domid} → {destination.RunDirectory} as domain {newId}");
        bool suspended = false, handedOver = false;
        int rounds = 0;
        long sent = 0, final = 0, suspendAt = 0;
        try
        {
            // Home and devices first, while the guest still runs: the destination's backends
            // get ready for it, and none of this is downtime.
            IReadOnlyList<(string Type, uint DevId)> there = await destination.PrepareIncomingAsync(newId, incoming, cancellationToken).ConfigureAwait(false);
            await CheckDevicesFitAsync(domid, destination, newId, there, o.DeviceReadyTimeout, cancellationToken).ConfigureAwait(false);
            GuestMemory source = Host.MapGuestMemory(domid) ?? throw new ToolstackException($"the memory of domain {domid} is gone (it died)");
            GuestMemory target = destination.Host.MapGuestMemory(newId) ?? throw new ToolstackException($"the new domain {newId} on {destination.RunDirectory} is gone");
            if (o.Live)
            {
                sent += CopyPages(source, target, everyPage: true);
                rounds = 1;
                o.Log?.Invoke($"round 1: {sent} pages");
                while (rounds < o.MaxRounds)
                {
                    uint dirty = source.CountDirty();
                    if (dirty <= o.StopAtDirtyPages)
                        break;
                    long n = CopyPages(source, target, everyPage: false);
                    sent += n;
                    rounds++;
                    o.Log?.Invoke($"round {rounds}: {n} pages");
                    cancellationToken.ThrowIfCancellationRequested();
                }
            }

            suspendAt = Stopwatch.GetTimestamp();
            await SuspendLockedAsync(domid, info, o.SuspendTimeout, cancellationToken).ConfigureAwait(false);
            suspended = true;
            double quiesced = Stopwatch.GetElapsedTime(suspendAt).TotalMilliseconds;
            final = CopyPages(source, target, everyPage: !o.Live);
            sent += final;
            o.Log?.Invoke(string.Create(CultureInfo.InvariantCulture, $"suspended; final copy: {final} pages (guest quiesced in {quiesced:F1} ms, copied by {Stopwatch.GetElapsedTime(suspendAt).TotalMilliseconds:F1} ms)"));
            ResumeTicket ticket = await destination.IntroduceIncomingAsync(newId, incoming, cancellationToken).ConfigureAwait(false);
            CheckAlive(domid, info);
            ticket.WriteTo(RunDirectory, info.Pid, info.StartTime);
            handedOver = true;
            o.Log?.Invoke(string.Create(CultureInfo.InvariantCulture, $"introduced there, ticket handed over at {Stopwatch.GetElapsedTime(suspendAt).TotalMilliseconds:F1} ms"));
            await destination.WaitForResumeAsync(newId, info, o.ResumeTimeout, cancellationToken).ConfigureAwait(false);
            TimeSpan downtime = Stopwatch.GetElapsedTime(suspendAt);
            o.Log?.Invoke($"running on {destination.RunDirectory} as domain {newId} after {downtime.TotalMilliseconds:F1} ms down");
            using (await LockAsync(cancellationToken).ConfigureAwait(false))
            {
                await TeardownLockedAsync(domid).ConfigureAwait(false);
            }
            return new MigrationResult(domid, newId, o.Live, rounds, sent, final, downtime, Stopwatch.GetElapsedTime(started));
        }
        catch (Exception e) when (!handedOver)
        {
            o.Log?.Invoke($"migration failed ({e.Message}); domain {domid} stays on {RunDirectory}");
            await destination.AbandonIncomingAsync(newId).ConfigureAwait(false);
            if (suspended && ProcessIdentity.IsAlive(info.Pid, info.StartTime))
                ResumeInPlace(domid, info);
            throw e is ToolstackException ? e : new ToolstackException($"migrating domain {domid} to {destination.RunDirectory}: {e.Message}", e);
        }
    }

    /// <summary>
    /// Asks guest <paramref name="domid"/> to suspend (<c>control/shutdown = suspend</c>) and waits
    /// until it has (its devices quiesced, what it had in flight kept to resubmit). It stays
    /// suspended until <see cref="ResumeAsync"/> (or a migration) resumes it.
    /// </summary>
    public async Task SuspendAsync(ushort domid, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        CheckGuestDomId(domid);
        DomainInfo info = CheckMigratable(domid);
        await CheckCanSuspendAsync(domid).ConfigureAwait(false);
        await SuspendLockedAsync(domid, info, timeout, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Resumes a suspended guest where it is (a cancelled suspend: same domain, same devices,
    /// which reconnect and resubmit) and waits up to <paramref name="timeout"/> until it runs again.
    /// </summary>
    public async Task ResumeAsync(ushort domid, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        CheckGuestDomId(domid);
        DomainInfo info = CheckMigratable(domid);
        if (info.Shutdown != ShutdownReason.Suspend)
            throw new ToolstackException($"domain {domid} is not suspended");
        await TryRmAsync(FeatureSuspendKey(domid)).ConfigureAwait(false);
        ResumeInPlace(domid, info);
        await WaitForResumeAsync(domid, info, timeout, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// True once guest <paramref name="domid"/> has written <c>control/feature-suspend = 1</c>:
    /// it can suspend (a Xen-aware kernel that finished starting, or one that resumed).
    /// </summary>
    public async Task<bool> CanSuspendAsync(ushort domid) => await TryReadAsync(FeatureSuspendKey(domid)).ConfigureAwait(false) == "1";

    private async Task CheckCanSuspendAsync(ushort domid)
    {
        if (!await CanSuspendAsync(domid).ConfigureAwait(false))
            throw new ToolstackException($"domain {domid} cannot suspend (its guest did not write control/feature-suspend)");
    }

    private static string FeatureSuspendKey(ushort domid) => XsPath.DomainPath(domid) + "/control/feature-suspend";

    private void ResumeInPlace(ushort domid, DomainInfo info)
    {
        _ = Host.ClearShutdown(domid);
        new ResumeTicket(RunDirectory, domid, info.Generation, info.Pages - 1, 0, InPlace: true).WriteTo(RunDirectory, info.Pid, info.StartTime);
    }

    /// <summary>
    /// Rebuilds, on this host, a guest whose dom0 died (see <see cref="Dom0Host"/>): the same
    /// domid, memory copied from its old file, home and devices from its <see cref="DomainRecord"/>,
    /// and a ticket in this run directory for the guest waiting there.
    /// </summary>
    internal async Task<ushort> AdoptAsync(IncomingDomain guest, string oldMemoryFile, CancellationToken cancellationToken)
    {
        ushort id = await ReserveIncomingAsync(guest, cancellationToken).ConfigureAwait(false);
        try
        {
            GuestMemory target = Host.MapGuestMemory(id) ?? throw new ToolstackException($"the memory of adopted domain {id} is gone");
            using (SharedFile old = SharedFile.Open(oldMemoryFile, GuestMemory.FileLength(guest.Pages)))
            {
                old.Slice(0, checked((int)((long)guest.Pages << GuestMemory.PageShift))).CopyTo(target.PageRange(0, guest.Pages));
            }
            await PrepareIncomingAsync(id, guest, cancellationToken).ConfigureAwait(false);
            ResumeTicket ticket = await IntroduceIncomingAsync(id, guest, cancellationToken).ConfigureAwait(false);
            ticket.WriteTo(RunDirectory, guest.Pid, guest.StartTime);
            return id;
        }
        catch
        {
            await AbandonIncomingAsync(id).ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Claims a domain slot for an incoming guest (its process, its sizes) with a zeroed memory file.</summary>
    internal async Task<ushort> ReserveIncomingAsync(IncomingDomain guest, CancellationToken cancellationToken)
    {
        using FileLock toolstackLock = await LockAsync(cancellationToken).ConfigureAwait(false);
        if (guest.GrantFrames == 0 || (ulong)guest.GrantFrames * 512 > Host.MaxGrantEntries)
            throw new ToolstackException($"the guest's {guest.GrantFrames} grant frames do not fit this host (at most {Host.MaxGrantEntries / 512})");
        ushort id = guest.WantedDomId ?? await NextFreeDomIdAsync().ConfigureAwait(false);
        XenError created = Host.CreateDomain(id, guest.Pages, guest.GrantFrames, guest.Pid);
        if (created == XenError.ESRCH)
            throw new ToolstackException($"the guest process {guest.Pid} is gone (stat: {ProcessIdentity.StartTime(guest.Pid)?.ToString(CultureInfo.InvariantCulture) ?? "none"}, alive {ProcessIdentity.IsAlive(guest.Pid, guest.StartTime)})");
        if (created != XenError.Ok)
            throw new ToolstackException($"cannot create domain {id} on {RunDirectory}: {created}");
        if (Host.Lookup(id)!.Value.StartTime != guest.StartTime)
        {
            _ = Host.DestroyDomain(id);
            throw new ToolstackException($"the guest process {guest.Pid} is gone");
        }
        return id;
    }

    /// <summary>An incoming domain's home and devices (its backends start and wait for it) and its record; returns the devices made, in order.</summary>
    internal async Task<IReadOnlyList<(string Type, uint DevId)>> PrepareIncomingAsync(ushort id, IncomingDomain guest, CancellationToken cancellationToken)
    {
        using FileLock toolstackLock = await LockAsync(cancellationToken).ConfigureAwait(false);
        CheckIncoming(id, guest);
        await WriteDomainEntriesAsync(id, guest.Name, guest.Pages).ConfigureAwait(false);
        List<(string Type, uint DevId)> devices = [];
        foreach (string type in guest.DeviceTypes)
            devices.Add((type, await AddDeviceLockedAsync(id, type).ConfigureAwait(false)));
        new DomainRecord(guest.Name, [.. devices.Select(d => d.Type + "/" + Id(d.DevId))]).Write(RunDirectory, id);
        return devices;
    }

    /// <summary>
    /// Before the guest is suspended: each of its devices has a backend on the destination
    /// (the device reached InitWait there) that offers the ring the guest's frontend uses
    /// (<c>ring-page-order</c> within <c>max-ring-page-order</c>, <c>multi-queue-num-queues</c>
    /// within <c>multi-queue-max-queues</c>, the blkif names). A frontend cannot shrink its rings
    /// with requests in flight, so a destination that offers less is refused here, with nothing changed.
    /// </summary>
    private async Task CheckDevicesFitAsync(ushort domid, DomainToolstack destination, ushort newId, IReadOnlyList<(string Type, uint DevId)> there, TimeSpan timeout, CancellationToken cancellationToken)
    {
        IReadOnlyList<(string Type, uint DevId)> here = await DevicesAsync(domid).ConfigureAwait(false);
        for (int i = 0; i < here.Count && i < there.Count; i++)
        {
            (string type, uint devid) = here[i];
            string front = XenbusPaths.Frontend(domid, type, devid);
            string back = XenbusPaths.Backend(newId, type, there[i].DevId);
            string initWait = XenbusPaths.Format(XenbusState.InitWait);
            long deadline = Environment.TickCount64 + (long)timeout.TotalMilliseconds;
            while (await destination.TryReadAsync(XenbusPaths.Key(back, XenbusPaths.StateKey)).ConfigureAwait(false) != initWait)
            {
                if (Environment.TickCount64 > deadline)
                    throw new ToolstackException($"{destination.RunDirectory} has no {type} backend serving the guest (device {type}/{there[i].DevId} did not reach InitWait within {timeout.TotalSeconds:F0} s)");
                await Task.Delay(2, cancellationToken).ConfigureAwait(false);
            }

            uint order = Number(await TryReadAsync(XenbusPaths.Key(front, "ring-page-order")).ConfigureAwait(false), 0);
            uint queues = Number(await TryReadAsync(XenbusPaths.Key(front, "multi-queue-num-queues")).ConfigureAwait(false), 1);
            uint maxOrder = Number(await destination.TryReadAsync(XenbusPaths.Key(back, "max-ring-page-order")).ConfigureAwait(false), 0);
            uint maxQueues = Number(await destination.TryReadAsync(XenbusPaths.Key(back, "multi-queue-max-queues")).ConfigureAwait(false), 1);
            if (order > maxOrder)
                throw new ToolstackException($"the {type} backend of {destination.RunDirectory} offers rings of up to 2^{maxOrder} pages (max-ring-page-order); the guest's device {type}/{devid} uses 2^{order}");
            if (queues > maxQueues)
                throw new ToolstackException($"the {type} backend of {destination.RunDirectory} offers up to {maxQueues} queues (multi-queue-max-queues); the guest's device {type}/{devid} uses {queues}");
        }
    }

    private static uint Number(string? text, uint absent) =>
        text is null ? absent : uint.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out uint v) ? v : uint.MaxValue;

    /// <summary>
    /// Once the incoming domain's memory is final: its xenstore page cleared (a fresh ring for
    /// this host's xenstored, as libxl clears the store page on restore), a new xenstore event
    /// channel, and the introduction; returns the guest's ticket.
    /// </summary>
    internal async Task<ResumeTicket> IntroduceIncomingAsync(ushort id, IncomingDomain guest, CancellationToken cancellationToken)
    {
        using FileLock toolstackLock = await LockAsync(cancellationToken).ConfigureAwait(false);
        DomainInfo info = CheckIncoming(id, guest);
        GuestMemory memory = Host.MapGuestMemory(id) ?? throw new ToolstackException($"the memory of incoming domain {id} is gone");
        memory.Page(guest.StoreFrame).Clear();
        XenError alloc = Host.AllocUnbound(id, 0, out uint port);
        if (alloc != XenError.Ok)
            throw new ToolstackException($"cannot allocate the xenstore event channel of domain {id}: {alloc}");
        await XenStore.IntroduceAsync(id, guest.StoreFrame, port).ConfigureAwait(false);
        return new ResumeTicket(RunDirectory, id, info.Generation, guest.StoreFrame, port);
    }

    private DomainInfo CheckIncoming(ushort id, IncomingDomain guest) =>
        Host.Lookup(id) is { State: DomainState.Running } info && info.Pid == guest.Pid && info.StartTime == guest.StartTime
            ? info
            : throw new ToolstackException($"the incoming domain {id} on {RunDirectory} is gone");

    /// <summary>Takes an incoming domain that will not run here down again (never its process); errors are swallowed: the reaper finishes what this cannot.</summary>
    internal async Task AbandonIncomingAsync(ushort id)
    {
        try
        {
            using FileLock toolstackLock = await LockAsync(CancellationToken.None).ConfigureAwait(false);
            await TeardownLockedAsync(id).ConfigureAwait(false);
        }
        catch (Exception e) when (e is ToolstackException or XenStoreException or IOException or ObjectDisposedException or TimeoutException or System.Net.Sockets.SocketException)
        {
            // A destination that died: its next dom0 finds the slot stale.
            _ = Host.DestroyDomain(id);
        }
    }

    /// <summary>Waits until the guest, resumed here, has written <c>control/feature-suspend</c> again (its last step after its devices reconnected).</summary>
    internal async Task WaitForResumeAsync(ushort id, DomainInfo guest, TimeSpan timeout, CancellationToken cancellationToken)
    {
        string key = FeatureSuspendKey(id);
        long deadline = Environment.TickCount64 + (long)timeout.TotalMilliseconds;
        while (await TryReadAsync(key).ConfigureAwait(false) != "1")
        {
            if (!ProcessIdentity.IsAlive(guest.Pid, guest.StartTime))
                throw new ToolstackException($"the guest (pid {guest.Pid}) died while resuming on {RunDirectory}");
            if (Environment.TickCount64 > deadline)
                throw new ToolstackException($"the guest did not resume on {RunDirectory} within {timeout.TotalSeconds:F0} s");
            await Task.Delay(1, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task SuspendLockedAsync(ushort domid, DomainInfo info, TimeSpan timeout, CancellationToken cancellationToken)
    {
        if (Host.Lookup(domid) is { Shutdown: ShutdownReason.Suspend })
            return; // already suspended (a migration that failed after its suspend, retried)
        await XenStore.WriteAsync(XsPath.DomainPath(domid) + "/control/shutdown", "suspend").ConfigureAwait(false);
        long deadline = Environment.TickCount64 + (long)timeout.TotalMilliseconds;
        while (Host.Lookup(domid) is not { Shutdown: ShutdownReason.Suspend })
        {
            CheckAlive(domid, info);
            if (Environment.TickCount64 > deadline)
            {
                await XenStore.WriteAsync(XsPath.DomainPath(domid) + "/control/shutdown", "").ConfigureAwait(false);
                throw new ToolstackException($"domain {domid} did not suspend within {timeout.TotalSeconds:F0} s");
            }
            await Task.Delay(1, cancellationToken).ConfigureAwait(false);
        }
    }

    private void CheckAlive(ushort domid, DomainInfo info)
    {
        if (Host.Lookup(domid) is not { State: DomainState.Running } now || now.Generation != info.Generation || !ProcessIdentity.IsAlive(info.Pid, info.StartTime))
            throw new ToolstackException($"domain {domid} died during the migration");
    }

    private DomainInfo CheckMigratable(ushort domid) =>
        Host.Lookup(domid) is { State: DomainState.Running } info && ProcessIdentity.IsAlive(info.Pid, info.StartTime)
            ? info
            : throw new ToolstackException($"domain {domid} does not exist on {RunDirectory}");

    /// <summary>The guest's devices of known types, in devid order (what the destination recreates, in this order).</summary>
    private async Task<IReadOnlyList<(string Type, uint DevId)>> DevicesAsync(ushort domid)
    {
        List<(string, uint)> devices = [];
        string home = XsPath.DomainPath(domid);
        foreach (string type in (await TryDirectoryAsync(home + "/device").ConfigureAwait(false)).Where(SupportedDeviceTypes.Contains))
        {
            foreach (string d in await TryDirectoryAsync(home + "/device/" + type).ConfigureAwait(false))
            {
                if (d.Length is > 0 and <= 9 && uint.TryParse(d, NumberStyles.None, CultureInfo.InvariantCulture, out uint devid))
                    devices.Add((type, devid));
            }
        }
        return [.. devices.OrderBy(d => d.Item1, StringComparer.Ordinal).ThenBy(d => d.Item2)];
    }

    /// <summary>Copies the pages the dirty log marked (clearing each mark before its copy), or every page; returns how many.</summary>
    private static long CopyPages(GuestMemory source, GuestMemory target, bool everyPage)
    {
        long n = 0;
        for (uint f = 0; f < source.Pages; f++)
        {
            // Take the mark first: a write after this point marks the page again for the next round.
            if (source.TakeDirty(f) | everyPage)
            {
                source.Page(f).CopyTo(target.Page(f));
                n++;
            }
        }
        return n;
    }

    private static bool SameDirectory(string a, string b)
    {
        static string Real(string p)
        {
            string full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(p));
            try
            {
                return Directory.ResolveLinkTarget(full, returnFinalTarget: true)?.FullName ?? full;
            }
            catch (IOException)
            {
                return full;
            }
        }
        return string.Equals(Real(a), Real(b), StringComparison.Ordinal);
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
            // Gone already.
        }
    }
}
