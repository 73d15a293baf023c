using Tolapai.Xen.Hypervisor;
using Tolapai.Xen.XenStore;
using Tolapai.Xen.Xenbus;

namespace Tolapai.Xen.Toolstack;

/// <summary>Taking a domain down: <c>xl destroy</c>, and the dom0's reaping of dead guests.</summary>
public sealed partial class DomainToolstack
{
    /// <summary>
    /// <c>xl destroy</c>, cleanly: asks the guest to power off (<c>control/shutdown</c>), gives
    /// it <paramref name="grace"/> to exit, kills it if it has not, then tears the domain down
    /// (<see cref="TeardownAsync"/>).
    /// </summary>
    public async Task DestroyAsync(ushort domid, TimeSpan grace, CancellationToken cancellationToken = default)
    {
        CheckGuestDomId(domid);
        using FileLock toolstackLock = await LockAsync(cancellationToken).ConfigureAwait(false);
        DomainInfo? info = Host.Lookup(domid);
        if (info is null && !await XenStore.ExistsAsync(XsPath.DomainPath(domid)).ConfigureAwait(false))
            throw new ToolstackException($"domain {domid} does not exist");
        if (info is { } i)
            await ShutdownProcessAsync(domid, i, grace, cancellationToken).ConfigureAwait(false);
        await TeardownLockedAsync(domid).ConfigureAwait(false);
    }

    /// <summary>Writes <c>control/shutdown = poweroff</c>, waits up to <paramref name="grace"/> for the process to end, then SIGKILLs it.</summary>
    internal async Task ShutdownProcessAsync(ushort domid, DomainInfo info, TimeSpan grace, CancellationToken cancellationToken)
    {
        if (!ProcessIdentity.IsAlive(info.Pid, info.StartTime))
            return;
        try
        {
            await XenStore.WriteAsync(XsPath.DomainPath(domid) + "/control/shutdown", "poweroff").ConfigureAwait(false);
        }
        catch (XenStoreException)
        {
            // No control directory (a broken guest removed it): it is killed below.
        }
        if (!await WaitForExitAsync(info, grace, cancellationToken).ConfigureAwait(false))
        {
            Signals.Send(info.Pid, info.StartTime, Signals.SigKill);
            await WaitForExitAsync(info, TimeSpan.FromSeconds(10), cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Waits for a process to be gone (polling its identity: it is not this process's child).</summary>
    internal static async Task<bool> WaitForExitAsync(DomainInfo info, TimeSpan timeout, CancellationToken cancellationToken)
    {
        long deadline = Environment.TickCount64 + (long)timeout.TotalMilliseconds;
        while (ProcessIdentity.IsAlive(info.Pid, info.StartTime))
        {
            if (Environment.TickCount64 > deadline)
                return false;
            await Task.Delay(10, cancellationToken).ConfigureAwait(false);
        }
        return true;
    }

    /// <summary>
    /// Tears down a domain whose process is gone (or never ran): each device's frontend is
    /// marked Closed and its backend given <see cref="BackendCloseTimeout"/> to reach Closed
    /// (written Closed by the toolstack otherwise), then both directories are removed; the
    /// grants the domain held are released; xenstored releases it (<c>@releaseDomain</c>
    /// fires); <c>/local/domain/&lt;id&gt;</c> is removed and the domain destroyed. Every step is
    /// idempotent: a half-done teardown (a toolstack that died) is finished by the next one.
    /// </summary>
    public async Task TeardownAsync(ushort domid, CancellationToken cancellationToken = default)
    {
        CheckGuestDomId(domid);
        using FileLock toolstackLock = await LockAsync(cancellationToken).ConfigureAwait(false);
        await TeardownLockedAsync(domid).ConfigureAwait(false);
    }

    internal async Task TeardownLockedAsync(ushort domid)
    {
        string home = XsPath.DomainPath(domid);
        // The backend paths come from the layout, not from the guest's (guest-writable) backend keys.
        // Only the types a backend may serve: anything else the guest made under device/ goes
        // with its home, and its names are never used to build a path.
        foreach (string type in (await TryDirectoryAsync(home + "/device").ConfigureAwait(false)).Where(SupportedDeviceTypes.Contains))
        {
            foreach (string dev in await TryDirectoryAsync(home + "/device/" + type).ConfigureAwait(false))
            {
                if (dev.Length is > 0 and <= 9 && dev.All(char.IsAsciiDigit)
                    && uint.TryParse(dev, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out uint devid))
                {
                    await CloseDeviceAsync(domid, type, devid).ConfigureAwait(false);
                }
            }
        }
        // Backend directories whose frontend is gone already (or never existed).
        foreach (string type in await TryDirectoryAsync("/local/domain/0/backend").ConfigureAwait(false))
            await TryRmAsync($"/local/domain/0/backend/{type}/{Id(domid)}").ConfigureAwait(false);

        _ = Host.ReleaseGrantsHeldBy(domid);
        try
        {
            await XenStore.ReleaseAsync(domid).ConfigureAwait(false);
        }
        catch (XenStoreException e) when (e.ErrorName == XsErrors.ENOENT)
        {
            // Never introduced, or released already.
        }
        await TryRmAsync(home).ConfigureAwait(false);
        _ = Host.DestroyDomain(domid);
        TryDelete(DomainRecord.PathFor(RunDirectory, domid));
    }

    private async Task CloseDeviceAsync(ushort domid, string type, uint devid)
    {
        string front = XenbusPaths.Frontend(domid, type, devid);
        string back = XenbusPaths.Backend(domid, type, devid);
        string closed = XenbusPaths.Format(XenbusState.Closed);
        // The guest is gone: its end is Closed, written for it as Xen's toolstack does.
        if (await XenStore.ExistsAsync(XenbusPaths.Key(front, XenbusPaths.StateKey)).ConfigureAwait(false))
            await XenStore.WriteAsync(XenbusPaths.Key(front, XenbusPaths.StateKey), closed).ConfigureAwait(false);
        if (await XenStore.ExistsAsync(back).ConfigureAwait(false))
        {
            await XenStore.WriteAsync(XenbusPaths.Key(back, "online"), "0").ConfigureAwait(false);
            string stateKey = XenbusPaths.Key(back, XenbusPaths.StateKey);
            string? state = await TryReadAsync(stateKey).ConfigureAwait(false);
            // A backend driver is attached once it left Initialising: let it close itself.
            if (state is "2" or "3" or "4" or "5" or "7" or "8")
                state = await WaitForValueAsync(stateKey, closed, BackendCloseTimeout).ConfigureAwait(false);
            if (state is not null && state != closed)
                await XenStore.WriteAsync(stateKey, closed).ConfigureAwait(false);
        }
        await TryRmAsync(front).ConfigureAwait(false);
        await TryRmAsync(back).ConfigureAwait(false);
    }

    /// <summary>Watches <paramref name="path"/> on a connection of its own until it reads <paramref name="value"/> or the timeout passes; returns the last value read.</summary>
    private async Task<string?> WaitForValueAsync(string path, string value, TimeSpan timeout)
    {
        await using XenStoreClient watcher = await XenStoreClient.ConnectAsync(XenStoreDaemon.SocketPathFor(RunDirectory)).ConfigureAwait(false);
        await watcher.WatchAsync(path, "teardown").ConfigureAwait(false);
        using var cts = new CancellationTokenSource(timeout);
        string? last = null;
        try
        {
            while (true)
            {
                await watcher.WatchEvents.ReadAsync(cts.Token).ConfigureAwait(false);
                last = await ReadOnAsync(watcher, path).ConfigureAwait(false);
                if (last == value || last is null)
                    return last;
            }
        }
        catch (OperationCanceledException)
        {
            return await ReadOnAsync(watcher, path).ConfigureAwait(false);
        }
    }

    private static async Task<string?> ReadOnAsync(XenStoreClient client, string path)
    {
        try
        {
            return await client.ReadStringAsync(path).ConfigureAwait(false);
        }
        catch (XenStoreException e) when (e.ErrorName == XsErrors.ENOENT)
        {
            return null;
        }
    }
}
