using System.Globalization;
using Tolapai.Xen.Hypervisor;
using Tolapai.Xen.Memory;
using Tolapai.Xen.XenStore;

namespace Tolapai.Xen.Toolstack;

/// <summary>
/// A guest process's view of its domain, as a PV kernel sets itself up from start_info: the
/// host opened, its memory mapped, its XenStore client on its own ring (xenbus), a heartbeat
/// in the domain table, and a watch on <c>control/shutdown</c> as Linux's
/// <c>drivers/xen/manage.c</c> keeps one.
/// </summary>
public sealed class DomainContext : IAsyncDisposable
{
    /// <summary>The watch token of the shutdown watch.</summary>
    private const string ShutdownToken = "tolapai-shutdown";

    private readonly TaskCompletionSource<string> _shutdown = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _heartbeat;
    private readonly Task _watcher;
    private readonly System.Threading.Channels.ChannelReader<XsWatchEvent> _shutdownEvents;

    private DomainContext(GuestStartInfo info, Host host, GuestMemory memory, XenStoreClient xenStore, string name, TimeSpan heartbeatPeriod,
        System.Threading.Channels.ChannelReader<XsWatchEvent> shutdownEvents)
    {
        _shutdownEvents = shutdownEvents;
        StartInfo = info;
        Host = host;
        Memory = memory;
        XenStore = xenStore;
        Name = name;
        _heartbeat = HeartbeatLoopAsync(heartbeatPeriod);
        _watcher = ShutdownWatchAsync();
    }

    /// <summary>What the toolstack passed.</summary>
    public GuestStartInfo StartInfo { get; }

    /// <summary>This domain's id.</summary>
    public ushort DomId => StartInfo.DomId;

    /// <summary>The domain's name, as the toolstack wrote it.</summary>
    public string Name { get; }

    /// <summary>The host (for grant and event channel calls).</summary>
    public Host Host { get; }

    /// <summary>This domain's memory: grant table frames first, the xenstore page last.</summary>
    public GuestMemory Memory { get; }

    /// <summary>
    /// This domain's XenStore client, on its ring; relative paths are under
    /// <c>/local/domain/&lt;id&gt;</c>. Its <see cref="XenStoreClient.WatchEvents"/> are free for one
    /// reader (a Xenbus driver); the shutdown watch's events are routed apart.
    /// </summary>
    public XenStoreClient XenStore { get; }

    /// <summary>
    /// Completes with the request ("poweroff", "reboot", "halt", "suspend", ...) when the
    /// toolstack writes <c>control/shutdown</c>, or "disconnected" when xenstored goes away.
    /// </summary>
    public Task<string> ShutdownRequested => _shutdown.Task;

    /// <summary>Attaches using the start info in this process's environment (<see cref="GuestStartInfo.FromEnvironment"/>).</summary>
    public static Task<DomainContext> AttachAsync(CancellationToken cancellationToken = default) =>
        AttachAsync(GuestStartInfo.FromEnvironment(), TimeSpan.FromSeconds(1), cancellationToken);

    /// <summary>
    /// Attaches to domain <see cref="GuestStartInfo.DomId"/> of the host: it must be running and
    /// owned by this process. Advertises <c>control/feature-poweroff</c> and watches
    /// <c>control/shutdown</c>; heartbeats every <paramref name="heartbeatPeriod"/>.
    /// </summary>
    public static async Task<DomainContext> AttachAsync(GuestStartInfo info, TimeSpan heartbeatPeriod, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(info);
        Host host;
        try
        {
            host = Host.Open(info.RunDirectory);
        }
        catch (Exception e) when (e is IOException or InvalidDataException)
        {
            throw new InvalidOperationException($"no host in {info.RunDirectory}: {e.Message}", e);
        }
        XenStoreClient? xs = null;
        try
        {
            if (host.Lookup(info.DomId) is not { State: DomainState.Running } d)
                throw new InvalidOperationException($"domain {info.DomId} is not running on {info.RunDirectory}");
            if (d.Pid != Environment.ProcessId)
                throw new InvalidOperationException($"domain {info.DomId} belongs to pid {d.Pid.ToString(CultureInfo.InvariantCulture)}, not this process");
            GuestMemory memory = host.MapGuestMemory(info.DomId) ?? throw new InvalidOperationException($"the memory of domain {info.DomId} is gone");
            xs = XenStoreClient.ConnectRing(host, info.DomId, info.XenStoreFrame, info.XenStorePort);
            // As Linux's xenbus at start: whatever a previous kernel on this ring watched is dropped.
            await xs.ResetWatchesAsync().WaitAsync(cancellationToken).ConfigureAwait(false);
            string name = await xs.ReadStringAsync("name").WaitAsync(cancellationToken).ConfigureAwait(false);
            await xs.WriteAsync("control/feature-poweroff", "1").WaitAsync(cancellationToken).ConfigureAwait(false);
            // Its own route: the client's WatchEvents stay free for a Xenbus driver on the same ring.
            System.Threading.Channels.ChannelReader<XsWatchEvent> shutdownEvents = xs.RouteWatchEvents(ShutdownToken);
            await xs.WatchAsync("control/shutdown", ShutdownToken).WaitAsync(cancellationToken).ConfigureAwait(false);
            host.Heartbeat(info.DomId);
            return new DomainContext(info, host, memory, xs, name, heartbeatPeriod, shutdownEvents);
        }
        catch
        {
            if (xs is not null)
                await xs.DisposeAsync().ConfigureAwait(false);
            host.Dispose();
            throw;
        }
    }

    private async Task HeartbeatLoopAsync(TimeSpan period)
    {
        try
        {
            using var timer = new PeriodicTimer(period);
            while (await timer.WaitForNextTickAsync(_stop.Token).ConfigureAwait(false))
                Host.Heartbeat(DomId);
        }
        catch (OperationCanceledException)
        {
            // Detaching.
        }
    }

    private async Task ShutdownWatchAsync()
    {
        try
        {
            await foreach (XsWatchEvent e in _shutdownEvents.ReadAllAsync(_stop.Token).ConfigureAwait(false))
            {
                string request;
                try
                {
                    request = await XenStore.ReadStringAsync("control/shutdown").ConfigureAwait(false);
                }
                catch (XenStoreException ex) when (ex.ErrorName == XsErrors.ENOENT)
                {
                    continue;
                }
                if (request.Length == 0)
                    continue;
                // Acknowledge as Linux does: the key is emptied once the request is taken.
                try
                {
                    await XenStore.WriteAsync("control/shutdown", "").ConfigureAwait(false);
                }
                catch (XenStoreException)
                {
                    // The toolstack may be removing the domain already.
                }
                _shutdown.TrySetResult(request);
            }
        }
        catch (OperationCanceledException)
        {
            return;
        }
        catch (Exception e) when (e is XenStoreException or System.Threading.Channels.ChannelClosedException)
        {
            // The connection closed: released by the toolstack, or xenstored stopped.
        }
        _shutdown.TrySetResult("disconnected");
    }

    /// <summary>Stops the heartbeat and the watch, closes the ring client and the host mapping.</summary>
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        await _heartbeat.ConfigureAwait(false);
        await XenStore.DisposeAsync().ConfigureAwait(false);
        await _watcher.ConfigureAwait(false);
        Host.Dispose();
        _stop.Dispose();
    }
}
