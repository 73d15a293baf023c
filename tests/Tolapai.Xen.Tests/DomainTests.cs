using Tolapai.Xen.Hypervisor;
using Tolapai.Xen.Memory;

namespace Tolapai.Xen.Tests;

/// <summary>Domain table operations in one process (the SIGKILL case is in <see cref="MultiProcessTests"/>).</summary>
public sealed class DomainTests : IDisposable
{
    private readonly TestRunDirectory _run = new(new HostOptions { MaxDomains = 8, PortsPerDomain = 8, MaxGrantEntries = 1024 });

    public void Dispose() => _run.Dispose();

    [Fact]
    public void Create_lookup_destroy()
    {
        Host h = _run.Host;
        Assert.Null(h.Lookup(3));
        Assert.Equal(XenError.Ok, h.CreateDomain(3, 8, 2));
        Assert.Equal(XenError.EEXIST, h.CreateDomain(3, 8, 2));
        DomainInfo info = h.Lookup(3)!.Value;
        Assert.Equal(DomainState.Running, info.State);
        Assert.Equal(Environment.ProcessId, info.Pid);
        Assert.Equal(ProcessIdentity.StartTime(Environment.ProcessId), info.StartTime);
        Assert.Equal(8u, info.Pages);
        Assert.True(h.IsAlive(3));
        Assert.True(File.Exists(h.MemoryPath(3)));
        Assert.Equal(GuestMemory.FileLength(8), new FileInfo(h.MemoryPath(3)).Length); // the pages, then the dirty log

        using (Host other = Host.Open(_run.Path))
        {
            Assert.Equal(info, other.Lookup(3));
        }

        Assert.Equal(XenError.Ok, h.DestroyDomain(3));
        Assert.Null(h.Lookup(3));
        Assert.False(File.Exists(h.MemoryPath(3)));
        Assert.Equal(XenError.ENOENT, h.DestroyDomain(3));
        Assert.Equal(XenError.Ok, h.CreateDomain(3, 8, 2));
        Assert.Equal(info.Generation + 1, h.Lookup(3)!.Value.Generation);
    }

    [Fact]
    public void A_re_created_domain_is_mapped_afresh_and_the_old_mapping_stays_readable()
    {
        Host h = _run.Host;
        using Host other = Host.Open(_run.Path); // a backend process's view
        Assert.Equal(XenError.Ok, h.CreateDomain(1, 4, 1));
        GuestMemory before = other.MapGuestMemory(1)!;
        h.MapGuestMemory(1)!.Page(2)[0] = 0x11;
        Assert.Equal(0x11, before.Page(2)[0]);

        Assert.Equal(XenError.Ok, h.DestroyDomain(1));
        Assert.Equal(XenError.Ok, h.CreateDomain(1, 4, 1));
        h.MapGuestMemory(1)!.Page(2)[0] = 0x22;
        GuestMemory after = other.MapGuestMemory(1)!;
        Assert.NotSame(before, after);
        Assert.Equal(0x22, after.Page(2)[0]);  // the new guest's memory, not the old file
        Assert.Equal(0x11, before.Page(2)[0]); // still mapped: no fault for a stale pointer
    }

    [Fact]
    public void Bad_arguments_are_einval_and_a_missing_process_esrch()
    {
        Host h = _run.Host;
        Assert.Equal(XenError.EINVAL, h.CreateDomain(8, 8, 1));      // beyond MaxDomains
        Assert.Equal(XenError.EINVAL, h.CreateDomain(1, 1, 1));      // no data page
        Assert.Equal(XenError.EINVAL, h.CreateDomain(1, 8, 0));      // no grant table
        Assert.Equal(XenError.EINVAL, h.CreateDomain(1, 16, 3));     // 1536 entries > MaxGrantEntries 1024
        Assert.Equal(XenError.ESRCH, h.CreateDomain(1, 8, 1, pid: int.MaxValue));
    }

    [Fact]
    public void A_reused_pid_with_another_start_time_is_dead()
    {
        Host h = _run.Host;
        Assert.Equal(XenError.Ok, h.CreateDomain(4, 4, 1));
        unsafe
        {
            h.DomainSlot(4)->StartTime++; // same pid, different process (as after pid reuse)
        }

        Assert.False(h.IsAlive(4));
        Assert.Equal([(ushort)4], h.ReapDeadDomains());
        Assert.Null(h.Lookup(4));
    }

    [Fact]
    public void A_live_process_with_a_stale_heartbeat_is_reaped_only_when_asked()
    {
        Host h = _run.Host;
        Assert.Equal(XenError.Ok, h.CreateDomain(6, 4, 1));
        unsafe
        {
            h.DomainSlot(6)->Heartbeat -= 10_000_000_000; // 10 s ago
        }

        Assert.Empty(h.ReapDeadDomains());
        Assert.Empty(h.ReapDeadDomains(TimeSpan.FromSeconds(30)));
        Assert.Equal([(ushort)6], h.ReapDeadDomains(TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public void Heartbeat_moves_forward()
    {
        Host h = _run.Host;
        Assert.Equal(XenError.Ok, h.CreateDomain(5, 4, 1));
        long before = h.Lookup(5)!.Value.Heartbeat;
        Thread.Sleep(2);
        h.Heartbeat(5);
        Assert.True(h.Lookup(5)!.Value.Heartbeat > before);
        Assert.InRange(h.HeartbeatAge(5)!.Value, 0, 10_000_000_000);
    }

    [Theory]
    [InlineData("1234 (dotnet) S 1 1234 1234 0 -1 4194560 100 0 0 0 5 3 0 0 20 0 20 0 987654 0 0", 987654UL)]
    [InlineData("77 (a) b) (c) R 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 42 0 0", 42UL)]  // comm with spaces and ')'
    [InlineData("77 (zombie) Z 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 42 0 0", null)]
    [InlineData("garbage", null)]
    [InlineData("1 (x) S 1 2", null)]
    public void Proc_stat_start_time_is_field_22(string stat, ulong? expected) =>
        Assert.Equal(expected, ProcessIdentity.ParseStartTime(stat));

    [Fact]
    public void Creating_a_host_over_a_live_one_is_an_error_not_a_reset()
    {
        Assert.Equal(XenError.Ok, _run.Host.CreateDomain(2, 4, 1));
        Assert.Throws<IOException>(() => Host.Create(_run.Path));
        Assert.NotNull(_run.Host.Lookup(2));
    }

    [Fact]
    public void A_region_that_is_not_a_hypervisor_region_is_refused()
    {
        string dir = Path.Combine(Host.DefaultRoot, "tolapai-test-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(dir);
        try
        {
            File.WriteAllBytes(Path.Combine(dir, Host.RegionFileName), new byte[4096]);
            Assert.Throws<InvalidDataException>(() => Host.Open(dir));
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }
}
