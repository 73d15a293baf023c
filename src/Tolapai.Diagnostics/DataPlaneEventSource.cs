using System.Diagnostics.Tracing;
using System.Runtime.CompilerServices;

namespace Tolapai.Diagnostics;

/// <summary>
/// The data plane's events and counters, provider name <c>Tolapai-DataPlane</c>: what
/// <c>dotnet-trace collect --providers Tolapai-DataPlane</c>, <c>dotnet-counters monitor
/// --counters Tolapai-DataPlane</c> and <c>tolapai trace</c> read. Every event method checks
/// its level and keyword first and uses the non-allocating <c>WriteEventCore</c> path, so with no
/// listener a call is one predictable branch. The counters read <see cref="DataPlaneCounters"/>,
/// which the data plane updates only while this source is enabled.
/// </summary>
[EventSource(Name = ProviderName)]
public sealed unsafe class DataPlaneEventSource : EventSource
{
    /// <summary>The provider name.</summary>
    public const string ProviderName = "Tolapai-DataPlane";

    /// <summary>The one instance.</summary>
    public static readonly DataPlaneEventSource Log = new();

    private PollingCounter? _inFlight;
    private PollingCounter? _ringOccupancy;
    private IncrementingPollingCounter? _ops;
    private IncrementingPollingCounter? _bytes;
    private IncrementingPollingCounter? _notifications;
    private IncrementingPollingCounter? _suppressed;
    private IncrementingPollingCounter? _spins;
    private IncrementingPollingCounter? _parks;
    private IncrementingPollingCounter? _retries;

    private DataPlaneEventSource()
        : base(EventSourceSettings.EtwSelfDescribingEventFormat)
    {
    }

    /// <summary>The event ids, for listeners and the trace report.</summary>
    public static class Ids
    {
        /// <summary><see cref="RequestSubmitted"/>.</summary>
        public const int RequestSubmitted = 1;

        /// <summary><see cref="RequestCompleted"/>.</summary>
        public const int RequestCompleted = 2;

        /// <summary><see cref="RingFull"/>.</summary>
        public const int RingFull = 3;

        /// <summary><see cref="NotifySent"/>.</summary>
        public const int NotifySent = 4;

        /// <summary><see cref="NotifySuppressed"/>.</summary>
        public const int NotifySuppressed = 5;

        /// <summary><see cref="Parked"/>.</summary>
        public const int Parked = 6;

        /// <summary><see cref="Woken"/>.</summary>
        public const int Woken = 7;

        /// <summary><see cref="GrantMapFailed"/>.</summary>
        public const int GrantMapFailed = 8;

        /// <summary><see cref="XenbusStateChanged"/>.</summary>
        public const int XenbusStateChanged = 9;

        /// <summary><see cref="MigrationStarted"/>.</summary>
        public const int MigrationStarted = 10;

        /// <summary><see cref="MigrationCompleted"/>.</summary>
        public const int MigrationCompleted = 11;
    }

    /// <summary>True when request events are wanted (Verbose + <see cref="DataPlaneKeywords.Requests"/>): callers skip taking timestamps otherwise.</summary>
    public bool RequestsEnabled
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => IsEnabled(EventLevel.Verbose, DataPlaneKeywords.Requests);
    }

    /// <summary>A request was accepted by an instance (it will complete exactly once).</summary>
    /// <param name="stage">Where: native, split, software.</param>
    /// <param name="domain">The requesting domain (0 in dom0).</param>
    /// <param name="requestId">The binding's id of the request.</param>
    /// <param name="bytes">Bytes to cipher.</param>
    [Event(Ids.RequestSubmitted, Level = EventLevel.Verbose, Keywords = DataPlaneKeywords.Requests, Message = "{0} request {2} from dom{1}: {3} bytes")]
    public void RequestSubmitted(Stage stage, int domain, long requestId, int bytes)
    {
        if (IsEnabled(EventLevel.Verbose, DataPlaneKeywords.Requests))
        {
            EventData* data = stackalloc EventData[4];
            Set(ref data[0], &stage);
            Set(ref data[1], &domain);
            Set(ref data[2], &requestId);
            Set(ref data[3], &bytes);
            WriteEventCore(Ids.RequestSubmitted, 4, data);
        }
    }

    /// <summary>A request of a stage completed; <paramref name="latencyNs"/> is that stage's time.</summary>
    /// <param name="stage">The stage measured.</param>
    /// <param name="domain">The requesting domain.</param>
    /// <param name="requestId">The binding's id of the request.</param>
    /// <param name="status">CPA status (0 success).</param>
    /// <param name="bytes">Bytes ciphered.</param>
    /// <param name="latencyNs">Nanoseconds in the stage.</param>
    [Event(Ids.RequestCompleted, Level = EventLevel.Verbose, Keywords = DataPlaneKeywords.Requests, Message = "{0} request {2} from dom{1}: status {3}, {4} bytes, {5} ns")]
    public void RequestCompleted(Stage stage, int domain, long requestId, int status, int bytes, long latencyNs)
    {
        if (IsEnabled(EventLevel.Verbose, DataPlaneKeywords.Requests))
        {
            EventData* data = stackalloc EventData[6];
            Set(ref data[0], &stage);
            Set(ref data[1], &domain);
            Set(ref data[2], &requestId);
            Set(ref data[3], &status);
            Set(ref data[4], &bytes);
            Set(ref data[5], &latencyNs);
            WriteEventCore(Ids.RequestCompleted, 6, data);
        }
    }

    /// <summary>A submission found its ring full and returned Retry.</summary>
    /// <param name="domain">The submitting domain.</param>
    /// <param name="queue">Ring or queue index.</param>
    /// <param name="inFlight">Requests outstanding at that moment.</param>
    [Event(Ids.RingFull, Level = EventLevel.Informational, Keywords = DataPlaneKeywords.Ring, Message = "dom{0} queue {1}: ring full with {2} in flight, Retry")]
    public void RingFull(int domain, int queue, int inFlight)
    {
        if (IsEnabled(EventLevel.Informational, DataPlaneKeywords.Ring))
        {
            WriteEvent(Ids.RingFull, domain, queue, inFlight);
        }
    }

    /// <summary>An event-channel notification was sent after publishing.</summary>
    /// <param name="domain">The notifying domain.</param>
    /// <param name="port">Its local port.</param>
    [Event(Ids.NotifySent, Level = EventLevel.Verbose, Keywords = DataPlaneKeywords.Notify)]
    public void NotifySent(int domain, int port)
    {
        if (IsEnabled(EventLevel.Verbose, DataPlaneKeywords.Notify))
        {
            WriteEvent(Ids.NotifySent, domain, port);
        }
    }

    /// <summary>A notification was not needed: the peer's event index said it was still polling.</summary>
    /// <param name="domain">The publishing domain.</param>
    /// <param name="port">Its local port.</param>
    [Event(Ids.NotifySuppressed, Level = EventLevel.Verbose, Keywords = DataPlaneKeywords.Notify)]
    public void NotifySuppressed(int domain, int port)
    {
        if (IsEnabled(EventLevel.Verbose, DataPlaneKeywords.Notify))
        {
            WriteEvent(Ids.NotifySuppressed, domain, port);
        }
    }

    /// <summary>A waiter used up its spin budget and parked on the futex.</summary>
    /// <param name="domain">The waiting domain.</param>
    /// <param name="port">The port waited on.</param>
    /// <param name="spunNs">Nanoseconds spent spinning first.</param>
    [Event(Ids.Parked, Level = EventLevel.Informational, Keywords = DataPlaneKeywords.Waiting)]
    public void Parked(int domain, int port, long spunNs)
    {
        if (IsEnabled(EventLevel.Informational, DataPlaneKeywords.Waiting))
        {
            WriteEvent(Ids.Parked, domain, port, spunNs);
        }
    }

    /// <summary>A parked waiter woke.</summary>
    /// <param name="domain">The waiting domain.</param>
    /// <param name="port">The port waited on.</param>
    /// <param name="parkedNs">Nanoseconds parked.</param>
    [Event(Ids.Woken, Level = EventLevel.Informational, Keywords = DataPlaneKeywords.Waiting)]
    public void Woken(int domain, int port, long parkedNs)
    {
        if (IsEnabled(EventLevel.Informational, DataPlaneKeywords.Waiting))
        {
            WriteEvent(Ids.Woken, domain, port, parkedNs);
        }
    }

    /// <summary>A grant could not be mapped.</summary>
    /// <param name="mapper">The mapping domain.</param>
    /// <param name="granter">The granting domain.</param>
    /// <param name="grantRef">The reference.</param>
    /// <param name="status">Xen's GNTST code (negative).</param>
    [Event(Ids.GrantMapFailed, Level = EventLevel.Warning, Keywords = DataPlaneKeywords.Grants, Message = "dom{0} could not map grant {2} of dom{1}: GNTST {3}")]
    public void GrantMapFailed(int mapper, int granter, int grantRef, int status)
    {
        if (IsEnabled(EventLevel.Warning, DataPlaneKeywords.Grants))
        {
            WriteEvent(Ids.GrantMapFailed, mapper, granter, grantRef, status);
        }
    }

    /// <summary>A device end moved to a new Xenbus state.</summary>
    /// <param name="path">Its XenStore directory.</param>
    /// <param name="from">Old state (io/xenbus.h value).</param>
    /// <param name="to">New state.</param>
    [Event(Ids.XenbusStateChanged, Level = EventLevel.Informational, Keywords = DataPlaneKeywords.Xenbus, Message = "{0}: {1} -> {2}")]
    public void XenbusStateChanged(string path, int from, int to)
    {
        if (IsEnabled(EventLevel.Informational, DataPlaneKeywords.Xenbus))
        {
            WriteEvent(Ids.XenbusStateChanged, path, from, to);
        }
    }

    /// <summary>A migration of a domain started.</summary>
    /// <param name="domain">The domain.</param>
    /// <param name="live">Pre-copy (live) or stop-and-copy.</param>
    [Event(Ids.MigrationStarted, Level = EventLevel.Informational, Keywords = DataPlaneKeywords.Migration)]
    public void MigrationStarted(int domain, bool live)
    {
        if (IsEnabled(EventLevel.Informational, DataPlaneKeywords.Migration))
        {
            WriteEvent(Ids.MigrationStarted, domain, live ? 1 : 0);
        }
    }

    /// <summary>A migration finished.</summary>
    /// <param name="domain">The domain (on the destination).</param>
    /// <param name="downtimeNs">Time the guest was suspended.</param>
    /// <param name="rounds">Pre-copy rounds.</param>
    /// <param name="pages">Pages sent in all.</param>
    [Event(Ids.MigrationCompleted, Level = EventLevel.Informational, Keywords = DataPlaneKeywords.Migration)]
    public void MigrationCompleted(int domain, long downtimeNs, int rounds, long pages)
    {
        if (IsEnabled(EventLevel.Informational, DataPlaneKeywords.Migration))
        {
            EventData* data = stackalloc EventData[4];
            Set(ref data[0], &domain);
            Set(ref data[1], &downtimeNs);
            Set(ref data[2], &rounds);
            Set(ref data[3], &pages);
            WriteEventCore(Ids.MigrationCompleted, 4, data);
        }
    }

    /// <inheritdoc/>
    protected override void OnEventCommand(EventCommandEventArgs command)
    {
        ArgumentNullException.ThrowIfNull(command);
        if (command.Command == EventCommand.Enable)
        {
            // Counters exist only once someone listens; the data plane starts counting now.
            _ops ??= new IncrementingPollingCounter("ops-per-second", this, () => DataPlaneCounters.Completed) { DisplayName = "Completed operations", DisplayRateTimeScale = TimeSpan.FromSeconds(1) };
            _bytes ??= new IncrementingPollingCounter("bytes-per-second", this, () => DataPlaneCounters.Bytes) { DisplayName = "Bytes ciphered", DisplayUnits = "B", DisplayRateTimeScale = TimeSpan.FromSeconds(1) };
            _inFlight ??= new PollingCounter("in-flight", this, () => Math.Max(0, DataPlaneCounters.Submitted - DataPlaneCounters.Completed)) { DisplayName = "Requests in flight" };
            _ringOccupancy ??= new PollingCounter("ring-occupancy", this, () => DataPlaneCounters.RingOccupancy) { DisplayName = "Ring occupancy (last sampled entries)" };
            _notifications ??= new IncrementingPollingCounter("notifications-per-second", this, () => DataPlaneCounters.NotificationsSent) { DisplayName = "Event-channel notifications sent", DisplayRateTimeScale = TimeSpan.FromSeconds(1) };
            _suppressed ??= new IncrementingPollingCounter("notifications-suppressed-per-second", this, () => DataPlaneCounters.NotificationsSuppressed) { DisplayName = "Notifications suppressed", DisplayRateTimeScale = TimeSpan.FromSeconds(1) };
            _spins ??= new IncrementingPollingCounter("spin-wakeups-per-second", this, () => DataPlaneCounters.SpinWakeups) { DisplayName = "Waits satisfied while spinning", DisplayRateTimeScale = TimeSpan.FromSeconds(1) };
            _parks ??= new IncrementingPollingCounter("parks-per-second", this, () => DataPlaneCounters.Parks) { DisplayName = "Waits that parked on the futex", DisplayRateTimeScale = TimeSpan.FromSeconds(1) };
            _retries ??= new IncrementingPollingCounter("retries-per-second", this, () => DataPlaneCounters.Retries) { DisplayName = "Retry (ring full)", DisplayRateTimeScale = TimeSpan.FromSeconds(1) };
        }
    }

    private static void Set<T>(ref EventData data, T* value)
        where T : unmanaged
    {
        data.DataPointer = (nint)value;
        data.Size = sizeof(T);
    }
}
