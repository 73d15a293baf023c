using Tolapai.Xen.Hypervisor;
using Tolapai.Xen.Toolstack;
using Tolapai.Xen.XenStore;
using Tolapai.Xen.Xenbus;

namespace Tolapai.Toolstack.Tests;

/// <summary>
/// The ixp device's Xenbus handshake with the directories <c>xl create</c> wrote: the frontend
/// in a guest process that <c>xl create</c> started (attached through DomainContext), the
/// backend here as a dom0 tool on the <c>tolapai dom0</c> process's socket; Connected, then
/// Closed on both ends whichever way it ends.
/// </summary>
[Collection(MultiProcessCollection.Name)]
public class XenbusHandshakeTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    public enum Ending
    {
        FrontendCloses,
        BackendCloses,
        XlDestroy,
        GuestKilled,
    }

    private static void Ok(XenbusResult r) => Assert.True(r.IsOk, r.Message);

    [Theory]
    [InlineData(Ending.FrontendCloses)]
    [InlineData(Ending.BackendCloses)]
    [InlineData(Ending.XlDestroy)]
    [InlineData(Ending.GuestKilled)]
    public async Task Backend_and_xl_created_frontend_connect_and_both_reach_Closed(Ending ending)
    {
        await using Dom0Process dom0 = await Dom0Process.StartAsync();
        string dir = dom0.RunDirectory;
        string role = ending == Ending.FrontendCloses ? "xl-frontend-closes" : "xl-frontend";
        ushort domid = await Cli.CreateAsync(dir, ["--name", "front"], [Cli.Dotnet, Cli.TestChildPath, role]);
        string log = Path.Combine(dir, $"dom{domid}.log");
        await using XenStoreClient backendClient = await dom0.ConnectAsync();
        await using XenbusDriver back = await XenbusDriver.OpenBackendAsync(backendClient, domid, "ixp", 0);
        Ok(await back.SwitchStateAsync(XenbusState.InitWait));
        Ok(await back.WaitForPeerStateAsync(XenbusState.Initialised, Timeout));
        Assert.Equal("8", await back.ReadPeerKeyAsync("ring-ref"));
        Ok(await back.SwitchStateAsync(XenbusState.Connected));
        Ok(await back.WaitForPeerStateAsync(XenbusState.Connected, Timeout));
        await Wait.FileContainsAsync(log, "CONNECTED");
        DomainInfo guest;
        using (Host host = Host.Open(dir))
            guest = host.Lookup(domid)!.Value;

        switch (ending)
        {
            case Ending.FrontendCloses:
                Ok(await back.WaitForPeerStateAsync(XenbusState.Closed, Timeout));
                break;
            case Ending.BackendCloses:
                Ok(await back.SwitchStateAsync(XenbusState.Closing));
                Ok(await back.WaitForPeerStateAsync(XenbusState.Closed, Timeout));
                break;
            case Ending.XlDestroy:
                // The guest closes its frontend when told to power off; the backend follows.
                Task<CliResult> destroy = Cli.RunAsync(dir, "xl", "destroy", "front");
                Ok(await back.WaitForPeerStateAsync(XenbusState.Closed, Timeout));
                Assert.Equal(0, (await destroy).ExitCode);
                break;
            case Ending.GuestKilled:
                Assert.True(Signals.Send(guest.Pid, guest.StartTime, Signals.SigKill));
                // The dom0's reaper marks the dead guest's frontend Closed, then removes the directories.
                XenbusResult r = await back.WaitForPeerStateAsync(s => s.Is(XenbusState.Closed), Timeout);
                Assert.True(r.IsOk || r.Error == XenbusError.PeerGone, r.Message);
                break;
        }
        await Wait.UntilAsync(() => Task.FromResult(back.State == XenbusState.Closed), "the backend to reach Closed");
        if (ending is Ending.FrontendCloses or Ending.BackendCloses or Ending.XlDestroy)
            await Wait.FileContainsAsync(log, "DONE"); // the frontend saw the backend Closed
        await Wait.GoneAsync(guest.Pid, guest.StartTime);
        // Whatever the ending, the dom0 (reaper) or xl tears the domain down: directories gone.
        await Wait.UntilAsync(async () => !await backendClient.ExistsAsync(XsPath.DomainPath(domid)), "the guest's home to go");
        Assert.False(await backendClient.ExistsAsync(XenbusPaths.Backend(domid, "ixp", 0)));
    }
}
