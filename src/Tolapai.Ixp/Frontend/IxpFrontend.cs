using System.Globalization;
using Tolapai.Ixp.Protocol;
using Tolapai.Xen.GrantTable;
using Tolapai.Xen.Hypervisor;
using Tolapai.Xen.Memory;
using Tolapai.Xen.Ring;
using Tolapai.Xen.XenStore;
using Tolapai.Xen.Xenbus;

namespace Tolapai.Ixp.Frontend;

/// <summary>
/// The ixp frontend of one device in a guest process (blkfront's shape): reads the backend's
/// features, allocates and grants the ring page(s) of each queue, allocates the event
/// channels, publishes ring-ref / event-channel / protocol / ring-page-order /
/// multi-queue-num-queues / feature-persistent in one XenStore transaction, and follows the
/// backend to Connected. <see cref="Queues"/> carry the requests.
/// </summary>
public sealed class IxpFrontend : IAsyncDisposable
{
    private readonly Host _host;
    private readonly XenbusDriver _xenbus;
    private readonly List<FrameWindow> _windows = [];
    private readonly List<uint> _ringGrefs = [];
    private readonly List<uint> _ownedGrefs = [];
    private readonly List<uint> _ownedFrames = [];
    private readonly List<uint> _ports = [];
    private readonly uint[] _persistent; // frame → gref (0: none; gref 0 is reserved so never handed out)
    private readonly List<IxpFrontendQueue> _queues = [];
    private volatile bool _connected;
    private volatile bool _backendGone;
    private volatile string? _violation;
    private Task _monitor = Task.CompletedTask;
    private int _disposed;

    private IxpFrontend(Host host, GuestPageAllocator pages, XenbusDriver xenbus, ushort domid, ushort backendId, IxpBackendFeatures features)
    {
        _host = host;
        Pages = pages;
        _xenbus = xenbus;
        DomId = domid;
        BackendId = backendId;
        Features = features;
        Grants = new GrantTableFrontend(pages.Memory);
        _persistent = new uint[pages.Memory.Pages];
    }

    /// <summary>This guest.</summary>
    public ushort DomId { get; }

    /// <summary>The backend's domain.</summary>
    public ushort BackendId { get; }

    /// <summary>What the backend advertised.</summary>
    public IxpBackendFeatures Features { get; }

    /// <summary>What this frontend uses.</summary>
    public IxpNegotiated Negotiated { get; private set; }

    /// <summary>The guest's grant table.</summary>
    public GrantTableFrontend Grants { get; }

    /// <summary>The guest's free pages.</summary>
    public GuestPageAllocator Pages { get; }

    /// <summary>The rings.</summary>
    public IReadOnlyList<IxpFrontendQueue> Queues => _queues;

    /// <summary>True while both ends are Connected.</summary>
    public bool IsConnected => _connected;

    /// <summary>True once the backend has closed (or vanished): requests in flight will get no response and are failed by the next poll.</summary>
    public bool BackendGone => _backendGone;

    /// <summary>Why the frontend stopped trusting the backend, if it did.</summary>
    public string? Violation => _violation;

    /// <summary>The Xenbus state of this end.</summary>
    public XenbusState State => _xenbus.State;

    /// <summary>
    /// Connects device <paramref name="devid"/> of guest <paramref name="pages"/>.Memory.DomId:
    /// the toolstack has written the frontend directory (with backend, backend-id, state=1).
    /// <paramref name="store"/> is the guest's XenStore client (over its ring); the frontend
    /// owns its watch events from now on.
    /// </summary>
    public static async Task<IxpFrontend> ConnectAsync(Host host, GuestPageAllocator pages, XenStoreClient store, uint devid = 0, IxpFrontendOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(host);
        ArgumentNullException.ThrowIfNull(pages);
        ArgumentNullException.ThrowIfNull(store);
        options ??= new IxpFrontendOptions();
        ushort domid = pages.Memory.DomId;
        XenbusDriver xenbus = await XenbusDriver.OpenFrontendAsync(store, domid, IxpKeys.DeviceType, devid, options.HandshakeTimeout).ConfigureAwait(false);
        IxpFrontend? front = null;
        try
        {
            string? backendIdText = await xenbus.ReadKeyAsync(XenbusPaths.BackendIdKey).ConfigureAwait(false);
            if (!ushort.TryParse(backendIdText, NumberStyles.None, CultureInfo.InvariantCulture, out ushort backendId))
            {
                throw new IxpException($"{xenbus.Path}/backend-id is '{backendIdText}', not a domain id");
            }

            Check(await xenbus.WaitForPeerStateAsync(XenbusState.InitWait, options.HandshakeTimeout).ConfigureAwait(false), "backend InitWait");
            IxpBackendFeatures features = await IxpBackendFeatures.ReadAsync(xenbus.ReadPeerKeyAsync).ConfigureAwait(false);
            front = new IxpFrontend(host, pages, xenbus, domid, backendId, features);
            await front.SetUpAsync(store, options).ConfigureAwait(false);
            return front;
        }
        catch
        {
            if (front is not null)
            {
                await front.DisposeAsync().ConfigureAwait(false);
            }
            else
            {
                await xenbus.DisposeAsync().ConfigureAwait(false);
            }

            throw;
        }
    }

    private static void Check(XenbusResult r, string step)
    {
        if (!r.IsOk)
        {
            throw new IxpException($"ixp frontend: {step}: {r.Error} {r.Message}");
        }
    }

    private async Task SetUpAsync(XenStoreClient store, IxpFrontendOptions o)
    {
        List<(string Key, string Value)> keys = BuildQueues(o);
        await WriteKeysAsync(store, keys, o.HandshakeTimeout).ConfigureAwait(false);
        Check(await _xenbus.SwitchStateAsync(XenbusState.Initialised).ConfigureAwait(false), "switch to Initialised");
        Check(await _xenbus.WaitForPeerStateAsync(XenbusState.Connected, o.HandshakeTimeout).ConfigureAwait(false), "backend Connected");
        Check(await _xenbus.SwitchStateAsync(XenbusState.Connected).ConfigureAwait(false), "switch to Connected");
        _connected = true;
        // Changes queued during the handshake are history; what counts is the peer from now on.
        while (_xenbus.PeerStateChanges.TryRead(out _))
        {
        }

        Observe(_xenbus.PeerState);
        _monitor = MonitorAsync();
        IxpEventSource.Log.DeviceConnected(DomId, -1, Negotiated.Queues, Negotiated.RingPageOrder, Negotiated.Persistent);
    }

    private unsafe List<(string Key, string Value)> BuildQueues(IxpFrontendOptions o)
    {
        IxpBackendFeatures f = Features;
        int queues = Math.Clamp(o.Queues, 1, f.MaxQueues);
        int order = Math.Clamp(o.RingPageOrder, 0, f.MaxRingPageOrder);
        int indirect = Math.Clamp(o.IndirectSegments, 0, f.MaxIndirectSegments);
        bool sessions = o.Sessions && f.Sessions;
        Negotiated = new IxpNegotiated(queues, order, o.Persistent && f.Persistent, sessions ? indirect : 0, sessions);
        IxpNegotiated n = Negotiated;

        int pagesPerRing = 1 << order;
        uint ringSize = SharedRing.RingSize(SharedRing.BytesForOrder(order), SharedRing.EntrySize<IxpRequest, IxpResponse>());
        int grefsPerId = n.Persistent ? 0 : Math.Max(Math.Min(f.MaxSegments, IxpCipherBody.MaxSegments), n.MaxIndirectSegments);
        int indirectPages = (n.MaxIndirectSegments + IxpSegment.PerPage - 1) / IxpSegment.PerPage;
        List<(string Key, string Value)> keys = [(IxpKeys.Protocol, IxpKeys.NativeProtocol), (IxpKeys.FeaturePersistent, n.Persistent ? "1" : "0")];
        if (order > 0)
        {
            keys.Add((IxpKeys.RingPageOrder, IxpBackendFeatures.Num(order)));
        }

        if (queues > 1)
        {
            keys.Add((IxpKeys.MultiQueueNumQueues, IxpBackendFeatures.Num(queues)));
        }

        for (int q = 0; q < queues; q++)
        {
            string prefix = queues > 1 ? IxpKeys.Queue(q) + "/" : "";
            uint[] frames = new uint[pagesPerRing];
            for (int p = 0; p < pagesPerRing; p++)
            {
                frames[p] = Own(Pages.Allocate());
            }

            FrameWindow window = Pages.Memory.MapFrames(frames) ?? throw new IxpException("cannot map the ring pages side by side");
            _windows.Add(window);
            SharedRing.Initialize(window.Address);
            for (int p = 0; p < pagesPerRing; p++)
            {
                uint gref = GrantOwned(frames[p], readOnly: false);
                _ringGrefs.Add(gref);
                keys.Add((prefix + SharedRing.RingRefKey(order, p), IxpBackendFeatures.Num(gref)));
            }

            XenError e = _host.AllocUnbound(DomId, BackendId, out uint port);
            if (e != XenError.Ok)
            {
                throw new IxpException($"EVTCHNOP_alloc_unbound for queue {q}: {e}");
            }

            _ports.Add(port);
            keys.Add((prefix + IxpKeys.EventChannel, IxpBackendFeatures.Num(port)));

            uint[] reserved = new uint[ringSize * (uint)grefsPerId];
            for (int i = 0; i < reserved.Length; i++)
            {
                reserved[i] = ReserveGref(frames[0]);
            }

            uint[] indirectFrames = new uint[ringSize * (uint)indirectPages];
            uint[] indirectGrefs = new uint[indirectFrames.Length];
            for (int i = 0; i < indirectFrames.Length; i++)
            {
                indirectFrames[i] = Own(Pages.Allocate());
                indirectGrefs[i] = GrantOwned(indirectFrames[i], readOnly: true);
            }

            _queues.Add(new IxpFrontendQueue(this, q, window.Address, window.Length, _host.OpenPort(DomId, port), Grants, BackendId,
                grefsPerId, reserved, indirectPages, indirectFrames, indirectGrefs));
        }

        return keys;
    }

    private async Task WriteKeysAsync(XenStoreClient store, List<(string Key, string Value)> keys, TimeSpan timeout)
    {
        for (int attempt = 0; ; attempt++)
        {
            uint tx = await store.TransactionStartAsync().WaitAsync(timeout).ConfigureAwait(false);
            bool committed = false;
            try
            {
                foreach ((string key, string value) in keys)
                {
                    await store.WriteAsync(XenbusPaths.Key(_xenbus.Path, key), value, tx).WaitAsync(timeout).ConfigureAwait(false);
                }

                committed = await store.TransactionEndAsync(tx, commit: true).WaitAsync(timeout).ConfigureAwait(false);
            }
            catch (XenStoreException) when (attempt < 8)
            {
                try
                {
                    _ = await store.TransactionEndAsync(tx, commit: false).WaitAsync(timeout).ConfigureAwait(false);
                }
                catch (XenStoreException)
                {
                    // The transaction is gone already.
                }

                continue;
            }

            if (committed)
            {
                return;
            }

            if (attempt >= 8)
            {
                throw new IxpException($"publishing {_xenbus.Path} kept conflicting (EAGAIN)");
            }
        }
    }

    private async Task MonitorAsync()
    {
        // The backend going away (Closing/Closed/removed) takes this end down; the Xenbus
        // driver already moves our state, we stop submissions.
        await foreach (XenbusPeerState peer in _xenbus.PeerStateChanges.ReadAllAsync().ConfigureAwait(false))
        {
            Observe(peer);
        }

        _connected = false;
    }

    private void Observe(XenbusPeerState peer)
    {
        // Only a departure counts (Connected → Reconfiguring would not stop submissions either).
        if (peer.Condition != XenbusPeerCondition.Present || peer.State is XenbusState.Closing or XenbusState.Closed or XenbusState.Unknown or XenbusState.Initialising)
        {
            _connected = false;
        }

        // Closed (or gone): the backend has unmapped everything; no response will come.
        if (peer.Condition != XenbusPeerCondition.Present || peer.State is XenbusState.Closed)
        {
            _backendGone = true;
        }
    }

    private uint Own(uint frame)
    {
        _ownedFrames.Add(frame);
        return frame;
    }

    private uint GrantOwned(uint frame, bool readOnly)
    {
        GrantStatus st = Grants.GrantForeignAccess(BackendId, frame, readOnly, out uint gref);
        if (st != GrantStatus.Okay)
        {
            throw new IxpException($"granting frame {frame} to dom{BackendId}: {st}");
        }

        _ownedGrefs.Add(gref);
        return gref;
    }

    private uint ReserveGref(uint anyFrame)
    {
        // gnttab_alloc_grant_references: take a reference for this queue's exclusive use; it
        // holds no access until a request fills it.
        uint gref = GrantOwned(anyFrame, readOnly: true);
        _ = Grants.EndForeignAccessRef(gref);
        return gref;
    }

    /// <summary>
    /// The persistent grant of <paramref name="frame"/> (read-write to the backend), made on
    /// first use and kept until the device is closed. Lock-free after the first use of a frame.
    /// </summary>
    public uint PersistentGref(uint frame)
    {
        uint gref = Volatile.Read(ref _persistent[frame]);
        return gref != 0 ? gref : GrantPersistentSlow(frame);
    }

    private uint GrantPersistentSlow(uint frame)
    {
        GrantStatus st = Grants.GrantForeignAccess(BackendId, frame, readOnly: false, out uint gref);
        if (st != GrantStatus.Okay)
        {
            return 0; // the backend answers BadGrant for reference 0 (reserved)
        }

        uint won = Interlocked.CompareExchange(ref _persistent[frame], gref, 0);
        if (won != 0)
        {
            _ = Grants.EndForeignAccess(gref);
            return won;
        }

        return gref;
    }

    /// <summary>
    /// The split CPA binding on queue <paramref name="queue"/> (one instance per queue); throws
    /// <see cref="IxpException"/> when the device is not Connected, the queue does not exist,
    /// or the backend offers no sessions (protocol v1 only).
    /// </summary>
    public IxpCyInstance CreateCyInstance(int queue = 0, Cpa.CompletionMode mode = Cpa.CompletionMode.Polling)
    {
        Cpa.CpaStatus st = IxpCyInstance.Create(this, queue, mode, out IxpCyInstance? instance);
        return st == Cpa.CpaStatus.Success ? instance! : throw new IxpException($"no split CPA instance on queue {queue}: {st} (connected {IsConnected}, sessions {Negotiated.Sessions}, {Queues.Count} queue(s))");
    }

    private readonly Lock _slotLock = new();
    private bool[]? _slots;

    /// <summary>Takes a free backend session slot (control path: a lock is fine here).</summary>
    internal bool TryAllocateSessionSlot(out uint slot)
    {
        lock (_slotLock)
        {
            _slots ??= new bool[Features.MaxSessions];
            for (int i = 0; i < _slots.Length; i++)
            {
                if (!_slots[i])
                {
                    _slots[i] = true;
                    slot = (uint)i;
                    return true;
                }
            }
        }

        slot = 0;
        return false;
    }

    internal void FreeSessionSlot(uint slot)
    {
        lock (_slotLock)
        {
            if (_slots is not null && slot < _slots.Length)
            {
                _slots[slot] = false;
            }
        }
    }

    internal void ProtocolViolation(string why)
    {
        _violation ??= why;
        IxpEventSource.Log.FrontendViolation(DomId, why);
    }

    /// <summary>Closes the device (Closing, then Closed once the backend is), and ends every grant it made.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _connected = false;
        try
        {
            if (_xenbus.State is XenbusState.Connected or XenbusState.Initialised or XenbusState.InitWait or XenbusState.Initialising)
            {
                _ = await _xenbus.SwitchStateAsync(XenbusState.Closing).ConfigureAwait(false);
                _ = await _xenbus.WaitForPeerStateAsync(p => p.Condition != XenbusPeerCondition.Present || p.State is XenbusState.Closed or XenbusState.Closing, TimeSpan.FromSeconds(5)).ConfigureAwait(false);
                _ = await _xenbus.SwitchStateAsync(XenbusState.Closed).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is XenStoreException or TimeoutException or ObjectDisposedException or IOException)
        {
            // The store is gone: nothing left to tell.
        }

        await _xenbus.DisposeAsync().ConfigureAwait(false);
        await _monitor.ConfigureAwait(false);
        foreach (uint port in _ports)
        {
            _ = _host.CloseEventChannel(DomId, port);
        }

        for (int f = 0; f < _persistent.Length; f++)
        {
            if (_persistent[f] != 0)
            {
                _ = Grants.EndForeignAccess(_persistent[f]);
            }
        }

        foreach (uint gref in _ownedGrefs)
        {
            _ = Grants.EndForeignAccess(gref);
        }

        foreach (FrameWindow w in _windows)
        {
            w.Dispose();
        }

        foreach (uint frame in _ownedFrames)
        {
            Pages.Free(frame);
        }
    }
}
