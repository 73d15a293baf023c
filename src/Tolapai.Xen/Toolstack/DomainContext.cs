using System.Globalization;
using Tolapai.Xen.Hypervisor;
using Tolapai.Xen.Memory;
using Tolapai.Xen.XenStore;

namespace Tolapai.Xen.Toolstack;

/// <summary>
/// A device driver of a guest that takes part in suspend and resume (Linux's
/// <c>xenbus_driver.suspend/resume</c>): on suspend it stops taking new work (callers are told
/// to retry), lets a live backend answer what it can, keeps the rest, and lets go of everything
/// that names the host; on resume it reconnects on <see cref="DomainContext"/>'s current host,
/// domid and XenStore, renegotiates, re-grants and resubmits what it kept.
/// </summary>
public interface ISuspendableDevice
{
    /// <summary>Quiesces the device; <paramref name="backendAlive"/> false when the dom0 died (nothing will answer). Never throws.</summary>
    Task SuspendAsync(bool backendAlive, CancellationToken cancellationToken);

    /// <summary>Reconnects on the context's host and resubmits what was kept.</summary>
    Task ResumeAsync(DomainContext context, CancellationToken cancellationToken);
}

/// <summary>One suspend/resume cycle of a guest, as the guest saw it.</summary>
/// <param name="Cause">"suspend" (the toolstack asked) or "dom0 died".</param>
/// <param name="FromRunDirectory">Where it was.</param>
/// <param name="FromDomId">Its domid there.</param>
/// <param name="ToRunDirectory">Where it runs now.</param>
/// <param name="ToDomId">Its domid now.</param>
/// <param name="Outage">From the start of the suspend to devices reconnected.</param>
public sealed record GuestResumed(string Cause, string FromRunDirectory, ushort FromDomId, string ToRunDirectory, ushort ToDomId, TimeSpan Outage);

/// <summary>
/// A guest process's view of its domain, as a PV kernel sets itself up from start_info: the
/// host opened, its memory mapped, its XenStore client on its own ring (xenbus), a heartbeat
/// in the domain table, and a watch on <c>control/shutdown</c> as Linux's
/// <c>drivers/xen/manage.c</c> keeps one.
/// <para>
/// Suspend and resume happen here (manage.c's <c>do_suspend</c>): on <c>control/shutdown =
/// suspend</c>, or when the host's dom0 is found dead (its process gone: liveness is checked
/// every <see cref="LivenessPeriod"/>), the registered <see cref="ISuspendableDevice"/>s
/// quiesce, guest-memory writes pause, the domain's shutdown code says Suspend, and the guest
/// waits for a <see cref="ResumeTicket"/>. With it, it moves: the new host's memory file is
/// mapped over the same addresses (<see cref="GuestMemory.Remap"/>), a new xenstore ring
/// client replaces the old, and the devices resume. The process, its threads and its heap
/// never notice beyond the outage.
/// </para>
/// </summary>
public sealed class DomainContext : IAsyncDisposable
{
    /// <summary>The watch token of the shutdown watch.</summary>
    private const string ShutdownToken = "tolapai-shutdown";

    private readonly TaskCompletionSource<string> _shutdown = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _stop = new();
    private readonly Lock _devicesLock = new();
    private readonly SemaphoreSlim _deviceSetup = new(1, 1);
    private readonly List<ISuspendableDevice> _devices = [];
    private readonly Task _heartbeat;
    private readonly Task _control;
    private readonly int _pid;
    private readonly ulong _startTime;
    private System.Threading.Channels.ChannelReader<XsWatchEvent> _shutdownEvents;
    private volatile Host _host;
    private volatile XenStoreClient _xenStore;
    private volatile GuestStartInfo _startInfo;

    private DomainContext(GuestStartInfo info, Host host, GuestMemory memory, XenStoreClient xenStore, string name, TimeSpan heartbeatPeriod,
        System.Threading.Channels.ChannelReader<XsWatchEvent> shutdownEvents)
    {
        _shutdownEvents = shutdownEvents;
        _startInfo = info;
        _host = host;
        Memory = memory;
        _xenStore = xenStore;
        Name = name;
        (_pid, _startTime) = ProcessIdentity.Current();
        _heartbeat = HeartbeatLoopAsync(heartbeatPeriod);
        _control = ControlLoopAsync();
    }

    /// <summary>What the toolstack passed (the latest host's, after a move).</summary>
    public GuestStartInfo StartInfo => _startInfo;

    /// <summary>This domain's id on its current host.</summary>
    public ushort DomId => _startInfo.DomId;

    /// <summary>The domain's name, as the toolstack wrote it.</summary>
    public string Name { get; }

    /// <summary>The current host (for grant and event channel calls).</summary>
    public Host Host => _host;

    /// <summary>This domain's memory: grant table frames first, the xenstore page last. The same object (and addresses) across moves.</summary>
    public GuestMemory Memory { get; }

    /// <summary>
    /// This domain's XenStore client, on its ring; relative paths are under
    /// <c>/local/domain/&lt;id&gt;</c>. Its <see cref="XenStoreClient.WatchEvents"/> are free for one
    /// reader (a Xenbus driver); the shutdown watch's events are routed apart. A new client after a move.
    /// </summary>
    public XenStoreClient XenStore => _xenStore;

    /// <summary>How often the dom0's liveness is checked.</summary>
    public static TimeSpan LivenessPeriod { get; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Raised (on the control task) after each resume.</summary>
    public event EventHandler<GuestResumed>? Resumed;

    /// <summary>
    /// Completes with the request ("poweroff", "reboot", "halt", ...) when the toolstack writes
    /// <c>control/shutdown</c>, or "disconnected" when xenstored goes away while its dom0 lives.
    /// "suspend" is handled here and never completes it.
    /// </summary>
    public Task<string> ShutdownRequested => _shutdown.Task;

    /// <summary>Adds a device to suspend and resume with the domain.</summary>
    public void RegisterDevice(ISuspendableDevice device)
    {
        ArgumentNullException.ThrowIfNull(device);
        lock (_devicesLock)
        {
            _devices.Add(device);
        }
    }

    /// <summary>
    /// Holds suspend off until the result is disposed, for a device that is connecting: it is
    /// not registered yet, so a suspend would not quiesce it, and a move would retire the host,
    /// ring client and event channels it is using (Linux probes xenbus devices with suspend
    /// blocked). Waits while a suspend/resume cycle is under way: read <see cref="Host"/> and
    /// <see cref="XenStore"/> once it returns, and register the device before disposing it.
    /// </summary>
    public async Task<IDisposable> HoldOffSuspendAsync(CancellationToken cancellationToken = default)
    {
        await _deviceSetup.WaitAsync(cancellationToken).ConfigureAwait(false);
        return new SuspendHold(_deviceSetup);
    }

    private sealed class SuspendHold(SemaphoreSlim gate) : IDisposable
    {
        private int _released;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0)
                gate.Release();
        }
    }

    /// <summary>Removes a device (before it is closed).</summary>
    public void UnregisterDevice(ISuspendableDevice device)
    {
        lock (_devicesLock)
        {
            _ = _devices.Remove(device);
        }
    }

    /// <summary>Attaches using the start info in this process's environment (<see cref="GuestStartInfo.FromEnvironment"/>).</summary>
    public static Task<DomainContext> AttachAsync(CancellationToken cancellationToken = default) =>
        AttachAsync(GuestStartInfo.FromEnvironment(), TimeSpan.FromSeconds(1), cancellationToken);

    /// <summary>
    /// Attaches to domain <see cref="GuestStartInfo.DomId"/> of the host: it must be running and
    /// owned by this process. Advertises <c>control/feature-poweroff</c> and
    /// <c>control/feature-suspend</c> and watches <c>control/shutdown</c>; heartbeats every
    /// <paramref name="heartbeatPeriod"/>.
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
            CheckOwned(host, info.DomId, info.RunDirectory);
            GuestMemory memory = host.MapGuestMemory(info.DomId) ?? throw new InvalidOperationException($"the memory of domain {info.DomId} is gone");
            (xs, System.Threading.Channels.ChannelReader<XsWatchEvent> shutdownEvents) = await ConnectStoreAsync(host, info, cancellationToken).ConfigureAwait(false);
            string name = await xs.ReadStringAsync("name").WaitAsync(cancellationToken).ConfigureAwait(false);
            await xs.WriteAsync("control/feature-suspend", "1").WaitAsync(cancellationToken).ConfigureAwait(false);
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

    private static DomainInfo CheckOwned(Host host, ushort domid, string runDirectory)
    {
        if (host.Lookup(domid) is not { State: DomainState.Running } d)
            throw new InvalidOperationException($"domain {domid} is not running on {runDirectory}");
        if (d.Pid != Environment.ProcessId)
            throw new InvalidOperationException($"domain {domid} belongs to pid {d.Pid.ToString(CultureInfo.InvariantCulture)}, not this process");
        return d;
    }

    /// <summary>xenbus start (or resume on a new host): the ring client, watches reset, poweroff advertised, the shutdown watch on its own route.</summary>
    private static async Task<(XenStoreClient, System.Threading.Channels.ChannelReader<XsWatchEvent>)> ConnectStoreAsync(Host host, GuestStartInfo info, CancellationToken cancellationToken)
    {
        XenStoreClient xs = XenStoreClient.ConnectRing(host, info.DomId, info.XenStoreFrame, info.XenStorePort);
        try
        {
            // As Linux's xenbus at start: whatever a previous kernel on this ring watched is dropped.
            await xs.ResetWatchesAsync().WaitAsync(cancellationToken).ConfigureAwait(false);
            await xs.WriteAsync("control/feature-poweroff", "1").WaitAsync(cancellationToken).ConfigureAwait(false);
            // Its own route: the client's WatchEvents stay free for a Xenbus driver on the same ring.
            System.Threading.Channels.ChannelReader<XsWatchEvent> events = xs.RouteWatchEvents(ShutdownToken);
            await xs.WatchAsync("control/shutdown", ShutdownToken).WaitAsync(cancellationToken).ConfigureAwait(false);
            return (xs, events);
        }
        catch
        {
            await xs.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private async Task HeartbeatLoopAsync(TimeSpan period)
    {
        try
        {
            using var timer = new PeriodicTimer(period);
            while (await timer.WaitForNextTickAsync(_stop.Token).ConfigureAwait(false))
                _host.Heartbeat(DomId);
        }
        catch (OperationCanceledException)
        {
            // Detaching.
        }
    }

    /// <summary>
    /// manage.c's shutdown handler and the dom0 watchdog in one loop: a shutdown request other
    /// than suspend completes <see cref="ShutdownRequested"/>; suspend, or a dead dom0, runs a
    /// suspend/resume cycle, after which the loop watches the new connection.
    /// </summary>
    private async Task ControlLoopAsync()
    {
        CancellationToken stop = _stop.Token;
        try
        {
            while (!stop.IsCancellationRequested)
            {
                using var watchStop = CancellationTokenSource.CreateLinkedTokenSource(stop);
                Task<string> request = NextRequestAsync(_shutdownEvents, watchStop.Token);
                bool dom0Dead = false;
                while (!request.IsCompleted)
                {
                    _ = await Task.WhenAny(request, Task.Delay(LivenessPeriod, stop)).ConfigureAwait(false);
                    stop.ThrowIfCancellationRequested();
                    if (!request.IsCompleted && !_host.IsAlive(0))
                    {
                        dom0Dead = true;
                        break;
                    }
                }

                if (!dom0Dead)
                {
                    string r = await request.ConfigureAwait(false);
                    if (r == "disconnected" && !_host.IsAlive(0))
                    {
                        dom0Dead = true;
                    }
                    else if (r != "suspend")
                    {
                        _shutdown.TrySetResult(r);
                        if (r == "disconnected")
                            return;
                        continue;
                    }
                }

                await watchStop.CancelAsync().ConfigureAwait(false);
                try
                {
                    await request.ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    // The watch of the connection we are leaving.
                }

                await SuspendResumeAsync(dom0Dead ? "dom0 died" : "suspend", !dom0Dead, stop).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
            // Detaching.
        }
    }

    /// <summary>The next non-empty <c>control/shutdown</c> value (acknowledged by emptying it), or "disconnected".</summary>
    private async Task<string> NextRequestAsync(System.Threading.Channels.ChannelReader<XsWatchEvent> events, CancellationToken cancellationToken)
    {
        XenStoreClient xs = _xenStore;
        try
        {
            await foreach (XsWatchEvent e in events.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            {
                string request;
                try
                {
                    request = await xs.ReadStringAsync("control/shutdown").WaitAsync(cancellationToken).ConfigureAwait(false);
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
                    await xs.WriteAsync("control/shutdown", "").WaitAsync(cancellationToken).ConfigureAwait(false);
                }
                catch (XenStoreException)
                {
                    // The toolstack may be removing the domain already.
                }
                return request;
            }
        }
        catch (Exception e) when (e is XenStoreException or System.Threading.Channels.ChannelClosedException or IOException or ObjectDisposedException)
        {
            // The connection closed: released by the toolstack, or xenstored stopped.
        }
        cancellationToken.ThrowIfCancellationRequested();
        return "disconnected";
    }

    private async Task SuspendResumeAsync(string cause, bool backendAlive, CancellationToken stop)
    {
        // Not while a device connects (HoldOffSuspendAsync): it is suspended with the others once registered.
        await _deviceSetup.WaitAsync(stop).ConfigureAwait(false);
        try
        {
            await SuspendResumeCoreAsync(cause, backendAlive, stop).ConfigureAwait(false);
        }
        finally
        {
            _deviceSetup.Release();
        }
    }

    private async Task SuspendResumeCoreAsync(string cause, bool backendAlive, CancellationToken stop)
    {
        long began = System.Diagnostics.Stopwatch.GetTimestamp();
        string fromDir = _startInfo.RunDirectory;
        ushort fromId = DomId;
        ISuspendableDevice[] devices;
        lock (_devicesLock)
        {
            devices = [.. _devices];
        }

        foreach (ISuspendableDevice d in devices)
            await d.SuspendAsync(backendAlive, stop).ConfigureAwait(false);
        Memory.Pause();
        _ = _host.ShutdownSelf(DomId, ShutdownReason.Suspend);
        while (true)
        {
            ResumeTicket? ticket = await WaitForTicketAsync(stop).ConfigureAwait(false);
            try
            {
                if (!ticket.InPlace)
                    await MoveAsync(ticket, stop).ConfigureAwait(false);
                break;
            }
            catch (Exception e) when (e is InvalidOperationException or IOException or InvalidDataException or XenStoreException or TimeoutException or UnauthorizedAccessException)
            {
                // A ticket we cannot follow (its host went away meanwhile): stay suspended, say why, wait for the next.
                Console.Error.WriteLine($"tolapai guest: cannot resume on {ticket.RunDirectory} as domain {ticket.DomId}: {e.Message}");
            }
        }

        Memory.Unpause();
        _host.Heartbeat(DomId);
        foreach (ISuspendableDevice d in devices)
            await d.ResumeAsync(this, stop).ConfigureAwait(false);
        // The toolstack's sign that this guest runs again (its devices reconnected).
        try
        {
            await _xenStore.WriteAsync("control/feature-suspend", "1").WaitAsync(stop).ConfigureAwait(false);
        }
        catch (XenStoreException)
        {
            // The toolstack is taking the domain down already.
        }

        Resumed?.Invoke(this, new GuestResumed(cause, fromDir, fromId, _startInfo.RunDirectory, DomId, System.Diagnostics.Stopwatch.GetElapsedTime(began)));
    }

    private async Task<ResumeTicket> WaitForTicketAsync(CancellationToken stop)
    {
        while (true)
        {
            try
            {
                if (ResumeTicket.TryTake(_startInfo.RunDirectory, _pid, _startTime) is { } t)
                    return t;
            }
            catch (Exception e) when (e is InvalidDataException or IOException or UnauthorizedAccessException)
            {
                Console.Error.WriteLine($"tolapai guest: ignoring a bad resume ticket: {e.Message}");
            }
            await Task.Delay(1, stop).ConfigureAwait(false);
        }
    }

    /// <summary>Follows a ticket to another host (or to a new dom0's host on the same directory): memory remapped in place, a new xenstore client.</summary>
    private async Task MoveAsync(ResumeTicket ticket, CancellationToken stop)
    {
        Host next = Host.Open(ticket.RunDirectory);
        try
        {
            DomainInfo d = CheckOwned(next, ticket.DomId, ticket.RunDirectory);
            if (d.Generation != ticket.Generation || d.Pages != Memory.Pages || d.GrantFrames != Memory.GrantFrames)
                throw new InvalidDataException($"domain {ticket.DomId} is not the one the ticket names (generation {d.Generation}, {d.Pages} pages)");
        }
        catch
        {
            next.Dispose();
            throw;
        }

        // The old ring client goes first: its ring is a page of guest memory, which the remap
        // below turns into the new host's page (a pump still running would write into the new
        // xenstored's ring). Its pump is local, so this is quick even with a dead xenstored.
        try
        {
            await _xenStore.DisposeAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(2), stop).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // Its pump is stuck: the remap goes ahead (it can only ever see the new page's indexes).
        }

        // The old host stays mapped until the guest detaches: the heartbeat and other threads
        // may still hold it for an instant (a region unmapped under them would crash the process).
        _retired.Add(_host);
        _host.DetachGuestMemory(DomId, Memory);
        Memory.Remap(next.MemoryPath(ticket.DomId), ticket.DomId, ticket.Generation);
        next.AttachGuestMemory(ticket.DomId, Memory);
        _host = next;
        _startInfo = ticket.StartInfo;
        (XenStoreClient xs, System.Threading.Channels.ChannelReader<XsWatchEvent> events) = await ConnectStoreAsync(next, ticket.StartInfo, stop).ConfigureAwait(false);
        _shutdownEvents = events;
        _xenStore = xs;
    }

    private readonly List<Host> _retired = [];

    /// <summary>Stops the heartbeat and the control loop, closes the ring client and the host mapping.</summary>
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        await _heartbeat.ConfigureAwait(false);
        await _control.ConfigureAwait(false);
        await _xenStore.DisposeAsync().ConfigureAwait(false);
        _host.Dispose();
        foreach (Host old in _retired)
            old.Dispose();
        _deviceSetup.Dispose();
        _stop.Dispose();
    }
}
