using System.Collections.Concurrent;
using System.Diagnostics.Tracing;

namespace Tolapai.Diagnostics.Tests;

// EventSources are process-wide: these tests must not run alongside each other.
[CollectionDefinition(nameof(EventSourceCollection), DisableParallelization = true)]
public sealed class EventSourceCollection;

[Collection(nameof(EventSourceCollection))]
public sealed class EventSourceTests
{
    private sealed class Listener(EventLevel level, EventKeywords keywords, float? counterSeconds = null) : EventListener
    {
        public ConcurrentQueue<EventWrittenEventArgs> Events { get; } = new();

        protected override void OnEventSourceCreated(EventSource eventSource)
        {
            if (eventSource.Name == DataPlaneEventSource.ProviderName)
            {
                Dictionary<string, string?>? args = counterSeconds is float s
                    ? new() { ["EventCounterIntervalSec"] = s.ToString(System.Globalization.CultureInfo.InvariantCulture) }
                    : null;
                EnableEvents(eventSource, level, keywords, args);
            }
        }

        protected override void OnEventWritten(EventWrittenEventArgs eventData) => Events.Enqueue(eventData);
    }

    [Fact]
    public void Every_event_reaches_a_listener_with_its_payload()
    {
        using var listener = new Listener(EventLevel.Verbose, EventKeywords.All);
        DataPlaneEventSource log = DataPlaneEventSource.Log;

        log.RequestSubmitted(Stage.SplitOp, 3, 77, 4096);
        log.RequestCompleted(Stage.Device, 3, 77, -2, 4096, 12345);
        log.RingFull(3, 1, 64);
        log.NotifySent(3, 5);
        log.NotifySuppressed(3, 5);
        log.Parked(0, 9, 20_000);
        log.Woken(0, 9, 44_000);
        log.GrantMapFailed(0, 3, 17, -3);
        log.XenbusStateChanged("/local/domain/0/backend/ixp/3/0", 2, 4);
        log.MigrationStarted(3, live: true);
        log.MigrationCompleted(3, 1_500_000, 4, 2048);

        var byId = listener.Events.Where(e => e.EventSource == log).GroupBy(e => e.EventId).ToDictionary(g => g.Key, g => g.Last());
        Assert.Equal(Enumerable.Range(1, 11), byId.Keys.Order());
        EventWrittenEventArgs done = byId[DataPlaneEventSource.Ids.RequestCompleted];
        Assert.Equal(["stage", "domain", "requestId", "status", "bytes", "latencyNs"], done.PayloadNames);
        Assert.Equal(Stage.Device, (Stage)Convert.ToInt32(done.Payload![0], System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(77L, done.Payload[2]);
        Assert.Equal(-2, done.Payload[3]);
        Assert.Equal(12345L, done.Payload[5]);
        Assert.Equal("/local/domain/0/backend/ixp/3/0", byId[DataPlaneEventSource.Ids.XenbusStateChanged].Payload![0]);
        Assert.Equal(-3, byId[DataPlaneEventSource.Ids.GrantMapFailed].Payload![3]);
        Assert.Equal(2048L, byId[DataPlaneEventSource.Ids.MigrationCompleted].Payload![3]);
    }

    [Fact]
    public void Keywords_and_levels_keep_the_hot_path_quiet()
    {
        // Informational with only the Ring keyword: request and notify events (Verbose) stay off.
        using var listener = new Listener(EventLevel.Informational, DataPlaneKeywords.Ring);
        DataPlaneEventSource log = DataPlaneEventSource.Log;

        Assert.False(log.RequestsEnabled);
        log.RequestCompleted(Stage.NativeOp, 0, 1, 0, 64, 100);
        log.NotifySent(0, 1);
        log.RingFull(0, 0, 256);

        Assert.Equal([DataPlaneEventSource.Ids.RingFull], listener.Events.Where(e => e.EventSource == log).Select(e => e.EventId).ToArray());
    }

    [Fact]
    public async Task Counters_move_under_load_and_only_count_while_someone_listens()
    {
        long before = DataPlaneCounters.Completed;
        if (!DataPlaneCounters.Enabled)
        {
            DataPlaneCounters.OnCompleted(64);
            Assert.Equal(before, DataPlaneCounters.Completed); // nobody listening: nothing counted
        }

        using var listener = new Listener(EventLevel.Informational, EventKeywords.None, counterSeconds: 0.1f);
        Assert.True(DataPlaneCounters.Enabled);
        using var stop = new CancellationTokenSource();
        Task load = Task.Run(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                DataPlaneCounters.OnSubmitted();
                DataPlaneCounters.OnCompleted(4096);
                DataPlaneCounters.OnNotify(sent: false);
                DataPlaneCounters.OnWait(parked: false);
            }
        });

        Dictionary<string, double> seen = [];
        DateTime until = DateTime.UtcNow.AddSeconds(20);
        while (DateTime.UtcNow < until && !(seen.GetValueOrDefault("ops-per-second") > 0 && seen.GetValueOrDefault("bytes-per-second") > 0 && seen.ContainsKey("in-flight")))
        {
            while (listener.Events.TryDequeue(out EventWrittenEventArgs? e))
            {
                if (e.EventName == "EventCounters" && e.Payload?[0] is IDictionary<string, object> p && p["Name"] is string name)
                {
                    seen[name] = Convert.ToDouble(p.TryGetValue("Increment", out object? inc) ? inc : p["Mean"], System.Globalization.CultureInfo.InvariantCulture);
                }
            }

            await Task.Delay(20);
        }

        stop.Cancel();
        await load;
        Assert.True(seen.GetValueOrDefault("ops-per-second") > 0, "ops-per-second did not move: " + string.Join(", ", seen));
        Assert.True(seen.GetValueOrDefault("bytes-per-second") > 0);
        Assert.True(seen.GetValueOrDefault("notifications-suppressed-per-second") >= 0);
        Assert.Contains("ring-occupancy", seen.Keys);
        Assert.Contains("retries-per-second", seen.Keys);
        Assert.Contains("parks-per-second", seen.Keys);
    }
}
