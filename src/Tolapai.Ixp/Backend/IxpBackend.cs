using System.Globalization;
using Tolapai.Ixp.Protocol;
using Tolapai.Xen.GrantTable;
using Tolapai.Xen.Hypervisor;
using Tolapai.Xen.XenStore;

namespace Tolapai.Ixp.Backend;

/// <summary>
/// The ixp backend of a dom0 process: watches <c>/local/domain/&lt;dom0&gt;/backend/ixp</c> for
/// devices the toolstack adds, and runs an <see cref="IxpBackendDevice"/> for each (its own
/// XenStore connection and Xenbus state machine). Requests of every guest are served by
/// worker threads, one per driver instance, in round robin.
/// </summary>
public sealed partial class IxpBackend : IAsyncDisposable
{
    private const string WatchToken = "ixp-backend";
    private readonly XenStoreClient _store;
    private readonly IxpBackendWorker[] _workers;
    private readonly Dictionary<(ushort, uint), IxpBackendDevice> _devices = [];
    private readonly Lock _devicesLock = new();
    private readonly CancellationTokenSource _stop = new();
    private Task _watch = Task.CompletedTask;
    private long _controlBytesCopied;
    private long _payloadBytesCopied;
    private long _payloadBytesServed;
    private int _disposed;

    private IxpBackend(Host host, XenStoreClient store, IxpDriver[] drivers, ushort domid, IxpBackendOptions options)
    {
        Host = host;
        _store = store;
        DomId = domid;
        Options = options;
        Mapper = new GrantMapper(host, domid, maxMappings: 1 << 16);
        SocketPath = options.XenStoreSocketPath ?? XenStoreDaemon.SocketPathFor(host.RunDirectory);
        _workers = new IxpBackendWorker[drivers.Length];
        for (int i = 0; i < drivers.Length; i++)
        {
            _workers[i] = new IxpBackendWorker(drivers[i], options, i);
        }

        int maxIndirect = Math.Min(options.MaxIndirectSegments, drivers.Min(d => d.MaxSegments));
        Features = new IxpBackendFeatures
        {
            Sessions = options.Sessions,
            Algorithms = options.Sessions ? drivers[0].Algorithms : [],
            MaxSessions = options.Sessions ? options.MaxSessions : 0,
            MaxSegments = Math.Min(IxpCipherBody.MaxSegments, drivers.Min(d => d.MaxSegments)),
            MaxIndirectSegments = options.Sessions && maxIndirect > IxpCipherBody.MaxSegments ? maxIndirect : 0,
            Persistent = options.Persistent,
            MaxRingPageOrder = options.MaxRingPageOrder,
            MaxQueues = options.MaxQueues,
            MaxRequests = options.MaxRequestsPerGuest,
        };
    }

    /// <summary>The host.</summary>
    public Host Host { get; }

    /// <summary>The backend's domain (0).</summary>
    public ushort DomId { get; }

    /// <summary>Options in force.</summary>
    public IxpBackendOptions Options { get; }

    /// <summary>What every device advertises.</summary>
    public IxpBackendFeatures Features { get; }

    /// <summary>
    /// Payload bytes the backend copied, counted where it copies them. The backend hands the
    /// device the guest's granted frames (v1 messages are ciphered in place in their parameter
    /// page; every segment, inline or indirect, is one page at most and goes as it is), so this
    /// stays 0. The only copying path is the <c>copy-backend</c> test fault, which stages each
    /// payload through a buffer of its own: copy in, cipher there, copy out, 2 × the payload.
    /// The device's bounce block is counted by the device (<see cref="Tolapai.Device.DeviceCounters.BounceBytes"/>).
    /// </summary>
    public long PayloadBytesCopied => Interlocked.Read(ref _payloadBytesCopied);

    /// <summary>Payload bytes of the requests the backend answered with success: the denominator of copies per payload byte.</summary>
    public long PayloadBytesServed => Interlocked.Read(ref _payloadBytesServed);

    /// <summary>Bytes of control data copied out of guest pages, never payload: v1 parameter headers (32 per request: sizes, key and IV) and indirect segment descriptors (8 per segment).</summary>
    public long ControlBytesCopied => Interlocked.Read(ref _controlBytesCopied);

    /// <summary>
    /// Each worker thread's count of managed bytes allocated, read by that thread on its next
    /// loop pass after this call (a parked worker is woken for it). Two samples bracket a window
    /// exactly: their difference is what each worker allocated between them, requests and parks
    /// included.
    /// </summary>
    /// <param name="timeout">How long to wait for every worker's answer (default 10 s).</param>
    /// <exception cref="TimeoutException">A worker did not answer in time.</exception>
    public long[] SampleWorkerAllocatedBytes(TimeSpan? timeout = null) =>
        Diagnostics.ThreadAllocationProbe.Sample([.. _workers.Select(w => w.Allocations)], () => Array.ForEach(_workers, w => w.Ring()), timeout ?? TimeSpan.FromSeconds(10));

    /// <summary>Responses written to every guest so far.</summary>
    public long ResponsesWritten => Interlocked.Read(ref _responses);

    internal void CountResponse() => Interlocked.Increment(ref _responses);

    private long _responses;

    /// <summary>Times the worker threads parked.</summary>
    public long Parks => _workers.Sum(w => w.Parks);

    /// <summary>
    /// The backend's own cost: nanoseconds its worker threads spent in the passes that did work
    /// (took requests and prepared them, mapped grants, submitted them to the driver, had it
    /// deliver completions, wrote responses), summed over the workers; wall-clock time on those
    /// threads, read with one timestamp at the top of a pass and one at its end. Passes that found
    /// nothing to do (an idle ring, or every request still at the engine) are not counted, and the
    /// engine's work runs on the device's own threads, so a slower engine does not raise it; a
    /// slower backend does. Divided by <see cref="ResponsesWritten"/>: the backend's time per
    /// request. A pass the OS preempted counts the preemption too: see <see cref="MedianBusyNanosecondsPerRequest"/>.
    /// </summary>
    public long BusyNanoseconds => (long)(_workers.Sum(w => (double)w.Busy.Ticks) * 1e9 / System.Diagnostics.Stopwatch.Frequency);

    /// <summary>Worker passes counted in <see cref="BusyNanoseconds"/>.</summary>
    public long BusyPasses => _workers.Sum(w => w.Busy.Passes);

    /// <summary>Items of work in those passes: requests taken plus requests answered (2 per request the driver ciphered).</summary>
    public long BusyWorkItems => _workers.Sum(w => w.Busy.WorkItems);

    /// <summary>
    /// The backend's typical time per request, immune to the few passes the OS preempted: the
    /// median over every item of work of its pass's nanoseconds per item (1/8-octave buckets),
    /// times the items per response (<see cref="BusyWorkItems"/> over <see cref="ResponsesWritten"/>).
    /// On a loaded machine a preempted pass adds milliseconds to <see cref="BusyNanoseconds"/>;
    /// here it is one item among thousands. 0 before any response.
    /// </summary>
    public double MedianBusyNanosecondsPerRequest
    {
        get
        {
            long responses = ResponsesWritten;
            if (responses == 0)
            {
                return 0;
            }

            long[] histogram = new long[BusyTime.Buckets];
            foreach (IxpBackendWorker w in _workers)
            {
                w.Busy.AddHistogramTo(histogram);
            }

            return BusyTime.Median(histogram) * BusyWorkItems / responses;
        }
    }

    internal GrantMapper Mapper { get; }

    /// <summary>Grant mappings the backend holds now (rings, persistent grants, requests in flight) over all guests.</summary>
    public int MapperMappings => Mapper.ActiveMappings;

    internal string SocketPath { get; }

    internal IxpDriver Driver => _workers[0].Driver;

    internal CancellationToken StopToken => _stop.Token;

    /// <summary>The devices known now.</summary>
    public IReadOnlyList<IxpBackendDevice> Devices
    {
        get
        {
            lock (_devicesLock)
            {
                return [.. _devices.Values];
            }
        }
    }

    /// <summary>The device of guest <paramref name="domid"/>, number <paramref name="devid"/>, if known.</summary>
    public IxpBackendDevice? Find(ushort domid, uint devid = 0)
    {
        lock (_devicesLock)
        {
            return _devices.GetValueOrDefault((domid, devid));
        }
    }

    internal void CountControlCopy(int bytes) => Interlocked.Add(ref _controlBytesCopied, bytes);

    internal void CountPayloadCopy(int bytes) => Interlocked.Add(ref _payloadBytesCopied, bytes);

    internal void CountPayloadServed(uint bytes) => Interlocked.Add(ref _payloadBytesServed, bytes);

    /// <summary>Gives a connected queue to the least loaded worker.</summary>
    internal void Assign(IxpBackendQueue q) => _workers.MinBy(w => w.QueueCount)!.Add(q);

    private static async Task<IxpBackend> StartCoreAsync(Host host, XenStoreClient dom0, IxpDriver[] drivers, IxpBackendOptions? options, ushort domid)
    {
        ArgumentNullException.ThrowIfNull(host);
        ArgumentNullException.ThrowIfNull(dom0);
        options ??= new IxpBackendOptions();
        if (options.Validate() is { } bad)
        {
            throw new ArgumentException(bad, nameof(options));
        }

        IxpBackend backend = new(host, dom0, drivers, domid, options);
        foreach (IxpBackendWorker w in backend._workers)
        {
            w.Start();
        }

        string root = backend.Root;
        backend._watch = backend.WatchLoopAsync();
        // The watch fires once when set: the loop's first scan finds devices added before we started.
        await dom0.WatchAsync(root, WatchToken).WaitAsync(backend.Options.OperationTimeout).ConfigureAwait(false);
        return backend;
    }

    private string Root => "/local/domain/" + DomId.ToString(CultureInfo.InvariantCulture) + "/backend/" + IxpKeys.DeviceType;

    private async Task WatchLoopAsync()
    {
        CancellationToken ct = _stop.Token;
        try
        {
            await foreach (XsWatchEvent ev in _store.WatchEvents.ReadAllAsync(ct).ConfigureAwait(false))
            {
                if (ev.Token != WatchToken)
                {
                    continue;
                }

                await ScanAsync(ev.Path).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or XenStoreException or IOException or ObjectDisposedException)
        {
            // Stopping, or the store went away: the devices notice on their own connections.
        }
    }

    /// <summary>Starts a device for a path under the root that names a (domU, devid) not served yet.</summary>
    private async Task ScanAsync(string path)
    {
        string root = Root;
        if (!path.StartsWith(root, StringComparison.Ordinal))
        {
            return;
        }

        string[] parts = path[root.Length..].Split('/', StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length == 0)
        {
            // The root itself: list what is there (devices added before the watch).
            string[] domains = await ListAsync(root).ConfigureAwait(false);
            foreach (string d in domains)
            {
                foreach (string dev in await ListAsync(root + "/" + d).ConfigureAwait(false))
                {
                    Consider(d, dev);
                }
            }

            return;
        }

        if (parts.Length >= 2)
        {
            Consider(parts[0], parts[1]);
        }
    }

    private async Task<string[]> ListAsync(string path)
    {
        try
        {
            return await _store.DirectoryAsync(path).WaitAsync(Options.OperationTimeout).ConfigureAwait(false);
        }
        catch (XenStoreException)
        {
            return [];
        }
    }

    private void Consider(string domText, string devText)
    {
        if (!ushort.TryParse(domText, NumberStyles.None, CultureInfo.InvariantCulture, out ushort domU)
            || !uint.TryParse(devText, NumberStyles.None, CultureInfo.InvariantCulture, out uint devid)
            || domU == DomId)
        {
            return;
        }

        lock (_devicesLock)
        {
            if (_stop.IsCancellationRequested || (_devices.TryGetValue((domU, devid), out IxpBackendDevice? known) && !known.Run.IsCompleted))
            {
                return;
            }

            IxpBackendDevice device = new(this, domU, devid);
            _devices[(domU, devid)] = device;
            device.Start();
            // A device ends for good when its guest is gone; if the toolstack has already put a
            // new device in its place (same directory, new domain), serve that one.
            _ = device.Run.ContinueWith(_ => RescanAsync(domU, devid), TaskScheduler.Default).Unwrap();
        }
    }

    private async Task RescanAsync(ushort domU, uint devid)
    {
        if (_stop.IsCancellationRequested)
        {
            return;
        }

        string path = Xen.Xenbus.XenbusPaths.Backend(domU, IxpKeys.DeviceType, devid, DomId);
        try
        {
            if (Host.Lookup(domU) is { State: DomainState.Running } && await _store.ExistsAsync(path + "/frontend").WaitAsync(Options.OperationTimeout).ConfigureAwait(false))
            {
                Consider(domU.ToString(CultureInfo.InvariantCulture), devid.ToString(CultureInfo.InvariantCulture));
            }
        }
        catch (Exception e) when (e is XenStoreException or TimeoutException or ObjectDisposedException or IOException)
        {
            // The store is gone: nothing to serve.
        }
    }

    /// <summary>Stops every device (their guests see Closed), then the workers.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        try
        {
            await _store.UnwatchAsync(Root, WatchToken).WaitAsync(Options.OperationTimeout).ConfigureAwait(false);
        }
        catch (Exception e) when (e is XenStoreException or TimeoutException or ObjectDisposedException or IOException)
        {
            // The store is gone already.
        }

        await _stop.CancelAsync().ConfigureAwait(false);
        IxpBackendDevice[] devices;
        lock (_devicesLock)
        {
            devices = [.. _devices.Values];
        }

        foreach (IxpBackendDevice d in devices)
        {
            await d.Run.ConfigureAwait(false);
        }

        await _watch.ConfigureAwait(false);
        foreach (IxpBackendWorker w in _workers)
        {
            w.Stop();
            w.Dispose();
        }

        _stop.Dispose();
    }
}
