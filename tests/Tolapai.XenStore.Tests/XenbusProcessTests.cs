using System.Globalization;
using Tolapai.Xen.Hypervisor;
using Tolapai.Xen.XenStore;
using Tolapai.Xen.Xenbus;

namespace Tolapai.XenStore.Tests;

/// <summary>The Xenbus handshake with the frontend in a guest process on its xenstore ring and the backend here as dom0.</summary>
[Collection(MultiProcessCollection.Name)]
public class XenbusProcessTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);

    public enum Ending
    {
        FrontendCloses,
        BackendCloses,
        GuestKilled,
    }

    private static void Ok(XenbusResult r) => Assert.True(r.IsOk, r.Message);

    [Theory]
    [InlineData(Ending.FrontendCloses)]
    [InlineData(Ending.BackendCloses)]
    [InlineData(Ending.GuestKilled)]
    public async Task A_guest_process_frontend_connects_and_both_ends_reach_Closed(Ending ending)
    {
        string dir = Path.Combine(Host.DefaultRoot, "tolapai-xenbus-" + Guid.NewGuid().ToString("N")[..12]);
        using Host host = Host.Create(dir);
        try
        {
            const uint Gfn = 1; // the first data frame: grant table in frame 0
            Assert.Equal(XenError.Ok, host.CreateDomain(0, 2, 1));
            Assert.Equal(XenError.Ok, host.CreateDomain(1, 4, 1));
            Assert.Equal(XenError.Ok, host.AllocUnbound(1, 0, out uint port));
            await using var daemon = XenStoreDaemon.Start(dir, host: host);
            await using XenStoreClient dom0 = await XenStoreClient.ConnectAsync(daemon.SocketPath!);
            await XenbusTests.AddDeviceAsync(dom0);
            await dom0.IntroduceAsync(1, Gfn, port);
            await using XenStoreClient backendClient = await XenStoreClient.ConnectAsync(daemon.SocketPath!);
            await using XenbusDriver back = await XenbusDriver.OpenBackendAsync(backendClient, 1, "ixp", 0);

            using var guest = new GuestProcess(ending == Ending.FrontendCloses ? "frontend-closes" : "frontend-waits", dir, "1",
                Gfn.ToString(CultureInfo.InvariantCulture), port.ToString(CultureInfo.InvariantCulture));
            Ok(await back.SwitchStateAsync(XenbusState.InitWait));
            Ok(await back.WaitForPeerStateAsync(XenbusState.Initialised, Wait));
            Assert.Equal("8", await back.ReadPeerKeyAsync("ring-ref"));
            Assert.Equal("3", await back.ReadPeerKeyAsync("event-channel"));
            Ok(await back.SwitchStateAsync(XenbusState.Connected));
            Ok(await back.WaitForPeerStateAsync(XenbusState.Connected, Wait));
            await guest.ExpectAsync("CONNECTED");

            switch (ending)
            {
                case Ending.FrontendCloses:
                case Ending.BackendCloses:
                    if (ending == Ending.BackendCloses)
                        Ok(await back.SwitchStateAsync(XenbusState.Closing));
                    Ok(await back.WaitForPeerStateAsync(XenbusState.Closed, Wait));
                    await guest.ExpectAsync("DONE"); // the guest saw the backend Closed
                    Assert.Equal(0, await guest.ExitAsync());
                    break;
                case Ending.GuestKilled:
                    await guest.KillAsync();
                    // What the toolstack does for a dead guest (xl destroy): its device directories go.
                    await dom0.RmAsync(XenbusPaths.Frontend(1, "ixp", 0));
                    Assert.Equal(XenbusError.PeerGone, (await back.WaitForPeerStateAsync(_ => false, Wait)).Error);
                    break;
            }
            await WaitForKeyAsync(dom0, XenbusPaths.Key(XenbusPaths.Backend(1, "ixp", 0), "state"), "6");
            // No XS_RELEASE here: the daemon detaches a released ring on the thread pool, which
            // may still run when the host is unmapped below; disposing the daemon detaches it in line.
        }
        finally
        {
            try
            {
                Directory.Delete(dir, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    /// <summary>Waits, through a watch, until a key reads <paramref name="value"/>.</summary>
    private static async Task WaitForKeyAsync(XenStoreClient observer, string path, string value)
    {
        await observer.WatchAsync(path, "observer");
        using var cts = new CancellationTokenSource(Wait);
        while (true)
        {
            await observer.WatchEvents.ReadAsync(cts.Token);
            if (await observer.ExistsAsync(path) && await observer.ReadStringAsync(path) == value)
                return;
        }
    }
}
