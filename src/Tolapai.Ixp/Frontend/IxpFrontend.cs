using System.Globalization;
using Tolapai.Ixp.Protocol;
using Tolapai.Xen.GrantTable;
using Tolapai.Xen.Hypervisor;
using Tolapai.Xen.Memory;
using Tolapai.Xen.Ring;
using Tolapai.Xen.Toolstack;
using Tolapai.Xen.XenStore;
using Tolapai.Xen.Xenbus;

namespace Tolapai.Ixp.Frontend;

/// <summary>
/// The ixp frontend of one device in a guest process (blkfront's shape): reads the backend's
/// features, allocates and grants the ring page(s) of each queue, allocates the event
/// channels, publishes ring-ref / event-channel / protocol / ring-page-order /
/// multi-queue-num-queues / feature-persistent in one XenStore transaction, and follows the
/// backend to Connected. <see cref="Queues"/> carry the requests.
/// <para>
/// Suspend and resume (<see cref="ISuspendableDevice"/>, blkfront's blkfront_resume and
/// blkif_recover): suspend closes the queues' gates (submitters see NotConnected, which the CPA
/// binding reports as Restarting), closes the device so that a live backend answers what it
/// took, and keeps every other request's shadow; resume reconnects on the context's (maybe new)
/// host with the same ring geometry, re-points every grant at the new backend, re-creates the
/// backend sessions and puts each kept request on the new ring again. Each request completes once.
/// </para>
/// </summary>
public sealed class IxpFrontend : IAsyncDisposable, ISuspendableDevice
{
    private Host _host;
    private XenbusDriver _xenbus;
    private readonly uint _devid;
    private readonly IxpFrontendOptions _options;
    private readonly List<FrameWindow> _windows = [];
    private readonly List<uint[]> _ringFrames = [];
    private readonly List<uint> _ringGrefs = [];
    private readonly List<uint> _ownedGrefs = [];
    private readonly List<uint> _ownedFrames = [];
    private readonly List<uint> _ports = [];
    private readonly uint[] _persistent; // frame → gref (0: none; gref 0 is reserved so never handed out)
    private readonly List<IxpFrontendQueue> _queues = [];
    private volatile bool _connected;
    private volatile bool _backendGone;
    private volatile string? _violation;
    private volatile bool _suspended;
    private Task _monitor = Task.CompletedTask;
    private DomainContext? _context;
    private int _disposed;

    private IxpFrontend(Host host, GuestPageAllocator pages, XenbusDriver xenbus, ushort domid, ushort backendId, IxpBackendFeatures features, uint devid, IxpFrontendOptions options)
    {
        _host = host;
        Pages = pages;
        _xenbus = xenbus;
        _devid = devid;
        _options = options;
        DomId = domid;
        BackendId = backendId;
        Features = features;
        Grants = new GrantTableFrontend(pages.Memory);
        _persistent = new uint[pages.Memory.Pages];
    }

    /// <summary>This guest (its domid on the current host).</summary>
    public ushort DomId { get; private set; }

    /// <summary>The backend's domain.</summary>
    public ushort BackendId { get; private set; }

    /// <summary>What the backend advertised (the current backend's, after a resume).</summary>
    public IxpBackendFeatures Features { get; private set; }

    /// <summary>True from the start of a suspend until the queues reopen after the resume.</summary>
    public bool IsSuspended => _suspended;

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
            (ushort backendId, IxpBackendFeatures features) = await MeetBackendAsync(xenbus, options.HandshakeTimeout, CancellationToken.None).ConfigureAwait(false);
            front = new IxpFrontend(host, pages, xenbus, domid, backendId, features, devid, options);
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

    /// <summary>
    /// Connects device <paramref name="devid"/> of the guest of <paramref name="context"/> and
    /// registers it there, so that it is suspended and resumed with the domain (migration, a
    /// dom0 that died and came back).
    /// </summary>
    public static async Task<IxpFrontend> ConnectAsync(DomainContext context, GuestPageAllocator pages, uint devid = 0, IxpFrontendOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(context);
        // No suspend until registered: a move would retire the host and store this handshake uses.
        using IDisposable hold = await context.HoldOffSuspendAsync().ConfigureAwait(false);
        IxpFrontend front = await ConnectAsync(context.Host, pages, context.XenStore, devid, options).ConfigureAwait(false);
        front._context = context;
        context.RegisterDevice(front);
        return front;
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
        await CompleteHandshakeAsync(store, BuildQueues(o), o.HandshakeTimeout, CancellationToken.None).ConfigureAwait(false);
        IxpEventSource.Log.DeviceConnected(DomId, -1, Negotiated.Queues, Negotiated.RingPageOrder, Negotiated.Persistent);
    }

    /// <summary>Handshake, first half: the backend's domid (from our backend-id key), then, once it is InitWait, its features.</summary>
    private static async Task<(ushort BackendId, IxpBackendFeatures Features)> MeetBackendAsync(XenbusDriver xenbus, TimeSpan timeout, CancellationToken cancellationToken)
    {
        string? backendIdText = await xenbus.ReadKeyAsync(XenbusPaths.BackendIdKey).ConfigureAwait(false);
        if (!ushort.TryParse(backendIdText, NumberStyles.None, CultureInfo.InvariantCulture, out ushort backendId))
        {
            throw new IxpException($"{xenbus.Path}/backend-id is '{backendIdText}', not a domain id");
        }

        Check(await xenbus.WaitForPeerStateAsync(XenbusState.InitWait, timeout, cancellationToken).ConfigureAwait(false), "backend InitWait");
        return (backendId, await IxpBackendFeatures.ReadAsync(xenbus.ReadPeerKeyAsync).ConfigureAwait(false));
    }

    /// <summary>Handshake, second half: our keys in one transaction, Initialised, the backend Connected, Connected; then the backend watched.</summary>
    private async Task CompleteHandshakeAsync(XenStoreClient store, List<(string Key, string Value)> keys, TimeSpan timeout, CancellationToken cancellationToken)
    {
        await WriteKeysAsync(store, keys, timeout).ConfigureAwait(false);
        Check(await _xenbus.SwitchStateAsync(XenbusState.Initialised, cancellationToken).ConfigureAwait(false), "switch to Initialised");
        Check(await _xenbus.WaitForPeerStateAsync(XenbusState.Connected, timeout, cancellationToken).ConfigureAwait(false), "backend Connected");
        Check(await _xenbus.SwitchStateAsync(XenbusState.Connected, cancellationToken).ConfigureAwait(false), "switch to Connected");
        _connected = true;
        // Changes queued during the handshake are history; what counts is the peer from now on.
        while (_xenbus.PeerStateChanges.TryRead(out _))
        {
        }

        Observe(_xenbus.PeerState);
        _monitor = MonitorAsync();
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
        List<(string Key, string Value)> keys = DeviceKeys();
        for (int q = 0; q < queues; q++)
        {
            uint[] frames = new uint[pagesPerRing];
            for (int p = 0; p < pagesPerRing; p++)
            {
                frames[p] = Own(Pages.Allocate());
            }

            _ringFrames.Add(frames);
            (FrameWindow window, uint port) = SetUpRing(q, frames, keys, p =>
            {
                uint gref = GrantOwned(frames[p], readOnly: false);
                _ringGrefs.Add(gref);
                return gref;
            });

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
        // driver already moves our state, we stop submissions. Only the current connection's
        // driver counts: one left behind by a resume may end (late) on its own.
        XenbusDriver driver = _xenbus;
        await foreach (XenbusPeerState peer in driver.PeerStateChanges.ReadAllAsync().ConfigureAwait(false))
        {
            if (ReferenceEquals(driver, _xenbus))
            {
                Observe(peer);
            }
        }

        if (ReferenceEquals(driver, _xenbus))
        {
            _connected = false;
        }
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

    /// <inheritdoc/>
    public async Task SuspendAsync(bool backendAlive, CancellationToken cancellationToken)
    {
        // One of suspend, resume and dispose at a time: a dispose never unmaps rings a suspend is polling.
        await _lifecycle.WaitAsync(CancellationToken.None).ConfigureAwait(false);
        try
        {
            await SuspendCoreAsync(backendAlive, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _lifecycle.Release();
        }
    }

    private readonly SemaphoreSlim _lifecycle = new(1, 1);

    private async Task SuspendCoreAsync(bool backendAlive, CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _disposed) != 0 || _suspended)
        {
            return;
        }

        _suspended = true;
        _connected = false;
        foreach (IxpFrontendQueue q in _queues)
        {
            q.Quiesce();
        }

        TimeSpan step = _options.HandshakeTimeout;
        try
        {
            if (backendAlive && _xenbus.State is XenbusState.Connected or XenbusState.Initialised)
            {
                // Closing asks the backend to finish: what it took from the ring is answered
                // before it unmaps and says Closed; what it did not take stays in our shadows.
                _ = await _xenbus.SwitchStateAsync(XenbusState.Closing, cancellationToken).WaitAsync(step, cancellationToken).ConfigureAwait(false);
                long deadline = Environment.TickCount64 + (long)_options.HandshakeTimeout.TotalMilliseconds;
                while (Environment.TickCount64 < deadline)
                {
                    PollQuiesced();
                    if (_xenbus.PeerState.Condition != XenbusPeerCondition.Present || _xenbus.PeerState.State is XenbusState.Closed)
                    {
                        break;
                    }

                    await Task.Delay(1, cancellationToken).ConfigureAwait(false);
                }

                _ = await _xenbus.SwitchStateAsync(XenbusState.Closed, cancellationToken).WaitAsync(step, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is XenStoreException or TimeoutException or ObjectDisposedException or IOException)
        {
            // The store went away under us (a dying dom0): what was answered is taken below.
        }

        PollQuiesced();
        await ForgetConnectionAsync().ConfigureAwait(false);
        IxpEventSource.Log.DeviceClosed(DomId, (int)_devid, backendAlive ? "suspended" : "suspended: the dom0 died");
    }

    private void PollQuiesced()
    {
        foreach (IxpFrontendQueue q in _queues)
        {
            _ = q.PollQuiesced();
        }
    }

    /// <summary>Lets go of what names the old host: the Xenbus driver, the event channels, the ring windows (the frames and grant references are kept).</summary>
    private async Task ForgetConnectionAsync()
    {
        try
        {
            await _xenbus.DisposeAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(2)).ConfigureAwait(false);
            await _monitor.WaitAsync(TimeSpan.FromSeconds(2)).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // A dead store: the driver's tasks end with it.
        }

        foreach (uint port in _ports)
        {
            _ = _host.CloseEventChannel(DomId, port);
        }

        _ports.Clear();
        foreach (FrameWindow w in _windows)
        {
            w.Dispose();
        }

        _windows.Clear();
    }

    /// <inheritdoc/>
    public async Task ResumeAsync(DomainContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        await _lifecycle.WaitAsync(CancellationToken.None).ConfigureAwait(false);
        try
        {
            await ResumeCoreAsync(context, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _lifecycle.Release();
        }
    }

    private async Task ResumeCoreAsync(DomainContext context, CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _disposed) != 0 || !_suspended)
        {
            return;
        }

        bool resumed = true;
        try
        {
            await ReconnectAsync(context, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IxpException or XenStoreException or TimeoutException or IOException or ObjectDisposedException)
        {
            // Nothing will answer what we kept: each request completes once, with an error.
            ProtocolViolation("resume failed: " + e.Message);
            resumed = false;
        }

        foreach (IxpFrontendQueue q in _queues)
        {
            _ = resumed ? q.Resubmit() : q.FailInFlight();
        }

        // Queues first: a submitter that sees the device not suspended must find them open
        // (a control request retried meanwhile would otherwise be NotConnected and fail).
        foreach (IxpFrontendQueue q in _queues)
        {
            q.Reopen();
        }

        _suspended = false;
    }

    private async Task ReconnectAsync(DomainContext context, CancellationToken cancellationToken)
    {
        TimeSpan timeout = _options.HandshakeTimeout;
        _host = context.Host;
        DomId = context.DomId;
        XenStoreClient store = context.XenStore;
        XenbusDriver xenbus = await XenbusDriver.OpenFrontendAsync(store, DomId, IxpKeys.DeviceType, _devid, timeout).ConfigureAwait(false);
        _xenbus = xenbus;
        if (xenbus.State != XenbusState.Initialising)
        {
            // Resumed where we were (our end still says Closed): start again, as Linux's
            // xenbus_dev_resume resets a frontend to Initialising; a new host's toolstack wrote it so.
            Check(await xenbus.SwitchStateAsync(XenbusState.Initialising, cancellationToken).ConfigureAwait(false), "switch to Initialising after resume");
        }

        (ushort backendId, IxpBackendFeatures f) = await MeetBackendAsync(xenbus, timeout, cancellationToken).ConfigureAwait(false);
        if (Incompatible(f) is { } why)
        {
            throw new IxpException("the new backend cannot carry what this device negotiated: " + why);
        }

        // The new host holds no pins on our grants; the copied table may still say busy (a dom0 that died mid-request).
        _ = Grants.ClearStaleBusyBits();
        if (backendId != BackendId)
        {
            _ = Grants.Retarget(BackendId, backendId);
        }

        BackendId = backendId;
        Features = f;
        _backendGone = false;
        await CompleteHandshakeAsync(store, RingKeys(), timeout, cancellationToken).ConfigureAwait(false);
        await RecreateSessionsAsync(timeout, cancellationToken).ConfigureAwait(false);
        IxpEventSource.Log.DeviceConnected(DomId, -1, Negotiated.Queues, Negotiated.RingPageOrder, Negotiated.Persistent);
    }

    /// <summary>Why the new backend's features cannot carry this device's negotiated geometry and requests, or null.</summary>
    private string? Incompatible(IxpBackendFeatures f)
    {
        IxpNegotiated n = Negotiated;
        if (f.MaxQueues < n.Queues)
        {
            return $"{n.Queues} queues, it offers {f.MaxQueues}";
        }

        if (f.MaxRingPageOrder < n.RingPageOrder)
        {
            return $"ring-page-order {n.RingPageOrder}, it offers {f.MaxRingPageOrder}";
        }

        if (n.Sessions && !f.Sessions)
        {
            return "sessions, it offers none";
        }

        if (f.MaxIndirectSegments < n.MaxIndirectSegments)
        {
            return $"{n.MaxIndirectSegments} indirect segments, it offers {f.MaxIndirectSegments}";
        }

        lock (_slotLock)
        {
            foreach ((uint slot, SessionSetup setup) in _sessions)
            {
                if (slot >= f.MaxSessions)
                {
                    return $"session slot {slot}, it offers {f.MaxSessions}";
                }

                if (!f.Algorithms.Contains(setup.Algorithm))
                {
                    return $"{IxpKeys.Name(setup.Algorithm)}, which it does not offer";
                }
            }
        }

        return null;
    }

    /// <summary>Resume: each queue's ring frames side by side again (the new host's file), initialised, re-granted, with a new event channel; the keys to publish.</summary>
    private unsafe List<(string Key, string Value)> RingKeys()
    {
        int pagesPerRing = 1 << Negotiated.RingPageOrder;
        List<(string Key, string Value)> keys = DeviceKeys();
        for (int q = 0; q < Negotiated.Queues; q++)
        {
            uint[] frames = _ringFrames[q];
            int first = q * pagesPerRing;
            (FrameWindow window, uint port) = SetUpRing(q, frames, keys, p =>
            {
                uint gref = _ringGrefs[first + p];
                Grants.GrantForeignAccessRef(gref, BackendId, frames[p], readOnly: false);
                return gref;
            });
            _queues[q].Attach(window.Address, window.Length, _host.OpenPort(DomId, port));
        }

        return keys;
    }

    /// <summary>The device-wide keys of the negotiated protocol (protocol, feature-persistent, ring-page-order, multi-queue-num-queues).</summary>
    private List<(string Key, string Value)> DeviceKeys()
    {
        IxpNegotiated n = Negotiated;
        List<(string Key, string Value)> keys = [(IxpKeys.Protocol, IxpKeys.NativeProtocol), (IxpKeys.FeaturePersistent, n.Persistent ? "1" : "0")];
        if (n.RingPageOrder > 0)
        {
            keys.Add((IxpKeys.RingPageOrder, IxpBackendFeatures.Num(n.RingPageOrder)));
        }

        if (n.Queues > 1)
        {
            keys.Add((IxpKeys.MultiQueueNumQueues, IxpBackendFeatures.Num(n.Queues)));
        }

        return keys;
    }

    /// <summary>
    /// Queue <paramref name="q"/>'s ring: its frames side by side, initialised, each page's grant
    /// (from <paramref name="grefOf"/>) and a new event channel published in <paramref name="keys"/>.
    /// </summary>
    private unsafe (FrameWindow Window, uint Port) SetUpRing(int q, uint[] frames, List<(string Key, string Value)> keys, Func<int, uint> grefOf)
    {
        string prefix = Negotiated.Queues > 1 ? IxpKeys.Queue(q) + "/" : "";
        FrameWindow window = Pages.Memory.MapFrames(frames) ?? throw new IxpException("cannot map the ring pages side by side");
        _windows.Add(window);
        SharedRing.Initialize(window.Address);
        for (int p = 0; p < frames.Length; p++)
        {
            keys.Add((prefix + SharedRing.RingRefKey(Negotiated.RingPageOrder, p), IxpBackendFeatures.Num(grefOf(p))));
        }

        XenError e = _host.AllocUnbound(DomId, BackendId, out uint port);
        if (e != XenError.Ok)
        {
            throw new IxpException($"EVTCHNOP_alloc_unbound for queue {q}: {e}");
        }

        _ports.Add(port);
        keys.Add((prefix + IxpKeys.EventChannel, IxpBackendFeatures.Num(port)));
        return (window, port);
    }

    /// <summary>Resume: the backend's session table is new; every session the guest holds is created again in its slot, on queue 0, before any request that uses it.</summary>
    private async Task RecreateSessionsAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        List<(uint Slot, SessionSetup Setup)> sessions;
        lock (_slotLock)
        {
            sessions = [.. _sessions.Select(kv => (kv.Key, kv.Value))];
        }

        if (sessions.Count == 0)
        {
            return;
        }

        IxpFrontendQueue q = _queues[0];
        long deadline = Environment.TickCount64 + (long)timeout.TotalMilliseconds;
        int sent = 0;
        while (q.ResumeAnswers.Answers < sessions.Count)
        {
            // Never more on the ring than it holds: the next batch once answers came back.
            while (sent < sessions.Count && sent - q.ResumeAnswers.Answers < (int)q.RingSize)
            {
                (uint slot, SessionSetup setup) = sessions[sent];
                q.ReplaySessionCreate(slot, setup.Algorithm, setup.Direction, setup.Key, (uint)sent);
                sent++;
            }

            if (q.PollQuiesced() == 0)
            {
                if (Environment.TickCount64 > deadline || _backendGone)
                {
                    throw new IxpException($"the backend answered {q.ResumeAnswers.Answers} of {sessions.Count} session re-creations");
                }

                await Task.Delay(1, cancellationToken).ConfigureAwait(false);
            }
        }

        if (q.ResumeAnswers.Status != IxpStatus.Okay)
        {
            throw new IxpException($"the backend refused to re-create a session: {q.ResumeAnswers.Status}");
        }
    }

    private readonly record struct SessionSetup(IxpAlgorithm Algorithm, IxpDirection Direction, byte[] Key);

    private readonly Dictionary<uint, SessionSetup> _sessions = [];

    /// <summary>Keeps what a session was created with, to create it again in a new backend after a resume (control path).</summary>
    internal void RememberSession(uint slot, IxpAlgorithm algorithm, IxpDirection direction, ReadOnlySpan<byte> key)
    {
        lock (_slotLock)
        {
            _sessions[slot] = new SessionSetup(algorithm, direction, key.ToArray());
        }
    }

    /// <summary>Forgets a destroyed session (its key bytes cleared).</summary>
    internal void ForgetSession(uint slot)
    {
        lock (_slotLock)
        {
            if (_sessions.Remove(slot, out SessionSetup s))
            {
                Array.Clear(s.Key);
            }
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
    /// <see cref="IxpException"/> when the device is neither Connected nor suspended, the queue does not exist,
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
        _context?.UnregisterDevice(this);
        // A suspend or resume of this device under way finishes first (it sees _disposed after).
        await _lifecycle.WaitAsync(CancellationToken.None).ConfigureAwait(false);
        try
        {
            if (!_suspended && _xenbus.State is XenbusState.Connected or XenbusState.Initialised or XenbusState.InitWait or XenbusState.Initialising)
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
        lock (_slotLock)
        {
            foreach (SessionSetup setup in _sessions.Values)
            {
                Array.Clear(setup.Key);
            }

            _sessions.Clear();
        }

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
