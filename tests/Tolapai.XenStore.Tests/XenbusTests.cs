using Tolapai.Xen.XenStore;
using Tolapai.Xen.Xenbus;

namespace Tolapai.XenStore.Tests;

/// <summary>The Xenbus state machine between a backend (dom0) and a frontend (guest 1) over one daemon.</summary>
public class XenbusTests
{
    private const uint DomU = 1;
    private const uint DevId = 0;
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);
    private static readonly string Front = XenbusPaths.Frontend(DomU, "ixp", DevId);
    private static readonly string Back = XenbusPaths.Backend(DomU, "ixp", DevId);

    /// <summary>What a toolstack writes for a device (libxl's device-add): both directories at Initialising, each readable by the other end.</summary>
    internal static async Task AddDeviceAsync(XenStoreClient dom0)
    {
        string home = XsPath.DomainPath(DomU);
        await dom0.MkdirAsync(home);
        await dom0.SetPermsAsync(home, [new(DomU, XsAccess.None)]);
        await dom0.MkdirAsync(Front);
        await dom0.SetPermsAsync(Front, [new(DomU, XsAccess.None), new(0, XsAccess.Read)]);
        await dom0.WriteAsync(Front + "/backend", Back);
        await dom0.WriteAsync(Front + "/backend-id", "0");
        await dom0.WriteAsync(Front + "/state", "1");
        await dom0.MkdirAsync(Back);
        await dom0.SetPermsAsync(Back, [new(0, XsAccess.None), new(DomU, XsAccess.Read)]);
        await dom0.WriteAsync(Back + "/frontend", Front);
        await dom0.WriteAsync(Back + "/frontend-id", "1");
        await dom0.WriteAsync(Back + "/state", "1");
    }

    private sealed class Device : IAsyncDisposable
    {
        public required DaemonFixture Fixture { get; init; }
        public required XenStoreClient Dom0 { get; init; }
        public required XenbusDriver Frontend { get; init; }
        public required XenbusDriver Backend { get; init; }

        public async ValueTask DisposeAsync()
        {
            await Frontend.DisposeAsync();
            await Backend.DisposeAsync();
            await Fixture.DisposeAsync();
        }
    }

    private static async Task<Device> OpenAsync()
    {
        DaemonFixture f = DaemonFixture.Start();
        XenStoreClient dom0 = await f.Dom0Async();
        await AddDeviceAsync(dom0);
        XenbusDriver back = await XenbusDriver.OpenBackendAsync(await f.Dom0Async(), DomU, "ixp", DevId);
        XenbusDriver front = await XenbusDriver.OpenFrontendAsync(f.Guest(DomU), DomU, "ixp", DevId);
        return new Device { Fixture = f, Dom0 = dom0, Frontend = front, Backend = back };
    }

    private static void Ok(XenbusResult r) => Assert.True(r.IsOk, r.Message);

    /// <summary>The blkif handshake: backend InitWait, frontend publishes and goes Initialised, backend Connected, frontend Connected.</summary>
    private static async Task ConnectAsync(Device d)
    {
        Ok(await d.Backend.SwitchStateAsync(XenbusState.InitWait));
        Ok(await d.Frontend.WaitForPeerStateAsync(XenbusState.InitWait, Wait));
        await d.Frontend.WriteKeyAsync("ring-ref", "8");
        await d.Frontend.WriteKeyAsync("event-channel", "3");
        Ok(await d.Frontend.SwitchStateAsync(XenbusState.Initialised));
        Ok(await d.Backend.WaitForPeerStateAsync(XenbusState.Initialised, Wait));
        Assert.Equal("8", await d.Backend.ReadPeerKeyAsync("ring-ref"));
        Assert.Equal("3", await d.Backend.ReadPeerKeyAsync("event-channel"));
        Ok(await d.Backend.SwitchStateAsync(XenbusState.Connected));
        Ok(await d.Frontend.WaitForPeerStateAsync(XenbusState.Connected, Wait));
        Ok(await d.Frontend.SwitchStateAsync(XenbusState.Connected));
        Ok(await d.Backend.WaitForPeerStateAsync(XenbusState.Connected, Wait));
        Assert.Equal("4", await d.Dom0.ReadStringAsync(Front + "/state"));
        Assert.Equal("4", await d.Dom0.ReadStringAsync(Back + "/state"));
    }

    /// <summary>Waits, through a watch of an observer's own, until a key reads <paramref name="value"/>.</summary>
    private static async Task WaitForKeyAsync(DaemonFixture f, string path, string value)
    {
        XenStoreClient observer = await f.Dom0Async();
        await observer.WatchAsync(path, "observer");
        using var cts = new CancellationTokenSource(Wait);
        while (true)
        {
            await observer.WatchEvents.ReadAsync(cts.Token);
            if (await observer.ExistsAsync(path) && await observer.ReadStringAsync(path) == value)
                return;
        }
    }

    [Fact]
    public async Task The_handshake_reaches_Connected_and_the_frontend_closes_both_ends()
    {
        await using Device d = await OpenAsync();
        await ConnectAsync(d);
        Ok(await d.Frontend.SwitchStateAsync(XenbusState.Closing));
        Ok(await d.Backend.WaitForPeerStateAsync(XenbusState.Closed, Wait));
        Ok(await d.Frontend.WaitForPeerStateAsync(XenbusState.Closed, Wait));
        // The keys, not the drivers' State: a driver records its write when the commit's reply
        // arrives, which may be after the peer saw the key change.
        Assert.Equal("6", await d.Dom0.ReadStringAsync(Front + "/state"));
        Assert.Equal("6", await d.Dom0.ReadStringAsync(Back + "/state"));
    }

    [Fact]
    public async Task The_handshake_reaches_Connected_and_the_backend_closes_both_ends()
    {
        await using Device d = await OpenAsync();
        await ConnectAsync(d);
        Ok(await d.Backend.SwitchStateAsync(XenbusState.Closing));
        Ok(await d.Backend.WaitForPeerStateAsync(XenbusState.Closed, Wait));
        Ok(await d.Frontend.WaitForPeerStateAsync(XenbusState.Closed, Wait));
        Assert.Equal("6", await d.Dom0.ReadStringAsync(Front + "/state"));
        Assert.Equal("6", await d.Dom0.ReadStringAsync(Back + "/state"));
    }

    [Fact]
    public async Task A_closed_device_reconnects_from_Initialising()
    {
        await using Device d = await OpenAsync();
        await ConnectAsync(d);
        Ok(await d.Frontend.CloseAsync());
        Ok(await d.Frontend.WaitForPeerStateAsync(XenbusState.Closed, Wait));
        Ok(await d.Frontend.SwitchStateAsync(XenbusState.Initialising));
        Ok(await d.Backend.WaitForPeerStateAsync(XenbusState.Initialising, Wait));
        Ok(await d.Backend.SwitchStateAsync(XenbusState.InitWait));
        Ok(await d.Frontend.WaitForPeerStateAsync(XenbusState.InitWait, Wait));
        Ok(await d.Frontend.SwitchStateAsync(XenbusState.Connected));
        Ok(await d.Backend.WaitForPeerStateAsync(XenbusState.Connected, Wait));
        Ok(await d.Backend.SwitchStateAsync(XenbusState.Connected));
        Ok(await d.Frontend.WaitForPeerStateAsync(XenbusState.Connected, Wait));
    }

    [Fact]
    public async Task Illegal_transitions_are_refused_and_write_nothing()
    {
        await using Device d = await OpenAsync();
        XenbusResult r = await d.Frontend.SwitchStateAsync(XenbusState.Initialised); // backend not InitWait yet
        Assert.Equal(XenbusError.IllegalTransition, r.Error);
        Assert.Contains("InitWait", r.Message, StringComparison.Ordinal);
        Assert.Equal(XenbusState.Initialising, r.State);
        Assert.Equal(XenbusError.IllegalTransition, (await d.Frontend.SwitchStateAsync(XenbusState.InitWait)).Error); // a backend state
        Assert.Equal(XenbusError.IllegalTransition, (await d.Frontend.SwitchStateAsync(XenbusState.Closed)).Error); // not through Closing
        Assert.Equal(XenbusError.IllegalTransition, (await d.Backend.SwitchStateAsync(XenbusState.Connected)).Error); // not from Initialising
        Assert.Equal(XenbusError.IllegalTransition, (await d.Backend.SwitchStateAsync((XenbusState)9)).Error);
        Ok(await d.Backend.SwitchStateAsync(XenbusState.InitWait));
        Assert.Equal(XenbusError.IllegalTransition, (await d.Backend.SwitchStateAsync(XenbusState.Connected)).Error); // frontend not Initialised
        Assert.Equal("1", await d.Dom0.ReadStringAsync(Front + "/state"));
        Assert.Equal("2", await d.Dom0.ReadStringAsync(Back + "/state"));
        Ok(await d.Backend.SwitchStateAsync(XenbusState.InitWait)); // staying put is allowed
    }

    [Fact]
    public async Task A_removed_backend_directory_takes_the_frontend_to_Closed()
    {
        await using Device d = await OpenAsync();
        await ConnectAsync(d);
        await d.Dom0.RmAsync(Back);
        Assert.Equal(XenbusError.PeerGone, (await d.Frontend.WaitForPeerStateAsync(_ => false, Wait)).Error);
        await WaitForKeyAsync(d.Fixture, Front + "/state", "6");
    }

    [Fact]
    public async Task A_removed_frontend_directory_takes_the_backend_to_Closed()
    {
        await using Device d = await OpenAsync();
        await ConnectAsync(d);
        await d.Dom0.RmAsync(Front);
        Assert.Equal(XenbusError.PeerGone, (await d.Backend.WaitForPeerStateAsync(_ => false, Wait)).Error);
        await WaitForKeyAsync(d.Fixture, Back + "/state", "6");
    }

    [Theory]
    [InlineData("connected")]
    [InlineData("44")]
    [InlineData("4 ")]
    public async Task A_garbage_backend_state_takes_the_frontend_to_Closed(string garbage)
    {
        await using Device d = await OpenAsync();
        await ConnectAsync(d);
        await d.Dom0.WriteAsync(Back + "/state", garbage);
        Assert.Equal(XenbusError.PeerMalformed, (await d.Frontend.WaitForPeerStateAsync(_ => false, Wait)).Error);
        await WaitForKeyAsync(d.Fixture, Front + "/state", "6");
    }

    [Fact]
    public async Task A_garbage_frontend_state_takes_the_backend_to_Closed()
    {
        await using Device d = await OpenAsync();
        Ok(await d.Backend.SwitchStateAsync(XenbusState.InitWait));
        await d.Fixture.Guest(DomU).WriteAsync(Front + "/state", "x");
        await WaitForKeyAsync(d.Fixture, Back + "/state", "6");
    }

    [Fact]
    public async Task Waiting_for_a_peer_that_never_moves_times_out()
    {
        await using Device d = await OpenAsync();
        var sw = System.Diagnostics.Stopwatch.StartNew();
        XenbusResult r = await d.Frontend.WaitForPeerStateAsync(XenbusState.InitWait, TimeSpan.FromMilliseconds(200));
        Assert.Equal(XenbusError.Timeout, r.Error);
        Assert.Equal(XenbusState.Initialising, r.State);
        Assert.InRange(sw.Elapsed, TimeSpan.FromMilliseconds(150), TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task Peer_changes_arrive_in_order_on_the_stream()
    {
        await using Device d = await OpenAsync();
        Assert.Equal(XenbusPeerState.Present(XenbusState.Initialising), await d.Frontend.PeerStateChanges.ReadAsync());
        Ok(await d.Backend.SwitchStateAsync(XenbusState.InitWait));
        using var cts = new CancellationTokenSource(Wait);
        Assert.Equal(XenbusPeerState.Present(XenbusState.InitWait), await d.Frontend.PeerStateChanges.ReadAsync(cts.Token));
        Ok(await d.Backend.SwitchStateAsync(XenbusState.Closing));
        Assert.Equal(XenbusPeerState.Present(XenbusState.Closing), await d.Frontend.PeerStateChanges.ReadAsync(cts.Token));
    }

    [Fact]
    public async Task A_frontend_without_a_backend_key_is_not_opened()
    {
        await using DaemonFixture f = DaemonFixture.Start();
        XenStoreClient dom0 = await f.Dom0Async();
        await dom0.WriteAsync(Front + "/state", "1");
        XenStoreException e = await Assert.ThrowsAsync<XenStoreException>(() => XenbusDriver.OpenFrontendAsync(dom0, DomU, "ixp", DevId));
        Assert.Equal("ENOENT", e.ErrorName);
        await dom0.WriteAsync(Front + "/backend", "not a path");
        e = await Assert.ThrowsAsync<XenStoreException>(() => XenbusDriver.OpenFrontendAsync(dom0, DomU, "ixp", DevId));
        Assert.Equal("EINVAL", e.ErrorName);
    }

    [Fact]
    public async Task A_switch_on_a_removed_directory_does_not_recreate_it()
    {
        await using Device d = await OpenAsync();
        await d.Dom0.RmAsync(Front);
        XenbusResult r = await d.Frontend.SwitchStateAsync(XenbusState.Closing);
        Assert.Equal(XenbusError.Store, r.Error);
        Assert.Contains("no longer exists", r.Message, StringComparison.Ordinal);
        Assert.False(await d.Dom0.ExistsAsync(Front));
    }

    [Fact]
    public async Task A_lost_store_connection_ends_waits_instead_of_hanging()
    {
        await using Device d = await OpenAsync();
        var own = new XenStoreClient(d.Fixture.Daemon.ConnectDomain(DomU));
        XenbusDriver front = await XenbusDriver.OpenFrontendAsync(own, DomU, "ixp", DevId);
        await own.DisposeAsync();
        XenbusResult r = await front.WaitForPeerStateAsync(XenbusState.InitWait, Wait);
        Assert.Equal(XenbusError.Disposed, r.Error);
        Assert.Equal(XenbusError.Store, (await front.SwitchStateAsync(XenbusState.Closing)).Error);
        await front.DisposeAsync();
        Assert.Equal(XenbusError.Disposed, (await front.WaitForPeerStateAsync(XenbusState.InitWait, Wait)).Error);
    }

    [Fact]
    public async Task Refused_state_writes_leave_no_transaction_open()
    {
        await using Device d = await OpenAsync();
        // The guest may no longer write its own state key: every switch fails inside its transaction.
        await d.Dom0.SetPermsAsync(Front + "/state", [new(0, XsAccess.None), new(DomU, XsAccess.Read)]);
        for (int i = 0; i < 12; i++) // more than a guest's 10 transactions
        {
            XenbusResult r = await d.Frontend.SwitchStateAsync(XenbusState.Closing);
            Assert.Equal(XenbusError.Store, r.Error);
            Assert.Contains("EACCES", r.Message, StringComparison.Ordinal);
        }
        await d.Dom0.SetPermsAsync(Front + "/state", [new(DomU, XsAccess.None)]);
        Ok(await d.Frontend.SwitchStateAsync(XenbusState.Closing));
    }
}
