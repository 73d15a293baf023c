using System.Collections.Concurrent;
using System.Diagnostics.Tracing;
using Tolapai.Diagnostics;
using Tolapai.Xen.EventChannel;
using Tolapai.Xen.GrantTable;
using Tolapai.Xen.Hypervisor;

namespace Tolapai.Xen.Tests;

/// <summary>The hypervisor's hooks into the Tolapai-DataPlane source: notify, park/wake, grant failures.</summary>
public sealed class DataPlaneEventTests : IDisposable
{
    private readonly TestRunDirectory _run = new(new HostOptions { MaxDomains = 8, PortsPerDomain = 8, MaxGrantEntries = 1024 });

    public DataPlaneEventTests()
    {
        Assert.Equal(XenError.Ok, _run.Host.CreateDomain(0, 2, 1));
        Assert.Equal(XenError.Ok, _run.Host.CreateDomain(5, 4, 1));
    }

    public void Dispose() => _run.Dispose();

    private sealed class Listener : EventListener
    {
        public ConcurrentQueue<EventWrittenEventArgs> Events { get; } = new();

        protected override void OnEventSourceCreated(EventSource eventSource)
        {
            if (eventSource.Name == DataPlaneEventSource.ProviderName)
            {
                EnableEvents(eventSource, EventLevel.Verbose, DataPlaneKeywords.Notify | DataPlaneKeywords.Waiting | DataPlaneKeywords.Grants);
            }
        }

        protected override void OnEventWritten(EventWrittenEventArgs eventData) => Events.Enqueue(eventData);

        // Other tests run in parallel in this process: keep only the events of our domain.
        public EventWrittenEventArgs[] Of(int id, int domainPayload, int domain) =>
            Events.Where(e => e.EventId == id && Convert.ToInt32(e.Payload![domainPayload], System.Globalization.CultureInfo.InvariantCulture) == domain).ToArray();
    }

    [Fact]
    public void Notify_park_wake_and_a_failed_grant_map_are_reported_with_their_domain_and_port()
    {
        using var listener = new Listener();
        Host h = _run.Host;
        Assert.Equal(XenError.Ok, h.AllocUnbound(5, 0, out uint guestPort));
        Assert.Equal(XenError.Ok, h.BindInterdomain(0, 5, guestPort, out uint backPort));
        EventChannelPort guest = h.OpenPort(5, guestPort);

        Assert.Equal(WaitResult.TimedOut, guest.Wait(spinBudget: 0, TimeSpan.FromMilliseconds(5)));
        Assert.Equal(XenError.Ok, guest.Notify());
        var mapper = new GrantMapper(h, 0);
        Assert.Equal(GrantStatus.BadGntref, mapper.Map(5, 100_000, readOnly: true, out _));

        EventWrittenEventArgs parked = Assert.Single(listener.Of(DataPlaneEventSource.Ids.Parked, 0, 5));
        Assert.Equal((int)guestPort, parked.Payload![1]);
        EventWrittenEventArgs woken = Assert.Single(listener.Of(DataPlaneEventSource.Ids.Woken, 0, 5));
        Assert.True(Convert.ToInt64(woken.Payload![2], System.Globalization.CultureInfo.InvariantCulture) >= 1_000_000, "parked for the 5 ms timeout");
        Assert.Equal((int)guestPort, Assert.Single(listener.Of(DataPlaneEventSource.Ids.NotifySent, 0, 5)).Payload![1]);
        EventWrittenEventArgs grant = Assert.Single(listener.Of(DataPlaneEventSource.Ids.GrantMapFailed, 1, 5));
        Assert.Equal(100_000, grant.Payload![2]);
        Assert.Equal((int)GrantStatus.BadGntref, grant.Payload[3]);
        Assert.True(backPort > 0);
    }
}
