using Tolapai.Xen.Hypervisor;
using Tolapai.Xen.XenStore;
using Tolapai.Xen.Xenbus;

namespace Tolapai.Toolstack.Tests;

/// <summary><c>tolapai xl</c> end to end with <c>tolapai domu</c> guests in their own processes.</summary>
[Collection(MultiProcessCollection.Name)]
public class XlTests
{
    private static DomainInfo Info(string runDir, ushort domid)
    {
        using Host host = Host.Open(runDir);
        return host.Lookup(domid) ?? throw new InvalidOperationException($"no domain {domid}");
    }

    [Fact]
    public async Task Create_list_destroy_with_domu_guests()
    {
        await using Dom0Process dom0 = await Dom0Process.StartAsync();
        string dir = dom0.RunDirectory;
        ushort web = await Cli.CreateAsync(dir, ["--name", "web", "--memory-pages", "64"], Cli.Domu);
        ushort other = await Cli.CreateAsync(dir, ["--no-device"], Cli.Domu);
        Assert.Equal(1, web);
        Assert.Equal(2, other);
        string log = Path.Combine(dir, "dom1.log");
        // The guest read its name and its home over its own ring.
        await Wait.FileContainsAsync(log, "domain 1 'web' attached");
        Assert.Contains("home: name domid memory device control data", File.ReadAllText(log), StringComparison.Ordinal);

        string list = (await Cli.OkAsync(dir, "xl", "list")).Stdout;
        string[] rows = list.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.StartsWith("Name", rows[0], StringComparison.Ordinal);
        Assert.Matches(@"^Domain-0\s+0\s+16\s+running\s+\d+$", rows[1]);
        Assert.Matches($@"^web\s+1\s+64\s+running\s+{Info(dir, 1).Pid}$", rows[2]);
        Assert.Matches(@"^domu-2\s+2\s+1024\s+running\s+\d+$", rows[3]);

        await using XenStoreClient xs = await dom0.ConnectAsync();
        Assert.Equal([new(0, XsAccess.None), new(1, XsAccess.Read)], await xs.GetPermsAsync("/local/domain/1"));
        Assert.Equal([new(1, XsAccess.None)], await xs.GetPermsAsync("/local/domain/1/control"));
        Assert.Equal("1", await xs.ReadStringAsync("/local/domain/1/control/feature-poweroff")); // written by the guest
        string front = XenbusPaths.Frontend(1, "ixp", 0);
        string back = XenbusPaths.Backend(1, "ixp", 0);
        Assert.Equal(back, await xs.ReadStringAsync(front + "/backend"));
        Assert.Equal("0", await xs.ReadStringAsync(front + "/backend-id"));
        Assert.Equal("1", await xs.ReadStringAsync(front + "/state"));
        Assert.Equal([new(1, XsAccess.None), new(0, XsAccess.Read)], await xs.GetPermsAsync(front));
        Assert.Equal(front, await xs.ReadStringAsync(back + "/frontend"));
        Assert.Equal("1", await xs.ReadStringAsync(back + "/frontend-id"));
        Assert.Equal("1", await xs.ReadStringAsync(back + "/online"));
        Assert.Equal("1", await xs.ReadStringAsync(back + "/state"));
        Assert.Equal([new(0, XsAccess.None), new(1, XsAccess.Read)], await xs.GetPermsAsync(back));
        Assert.False(await xs.ExistsAsync("/local/domain/2/device/ixp"));
        Assert.True(await xs.IsDomainIntroducedAsync(1));

        // device-add gives the next free devid.
        Assert.Equal("0", (await Cli.OkAsync(dir, "xl", "device-add", "2", "ixp")).Stdout.Trim());
        Assert.Equal("1", (await Cli.OkAsync(dir, "xl", "device-add", "2", "ixp")).Stdout.Trim());
        Assert.Equal("1", await xs.ReadStringAsync(XenbusPaths.Frontend(2, "ixp", 1) + "/state"));
        Assert.Equal("1", await xs.ReadStringAsync(XenbusPaths.Backend(2, "ixp", 1) + "/state"));

        await xs.WatchAsync(XenStoreDaemon.ReleaseDomainPath, "rel");
        await xs.WatchEvents.ReadAsync(); // the one at set
        DomainInfo webInfo = Info(dir, 1);
        await Cli.OkAsync(dir, "xl", "destroy", "web");
        Assert.False(ProcessIdentity.IsAlive(webInfo.Pid, webInfo.StartTime));
        Assert.Contains("shutdown requested (poweroff)", File.ReadAllText(log), StringComparison.Ordinal); // clean: the guest powered off
        Assert.Equal(new XsWatchEvent(XenStoreDaemon.ReleaseDomainPath, "rel"), await xs.WatchEvents.ReadAsync().AsTask().WaitAsync(Wait.Long));
        Assert.False(await xs.ExistsAsync("/local/domain/1"));
        Assert.False(await xs.ExistsAsync(back));
        Assert.False(await xs.IsDomainIntroducedAsync(1));
        Assert.DoesNotContain("web", (await Cli.OkAsync(dir, "xl", "list")).Stdout, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(dir, "dom1.mem")));

        // The freed domid is used again.
        Assert.Equal(1, await Cli.CreateAsync(dir, [], Cli.Domu));
        await Cli.OkAsync(dir, "xl", "destroy", "1");
        await Cli.OkAsync(dir, "xl", "destroy", "2");
        Assert.Equal(0, await dom0.StopAsync());
    }

    [Fact]
    public async Task A_SIGKILLed_guest_is_reaped_by_dom0()
    {
        await using Dom0Process dom0 = await Dom0Process.StartAsync();
        string dir = dom0.RunDirectory;
        ushort domid = await Cli.CreateAsync(dir, [], Cli.Domu);
        await Wait.FileContainsAsync(Path.Combine(dir, $"dom{domid}.log"), "attached");
        await using XenStoreClient xs = await dom0.ConnectAsync();
        await xs.WatchAsync(XenStoreDaemon.ReleaseDomainPath, "rel");
        await xs.WatchEvents.ReadAsync();
        DomainInfo info = Info(dir, domid);
        Assert.True(Xen.Toolstack.Signals.Send(info.Pid, info.StartTime, Xen.Toolstack.Signals.SigKill));

        Assert.Equal(new XsWatchEvent(XenStoreDaemon.ReleaseDomainPath, "rel"), await xs.WatchEvents.ReadAsync().AsTask().WaitAsync(Wait.Long));
        await Wait.UntilAsync(async () => !await xs.ExistsAsync(XsPath.DomainPath(domid)), "the guest's home to go");
        Assert.False(await xs.ExistsAsync(XenbusPaths.Backend(domid, "ixp", 0)));
        using (Host host = Host.Open(dir))
            Assert.Null(host.Lookup(domid));
        // The reaper logs after it removed the domain's XenStore home: wait for the line itself.
        await dom0.StderrContainsAsync($"reaped domain {domid}: process died");
        Assert.DoesNotContain("domu-", (await Cli.OkAsync(dir, "xl", "list")).Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Stopping_dom0_powers_its_guests_off()
    {
        await using Dom0Process dom0 = await Dom0Process.StartAsync(null, "--keep");
        string dir = dom0.RunDirectory;
        ushort domid = await Cli.CreateAsync(dir, [], Cli.Domu);
        string log = Path.Combine(dir, $"dom{domid}.log");
        await Wait.FileContainsAsync(log, "attached");
        DomainInfo info = Info(dir, domid);
        Assert.Equal(0, await dom0.StopAsync());
        Assert.False(ProcessIdentity.IsAlive(info.Pid, info.StartTime));
        Assert.Contains($"asking domain {domid} to power off", dom0.Stderr, StringComparison.Ordinal);
        Assert.Contains($"domain {domid} destroyed", dom0.Stderr, StringComparison.Ordinal);
        Assert.Contains("shutdown requested (poweroff)", File.ReadAllText(log), StringComparison.Ordinal); // not killed: it powered off
    }

    [Fact]
    public async Task A_hung_guest_is_killed_and_reaped_when_its_heartbeat_goes_stale()
    {
        await using Dom0Process dom0 = await Dom0Process.StartAsync(null, "--heartbeat-timeout-ms", "2000");
        string dir = dom0.RunDirectory;
        ushort domid = await Cli.CreateAsync(dir, [], [.. Cli.Domu, "--heartbeat-ms", "50"]);
        await Wait.FileContainsAsync(Path.Combine(dir, $"dom{domid}.log"), "attached");
        DomainInfo info = Info(dir, domid);
        Assert.True(Xen.Toolstack.Signals.Send(info.Pid, info.StartTime, 19)); // SIGSTOP: alive but hung
        await Wait.GoneAsync(info.Pid, info.StartTime);
        await Wait.UntilAsync(() => Task.FromResult(dom0.Stderr.Contains($"reaped domain {domid}: heartbeat stale", StringComparison.Ordinal)), "the reaper's line");
        using Host host = Host.Open(dir);
        Assert.Null(host.Lookup(domid));
    }
}
