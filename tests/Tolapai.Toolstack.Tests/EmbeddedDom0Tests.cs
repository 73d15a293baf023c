using Tolapai.Xen.Hypervisor;
using Tolapai.Xen.Toolstack;
using Tolapai.Xen.XenStore;

namespace Tolapai.Toolstack.Tests;

/// <summary>The dom0 as a library inside the test process (as <c>tolapai perf</c> embeds it), with a service and a guest process.</summary>
[Collection(MultiProcessCollection.Name)]
public class EmbeddedDom0Tests
{
    /// <summary>A service that leaves a mark in XenStore when it starts and checks its guests are gone when it stops.</summary>
    private sealed class MarkerService(List<string> journal) : IDom0Service
    {
        private Dom0Host? _dom0;

        public string Name => "marker";

        public async Task StartAsync(Dom0Host dom0, CancellationToken cancellationToken)
        {
            _dom0 = dom0;
            Assert.True(dom0.XenStore.SocketPath is not null && dom0.Host.Lookup(0) is not null);
            await dom0.Toolstack.XenStore.WriteAsync("/local/domain/0/backend/marker", "up");
            journal.Add("start");
        }

        public Task StopAsync(CancellationToken cancellationToken)
        {
            // Guests are torn down before services stop.
            for (uint id = 1; id < _dom0!.Host.MaxDomains; id++)
                Assert.Null(_dom0.Host.Lookup((ushort)id));
            journal.Add("stop");
            return Task.CompletedTask;
        }
    }

    [Fact]
    public async Task An_embedded_dom0_runs_services_builds_a_guest_reaps_it_and_stops()
    {
        string dir = Dom0Process.NewRunDirectory();
        var journal = new List<string>();
        var gone = new List<(ushort, string)>();
        try
        {
            Dom0Host dom0 = await Dom0Host.StartAsync(new Dom0Options { RunDirectory = dir, MaxDomains = 8, Services = [new MarkerService(journal)] });
            dom0.DomainGone += (_, e) =>
            {
                lock (gone)
                    gone.Add((e.DomId, e.Reason));
            };
            Assert.Equal(["start"], journal);
            Assert.Null(dom0.RecoveredFrom);
            Assert.Equal(XenStoreDaemon.SocketPathFor(dir), dom0.SocketPath);
            Assert.Equal("up", await dom0.Toolstack.XenStore.ReadStringAsync("/local/domain/0/backend/marker"));

            // One dom0 per run directory, in-process too.
            await Assert.ThrowsAsync<Dom0RunningException>(() => Dom0Host.StartAsync(new Dom0Options { RunDirectory = dir }));

            CreatedDomain a = await dom0.Toolstack.CreateAsync(new DomainConfig { Name = "a" }, Cli.Domu);
            CreatedDomain b = await dom0.Toolstack.CreateAsync(new DomainConfig { Name = "b", Devices = [] }, Cli.Domu);
            Assert.Equal((ushort)1, a.DomId);
            Assert.Equal(new GuestStartInfo(dir, 2, 1023, b.StartInfo.XenStorePort), b.StartInfo);
            await Wait.FileContainsAsync(a.LogPath, "attached");
            ToolstackException dup = await Assert.ThrowsAsync<ToolstackException>(() => dom0.Toolstack.CreateAsync(new DomainConfig { Name = "a" }, Cli.Domu));
            Assert.True(dup.IsUsageError);

            DomainInfo info = dom0.Host.Lookup(a.DomId)!.Value;
            Assert.Equal(a.Pid, info.Pid);
            Assert.True(Signals.Send(info.Pid, info.StartTime, Signals.SigKill));
            await Wait.UntilAsync(() => Task.FromResult(dom0.Host.Lookup(a.DomId) is null), "domain a to be reaped");
            await Wait.UntilAsync(() =>
            {
                lock (gone)
                    return Task.FromResult(gone.Contains((a.DomId, "process died")));
            }, "DomainGone for a");

            await dom0.StopAsync(); // b is powered off, then the service stops
            Assert.Equal(["start", "stop"], journal);
            lock (gone)
                Assert.Contains((b.DomId, "dom0 shutdown"), gone);
            Assert.False(Directory.Exists(dir));
        }
        finally
        {
            Dom0Process.KillGuests(dir);
            if (Directory.Exists(dir))
                Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task A_guest_attaches_with_DomainContext_from_its_start_info()
    {
        string dir = Dom0Process.NewRunDirectory();
        try
        {
            await using Dom0Host dom0 = await Dom0Host.StartAsync(new Dom0Options { RunDirectory = dir, MaxDomains = 4 });
            // The guest process is this test's own helper: the TestChild attaches and runs the frontend.
            CreatedDomain d = await dom0.Toolstack.CreateAsync(new DomainConfig { Name = "ctx" }, [Cli.Dotnet, Cli.TestChildPath, "xl-frontend"]);
            await using XenStoreClient xs = await XenStoreClient.ConnectAsync(dom0.SocketPath);
            await Wait.UntilAsync(async () => await xs.ExistsAsync("/local/domain/1/control/feature-poweroff"), "the guest's feature-poweroff");
            Assert.True(dom0.Host.HeartbeatAge(d.DomId) is long age && age >= 0);
            await dom0.Toolstack.DestroyAsync(d.DomId, TimeSpan.FromSeconds(1));
            Assert.Null(dom0.Host.Lookup(d.DomId));
            Assert.False(await xs.ExistsAsync("/local/domain/1"));
        }
        finally
        {
            Dom0Process.KillGuests(dir);
            if (Directory.Exists(dir))
                Directory.Delete(dir, recursive: true);
        }
    }
}
