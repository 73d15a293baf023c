using System.Globalization;
using Tolapai.Ixp.Protocol;
using Tolapai.Xen.GrantTable;
using Tolapai.Xen.Hypervisor;
using Tolapai.Xen.Memory;
using Tolapai.Xen.Ring;
using Tolapai.Xen.XenStore;
using Tolapai.Xen.Xenbus;

namespace Tolapai.Ixp.Backend;

/// <summary>
/// The backend of one guest's ixp device (blkback's xen_blkif): follows the frontend through
/// Xenbus, maps its ring(s), binds its event channel(s), runs a service thread per queue, and
/// on the guest's death or departure unmaps everything, drops its sessions and reaches Closed.
/// </summary>
public sealed partial class IxpBackendDevice
{
    private readonly IxpBackend _backend;
    private readonly List<IxpBackendQueue> _queues = [];
    private readonly List<MultiPageMapping> _rings = [];
    private readonly List<uint> _ports = [];
    private XenbusDriver? _xenbus;
    private volatile string? _closedReason;
    private volatile string? _failure;
    private int _outstanding;
    private long _refused;
    private int _connections;

    internal IxpBackendDevice(IxpBackend backend, ushort frontendId, uint devid)
    {
        _backend = backend;
        FrontendId = frontendId;
        DevId = devid;
        Path = XenbusPaths.Backend(frontendId, IxpKeys.DeviceType, devid, backend.DomId);
    }

    /// <summary>The guest.</summary>
    public ushort FrontendId { get; }

    /// <summary>Device number.</summary>
    public uint DevId { get; }

    /// <summary>The backend directory.</summary>
    public string Path { get; }

    /// <summary>This end's Xenbus state.</summary>
    public XenbusState State => _xenbus?.State ?? XenbusState.Initialising;

    /// <summary>Why the device was last closed (null while it has not been).</summary>
    public string? ClosedReason => _closedReason;

    /// <summary>Persistent grants on for the current connection.</summary>
    public bool Persistent { get; private set; }

    /// <summary>Queues of the current connection.</summary>
    public IReadOnlyList<IxpBackendQueue> Queues => _queues;

    /// <summary>Requests of this guest at the driver now.</summary>
    public int Outstanding => Volatile.Read(ref _outstanding);

    /// <summary>Requests refused with an error status.</summary>
    public long Refused => Interlocked.Read(ref _refused);

    /// <summary>Times this device reached Connected.</summary>
    public int Connections => Volatile.Read(ref _connections);

    /// <summary>Ring pages this device holds mapped now (persistent grants: <see cref="PersistentGrants"/>; all mappings: <see cref="IxpBackend.MapperMappings"/>).</summary>
    public int MappedGrants { get; private set; }

    /// <summary>The device's task: ends when the device directory is gone or the backend stops.</summary>
    internal Task Run { get; private set; } = Task.CompletedTask;

    internal IxpBackendOptions Options => _backend.Options;

    internal IxpBackend Backend => _backend;

    internal void Start() => Run = Task.Run(RunAsync);

    /// <summary>Takes one outstanding slot of this guest; false at max-requests (the request waits in the ring).</summary>
    internal bool TryTakeOutstanding()
    {
        if (Interlocked.Increment(ref _outstanding) > Options.MaxRequestsPerGuest)
        {
            Interlocked.Decrement(ref _outstanding);
            return false;
        }

        return true;
    }

    internal void ReturnOutstanding() => Interlocked.Decrement(ref _outstanding);

    /// <summary>A queue found the guest misbehaving beyond an error response: the device is closed.</summary>
    internal void Fail(string reason)
    {
        _failure ??= reason;
    }

    /// <summary>The guest this device was made for is gone: dead, destroyed, or its domid now names a new domain.</summary>
    private bool GuestGone =>
        _backend.Host.Lookup(FrontendId) is not { State: DomainState.Running } info || info.Generation != _generation || !_backend.Host.IsAlive(FrontendId);

    private uint _generation;

    private async Task RunAsync()
    {
        CancellationToken ct = _backend.StopToken;
        if (_backend.Host.Lookup(FrontendId) is not { } info)
        {
            _closedReason = $"dom{FrontendId} does not exist";
            return;
        }

        _generation = info.Generation;
        try
        {
            await using XenStoreClient store = await XenStoreClient.ConnectAsync(_backend.SocketPath, ct).ConfigureAwait(false);
            _xenbus = await XenbusDriver.OpenBackendAsync(store, FrontendId, IxpKeys.DeviceType, DevId, _backend.DomId, Options.OperationTimeout).ConfigureAwait(false);
            await using XenbusDriver xenbus = _xenbus;
            foreach ((string key, string value) in _backend.Features.ToKeys())
            {
                await xenbus.WriteKeyAsync(key, value).ConfigureAwait(false);
            }

            while (!ct.IsCancellationRequested)
            {
                XenbusResult r = await xenbus.SwitchStateAsync(XenbusState.InitWait).ConfigureAwait(false);
                if (!r.IsOk)
                {
                    // Closed with the frontend not yet back to Initialising: wait for it.
                    if (!await WaitForPeerAsync(xenbus, p => p.Is(XenbusState.Initialising) || p.Is(XenbusState.Initialised), ct).ConfigureAwait(false))
                    {
                        return;
                    }

                    continue;
                }

                if (!await WaitForPeerAsync(xenbus, p => p.Is(XenbusState.Initialised) || p.Is(XenbusState.Connected), ct).ConfigureAwait(false))
                {
                    await CloseAsync(xenbus, _failure ?? "the frontend went away before connecting").ConfigureAwait(false);
                    return;
                }

                string? error = await ConnectAsync(xenbus).ConfigureAwait(false);
                if (error is not null)
                {
                    await CloseAsync(xenbus, error).ConfigureAwait(false);
                    if (!await WaitForPeerAsync(xenbus, p => p.Is(XenbusState.Initialising), ct).ConfigureAwait(false))
                    {
                        return;
                    }

                    continue;
                }

                string reason = await ServeAsync(xenbus, ct).ConfigureAwait(false);
                await CloseAsync(xenbus, reason).ConfigureAwait(false);
                if (!await WaitForPeerAsync(xenbus, p => p.Is(XenbusState.Initialising), ct).ConfigureAwait(false))
                {
                    return;
                }
            }
        }
        catch (Exception e) when (e is XenStoreException or IOException or TimeoutException or OperationCanceledException or ObjectDisposedException or System.Net.Sockets.SocketException)
        {
            TearDown();
            _closedReason ??= "backend stopped: " + e.Message;
        }
        catch (Exception e)
        {
            // Anything else is a bug; it ends this device, logged, never the dom0 process.
            TearDown();
            _closedReason = $"backend error {e.GetType().Name}: {e.Message}";
            IxpEventSource.Log.DeviceClosed(FrontendId, (int)DevId, _closedReason);
        }
    }

    /// <summary>Waits until <paramref name="predicate"/> holds; false if the guest died, the directory went or the backend stops.</summary>
    private async Task<bool> WaitForPeerAsync(XenbusDriver xenbus, Func<XenbusPeerState, bool> predicate, CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            // Not cancelled by ct: a stopping backend still closes the device properly (the loop checks ct).
            XenbusResult r = await xenbus.WaitForPeerStateAsync(predicate, Options.LivenessInterval, CancellationToken.None).ConfigureAwait(false);
            if (r.IsOk)
            {
                return true;
            }

            if (r.Error is XenbusError.PeerGone or XenbusError.Disposed || GuestGone)
            {
                return false;
            }
        }

        return false;
    }

    /// <summary>Reads the frontend's keys, maps the rings, binds the ports. Null on success, else why not.</summary>
    private async Task<string?> ConnectAsync(XenbusDriver xenbus)
    {
        string? protocol = await xenbus.ReadPeerKeyAsync(IxpKeys.Protocol).ConfigureAwait(false);
        if (protocol is not null && protocol != IxpKeys.NativeProtocol)
        {
            return $"unknown protocol '{protocol}'";
        }

        string? nq = await xenbus.ReadPeerKeyAsync(IxpKeys.MultiQueueNumQueues).ConfigureAwait(false);
        int queues = nq is null ? 1 : IxpBackendFeatures.ParseNum(nq, -1, 1, Options.MaxQueues);
        if (queues < 1)
        {
            return $"multi-queue-num-queues '{nq}' is not 1..{Options.MaxQueues}";
        }

        string? po = await xenbus.ReadPeerKeyAsync(IxpKeys.RingPageOrder).ConfigureAwait(false);
        int order = po is null ? 0 : IxpBackendFeatures.ParseNum(po, -1, 0, Options.MaxRingPageOrder);
        if (order < 0)
        {
            return $"ring-page-order '{po}' is not 0..{Options.MaxRingPageOrder}";
        }

        Persistent = Options.Persistent && await xenbus.ReadPeerKeyAsync(IxpKeys.FeaturePersistent).ConfigureAwait(false) == "1";
        List<(uint[] Grefs, uint Port)> wanted = [];
        for (int q = 0; q < queues; q++)
        {
            string prefix = queues > 1 ? IxpKeys.Queue(q) + "/" : "";
            uint[] grefs = new uint[1 << order];
            for (int p = 0; p < grefs.Length; p++)
            {
                string key = prefix + SharedRing.RingRefKey(order, p);
                if (!TryParseU32(await xenbus.ReadPeerKeyAsync(key).ConfigureAwait(false), out grefs[p]))
                {
                    return $"{key} is missing or not a number";
                }
            }

            if (!TryParseU32(await xenbus.ReadPeerKeyAsync(prefix + IxpKeys.EventChannel).ConfigureAwait(false), out uint port))
            {
                return $"{prefix}{IxpKeys.EventChannel} is missing or not a number";
            }

            wanted.Add((grefs, port));
        }

        return Map(wanted, order);
    }

    private unsafe string? Map(List<(uint[] Grefs, uint Port)> wanted, int order)
    {
        GuestMemory? memory = _backend.Host.MapGuestMemory(FrontendId);
        if (memory is null)
        {
            return $"dom{FrontendId} has no memory (not running)";
        }

        SetUpGrantTables(memory);
        SetUpSessions();
        _failure = null;
        for (int q = 0; q < wanted.Count; q++)
        {
            GrantStatus st = _backend.Mapper.MapPages(FrontendId, wanted[q].Grefs, readOnly: false, out MultiPageMapping? ring);
            if (st != GrantStatus.Okay)
            {
                TearDown();
                return $"queue {q}: mapping ring-ref(s) {string.Join(',', wanted[q].Grefs)}: {st}";
            }

            _rings.Add(ring!);
            XenError e = _backend.Host.BindInterdomain(_backend.DomId, FrontendId, wanted[q].Port, out uint local);
            if (e != XenError.Ok)
            {
                TearDown();
                return $"queue {q}: binding event channel {wanted[q].Port}: {e}";
            }

            _ports.Add(local);
            _queues.Add(new IxpBackendQueue(this, q, ring!.Address, ring.Length, _backend.Host.OpenPort(_backend.DomId, local)));
        }

        MappedGrants = wanted.Count << order;
        return null;
    }

    private async Task<string> ServeAsync(XenbusDriver xenbus, CancellationToken ct)
    {
        foreach (IxpBackendQueue q in _queues)
        {
            _backend.Assign(q);
        }

        XenbusResult c = await xenbus.SwitchStateAsync(XenbusState.Connected, CancellationToken.None).ConfigureAwait(false);
        if (!c.IsOk)
        {
            return "cannot switch to Connected: " + c.Message;
        }

        Interlocked.Increment(ref _connections);
        IxpEventSource.Log.DeviceConnected(FrontendId, (int)DevId, _queues.Count, _rings.Count > 0 ? System.Numerics.BitOperations.Log2((uint)(_rings[0].Length >> GuestMemory.PageShift)) : 0, Persistent);
        while (true)
        {
            if (ct.IsCancellationRequested)
            {
                return "the backend is stopping";
            }

            if (_failure is { } f)
            {
                return f;
            }

            if (GuestGone)
            {
                return $"dom{FrontendId} died";
            }

            // Initialised → Connected is the frontend finishing the handshake; anything else is it leaving.
            XenbusResult r = await xenbus.WaitForPeerStateAsync(p => p.Condition != XenbusPeerCondition.Present || p.State is not (XenbusState.Initialised or XenbusState.Connected), Options.LivenessInterval, CancellationToken.None).ConfigureAwait(false);
            if (r.IsOk || r.Error is XenbusError.PeerGone or XenbusError.PeerMalformed or XenbusError.Disposed)
            {
                return $"the frontend is {xenbus.PeerState}";
            }
        }
    }

    private async Task CloseAsync(XenbusDriver xenbus, string reason)
    {
        TearDown();
        _closedReason = reason;
        IxpEventSource.Log.DeviceClosed(FrontendId, (int)DevId, reason);
        if (xenbus.State is not XenbusState.Closed)
        {
            if (xenbus.State is not XenbusState.Closing)
            {
                _ = await xenbus.SwitchStateAsync(XenbusState.Closing).ConfigureAwait(false);
            }

            _ = await xenbus.SwitchStateAsync(XenbusState.Closed).ConfigureAwait(false);
        }
    }

    /// <summary>Stops the queues (they drain what is at the driver), unmaps every grant, drops sessions, closes ports.</summary>
    private void TearDown()
    {
        foreach (IxpBackendQueue q in _queues)
        {
            q.RequestStop();
        }

        long deadline = Environment.TickCount64 + (long)Options.DrainTimeout.TotalMilliseconds + 1000;
        foreach (IxpBackendQueue q in _queues)
        {
            // The worker lets go once nothing of this queue is at the driver (it may still write into mapped pages until then).
            while (q.Worker is not null && !q.IsReleased && Environment.TickCount64 < deadline)
            {
                Thread.Sleep(1);
            }
        }

        foreach (IxpBackendQueue q in _queues)
        {
            if (q.Worker is null || q.IsReleased)
            {
                q.FreeStaging();
            }
        }

        ReleasePersistentGrants();
        ReleaseSessions();
        foreach (uint port in _ports)
        {
            _ = _backend.Host.CloseEventChannel(_backend.DomId, port);
        }

        foreach (MultiPageMapping ring in _rings)
        {
            _ = _backend.Mapper.UnmapPages(ring);
        }

        _ports.Clear();
        _rings.Clear();
        _queues.Clear();
        MappedGrants = 0;
    }

    private static bool TryParseU32(string? s, out uint value) =>
        uint.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out value);
}
