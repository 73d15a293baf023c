using Tolapai.Xen.XenStore;
using static Tolapai.XenStore.Tests.Wire;

namespace Tolapai.XenStore.Tests;

/// <summary>XenStoreClient.RouteWatchEvents: one token's events kept apart from WatchEvents, as xenbus dispatches by token.</summary>
public class RouteWatchEventsTests
{
    [Fact]
    public async Task A_routed_token_gets_its_events_and_WatchEvents_the_rest()
    {
        await using var f = DaemonFixture.Start();
        XenStoreClient c = await f.Dom0Async();
        var routed = c.RouteWatchEvents("mine");
        await c.WatchAsync("/a", "mine");
        await c.WatchAsync("/b", "other");
        Assert.Equal(new XsWatchEvent("/a", "mine"), await routed.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(new XsWatchEvent("/b", "other"), await NextEventAsync(c));
        await c.WriteAsync("/a/x", "1");
        await c.WriteAsync("/b", "2");
        Assert.Equal(new XsWatchEvent("/a/x", "mine"), await routed.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(new XsWatchEvent("/b", "other"), await NextEventAsync(c));
        Assert.False(c.WatchEvents.TryRead(out _));
        Assert.Throws<InvalidOperationException>(() => c.RouteWatchEvents("mine"));
    }

    [Fact]
    public async Task A_routed_reader_completes_when_the_connection_closes()
    {
        await using var f = DaemonFixture.Start();
        XenStoreClient c = await f.Dom0Async();
        var routed = c.RouteWatchEvents("t");
        await f.Daemon.DisposeAsync();
        var closed = await Assert.ThrowsAsync<System.Threading.Channels.ChannelClosedException>(async () => await routed.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.IsType<XenStoreException>(closed.InnerException);
    }
}
