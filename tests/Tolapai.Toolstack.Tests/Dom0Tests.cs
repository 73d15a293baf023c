using Tolapai.Xen.Hypervisor;
using Tolapai.Xen.Toolstack;
using Tolapai.Xen.XenStore;

namespace Tolapai.Toolstack.Tests;

/// <summary><c>tolapai dom0</c> as a process: start, stop, --keep, one dom0 per run directory, recovery after SIGKILL.</summary>
[Collection(MultiProcessCollection.Name)]
public class Dom0Tests
{
    [Fact]
    public async Task Dom0_prints_its_socket_writes_its_entries_and_SIGTERM_removes_its_files()
    {
        await using Dom0Process dom0 = await Dom0Process.StartAsync();
        Assert.Contains($"export XENSTORED_PATH={dom0.SocketPath}", dom0.Stdout, StringComparison.Ordinal);
        await using (XenStoreClient xs = await dom0.ConnectAsync())
        {
            Assert.Equal("Domain-0", await xs.ReadStringAsync("/local/domain/0/name"));
            Assert.Equal("0", await xs.ReadStringAsync("/local/domain/0/domid"));
        }
        Assert.True(File.Exists(Path.Combine(dom0.RunDirectory, Host.RegionFileName)));
        Assert.Equal(0, await dom0.StopAsync());
        Assert.Contains("run directory cleaned", dom0.Stderr, StringComparison.Ordinal);
        Assert.False(Directory.Exists(dom0.RunDirectory), string.Join(' ', Directory.Exists(dom0.RunDirectory) ? Directory.GetFileSystemEntries(dom0.RunDirectory) : []));
    }

    [Fact]
    public async Task Keep_leaves_the_files_and_the_next_dom0_takes_the_directory_over()
    {
        await using Dom0Process dom0 = await Dom0Process.StartAsync(null, "--keep");
        Assert.Equal(0, await dom0.StopAsync());
        Assert.True(File.Exists(Path.Combine(dom0.RunDirectory, Host.RegionFileName)));
        Assert.True(File.Exists(RunDirectories.Dom0PidPath(dom0.RunDirectory)));
        await using Dom0Process next = await Dom0Process.StartAsync(dom0.RunDirectory);
        Assert.Equal(0, await next.StopAsync());
    }

    [Fact]
    public async Task A_second_dom0_on_the_same_run_directory_is_refused_and_changes_nothing()
    {
        await using Dom0Process dom0 = await Dom0Process.StartAsync();
        CliResult second = await Cli.RunAsync(null, "dom0", "--run-dir", dom0.RunDirectory);
        Assert.Equal(1, second.ExitCode);
        Assert.Contains($"another dom0 (pid {dom0.Pid}) is running on {dom0.RunDirectory}", second.Stderr, StringComparison.Ordinal);
        await using XenStoreClient xs = await dom0.ConnectAsync();
        Assert.Equal("Domain-0", await xs.ReadStringAsync("/local/domain/0/name")); // the first one is untouched
    }

    [Fact]
    public async Task A_SIGKILLed_dom0s_directory_is_recovered_and_its_orphaned_guest_killed()
    {
        await using Dom0Process dom0 = await Dom0Process.StartAsync();
        ushort domid = await Cli.CreateAsync(dom0.RunDirectory, [], Cli.Domu);
        DomainInfo guest;
        using (Host host = Host.Open(dom0.RunDirectory))
            guest = host.Lookup(domid)!.Value;
        await dom0.KillAsync();
        CliResult list = await Cli.RunAsync(dom0.RunDirectory, "xl", "list");
        Assert.Equal(1, list.ExitCode);
        Assert.Contains($"no dom0 running on {dom0.RunDirectory}", list.Stderr, StringComparison.Ordinal);

        await using Dom0Process next = await Dom0Process.StartAsync(dom0.RunDirectory);
        await next.StderrContainsAsync($"recovering stale run directory {dom0.RunDirectory} (dom0 pid {dom0.Pid} is gone)");
        await Wait.GoneAsync(guest.Pid, guest.StartTime);
        CliResult after = await Cli.OkAsync(dom0.RunDirectory, "xl", "list");
        Assert.DoesNotContain("domu-", after.Stdout, StringComparison.Ordinal);
        Assert.Equal(0, await next.StopAsync());
    }
}
