using System.Globalization;
using Tolapai.Xen.EventChannel;
using Tolapai.Xen.GrantTable;
using Tolapai.Xen.Hypervisor;
using Tolapai.Xen.Memory;
using Tolapai.Xen.Ring;
using Tolapai.Xen.TestChild;
using Xunit.Abstractions;

namespace Tolapai.Xen.Tests;

/// <summary>Real child processes: rings across processes, parking, grant races, hostile guests, SIGKILL.</summary>
[Collection(MultiProcessCollection.Name)] // one at a time: the machine has two cores
public sealed class MultiProcessTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Ready = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan Run = TimeSpan.FromSeconds(240);

    private static string S(long v) => v.ToString(CultureInfo.InvariantCulture);

    private (string[] Front, string[] Back) RunRing(long count, int spin, int pauseOneIn, uint ringPages, uint startIndex = 0, int maxInFlight = int.MaxValue)
    {
        using TestRunDirectory run = new();
        int seed = Seeds.Next();
        string ctx = $"seed {seed} (TOLAPAI_SEED={seed} reproduces), count {count}, spin {spin}, pause 1/{pauseOneIn}, pages {ringPages}, start {startIndex}";
        output.WriteLine(ctx);
        using Child front = new("front", run.Path, "1", "0", S(count), S(seed), S(spin), S(pauseOneIn), S(ringPages), S(startIndex), S(maxInFlight));
        string[] ready = front.WaitFor("READY ", Ready);
        using Child back = new("back", run.Path, "0", "1", ready[0], ready[1], S(count), S(seed), S(spin), S(pauseOneIn));
        int backExit = back.Exit(Run);
        int frontExit = front.Exit(Run);
        output.WriteLine("front: " + front.Output);
        output.WriteLine("back: " + back.Output);
        Assert.True(frontExit == 0 && backExit == 0, $"{ctx}\nfront ({frontExit}):\n{front.Output}\nback ({backExit}):\n{back.Output}");
        string[] f = front.WaitFor("DONE ", Ready);
        string[] b = back.WaitFor("DONE ", Ready);
        Assert.Equal(count, Child.Value(f, "received"));
        Assert.Equal(count, Child.Value(b, "handled"));
        return (f, b);
    }

    [Fact]
    public void Checksummed_entries_through_a_ring_both_ways_with_random_pauses()
    {
        long count = Seeds.Stress ? 5_000_000 : 200_000;
        RunRing(count, spin: 2000, pauseOneIn: 64, ringPages: 1);
    }

    [Fact]
    public void Multi_page_ring_in_scattered_frames_starting_just_below_the_u32_wrap()
    {
        long count = Seeds.Stress ? 2_000_000 : 100_000;
        RunRing(count, spin: 2000, pauseOneIn: 256, ringPages: 4, startIndex: uint.MaxValue - 15);
    }

    [Fact]
    public void Parked_consumer_is_woken_every_time()
    {
        // Spin budget 0 and one request in flight: the backend runs dry after every request and
        // parks on the futex, so every request must wake it; a lost wake-up shows as a 20 s
        // timeout and FAIL in the child.
        long count = Seeds.Stress ? 50_000 : 2_000;
        var (f, b) = RunRing(count, spin: 0, pauseOneIn: 4, ringPages: 1, maxInFlight: 1);
        long parks = Child.Value(b, "parks");
        Assert.True(parks > count / 4, $"the backend parked only {parks} times for {count} requests: the test did not test parking");
        Assert.True(Child.Value(b, "wakes") > count / 4, "parked backend was not woken by FUTEX_WAKE");
        Assert.True(Child.Value(f, "parks") > 0);
    }

    [Fact]
    public void Revoke_against_map_from_two_processes_never_touches_a_revoked_page()
    {
        using TestRunDirectory run = new();
        int seed = Seeds.Next();
        int rounds = Seeds.Stress ? 200_000 : 5_000;
        using Child mapper = new("grant-mapper", run.Path, "0", "1");
        mapper.WaitFor("READY", Ready);
        using Child guest = new("grant-guest", run.Path, "1", "0", S(rounds), S(seed));
        int g = guest.Exit(Run);
        int m = mapper.Exit(Run);
        output.WriteLine($"seed {seed}\nguest: {guest.Output}\nmapper: {mapper.Output}");
        Assert.True(g == 0 && m == 0, $"seed {seed}\nguest ({g}):\n{guest.Output}\nmapper ({m}):\n{mapper.Output}");
        string[] gd = guest.WaitFor("DONE ", Ready);
        string[] md = mapper.WaitFor("DONE ", Ready);
        Assert.True(Child.Value(md, "mapped") > 0, $"seed {seed}: the mapper never won a race: {mapper.Output}");
        Assert.Equal(rounds, Child.Value(gd, "rounds"));
    }

    [Fact]
    public unsafe void Hostile_guest_gets_errors_and_other_connections_go_on()
    {
        using TestRunDirectory run = new();
        Host host = run.Host;
        Assert.Equal(XenError.Ok, host.CreateDomain(0, 2, 1));
        int seed = Seeds.Next();
        using Child guest = new("hostile", run.Path, "1", "0", S(seed));
        guest.WaitFor("READY", Ready);
        GrantMapper mapper = new(host, 0);

        // Broken grants: each an error status, no exception, no mapping left behind.
        Assert.Equal(GrantStatus.GeneralError, mapper.Map(1, OtherRoles.ForeignRef, true, out _));
        Assert.Equal(GrantStatus.GeneralError, mapper.Map(1, OtherRoles.ReadOnlyRef, false, out _));
        Assert.Equal(GrantStatus.BadPage, mapper.Map(1, OtherRoles.BadFrameRef, false, out _));
        Assert.Equal(GrantStatus.BadPage, mapper.Map(1, OtherRoles.GrantTableFrameRef, false, out _));
        Assert.Equal(GrantStatus.GeneralError, mapper.Map(1, OtherRoles.RevokedRef, false, out _));
        Assert.Equal(GrantStatus.GeneralError, mapper.Map(1, OtherRoles.TransferRef, false, out _));
        Assert.Equal(GrantStatus.BadGntref, mapper.Map(1, 4096, false, out _));
        Assert.Equal(GrantStatus.BadDomain, mapper.Map(5, 8, false, out _));
        Assert.Equal(0, mapper.ActiveMappings);

        // The ring with a bogus req_prod stops; the good ring of the same guest still works.
        Assert.Equal(GrantStatus.Okay, mapper.Map(1, OtherRoles.HostileRing, false, out GrantMapping bad));
        BackRing<TestRequest, TestResponse> badRing = new(bad.Address, GuestMemory.PageSize);
        Assert.Equal(RingStatus.Overflow, badRing.TryTakeRequest(out _));
        Assert.True(badRing.IsStopped);
        Assert.Equal(10_000u, badRing.BogusRequestProducer);
        Assert.Equal(GrantStatus.Okay, mapper.Map(1, OtherRoles.GoodRing, false, out GrantMapping good));
        BackRing<TestRequest, TestResponse> goodRing = new(good.Address, GuestMemory.PageSize);
        Assert.Equal(RingStatus.Ok, goodRing.TryTakeRequest(out TestRequest r0));
        Assert.Equal(RingStatus.Ok, goodRing.TryTakeRequest(out TestRequest r1));
        Assert.True(r0.IsIntact() && r1.IsIntact() && r1.Seq == 1);
        Assert.Equal(RingStatus.Empty, goodRing.TryTakeRequest(out _));

        // A ring the guest keeps scribbling on from its process: the backend gets statuses only,
        // re-attaching after each stop, and never reads outside the mapped page (it would crash).
        Assert.Equal(GrantStatus.Okay, mapper.Map(1, OtherRoles.ScribbleRing, false, out GrantMapping scribble));
        // At least 1.5 s (20 s under stress), and on a loaded machine until the scribbler has
        // produced at least one stop (at most 60 s).
        long start = Environment.TickCount64, taken = 0, stops = 0, minimum = Seeds.Stress ? 20_000 : 1_500;
        BackRing<TestRequest, TestResponse> ring = new(scribble.Address, GuestMemory.PageSize);
        while (Environment.TickCount64 - start is var elapsed && (elapsed < minimum || (stops == 0 && elapsed < 60_000)))
        {
            RingStatus s = ring.TryTakeRequest(out TestRequest req);
            if (s == RingStatus.Ok)
            {
                taken++;
                _ = req.IsIntact(); // validate the copy only
                ring.TryWriteResponse(TestResponse.For(req, req.IsIntact() ? 0 : -1));
                ring.PushResponsesAndCheckNotify();
            }
            else if (s == RingStatus.Overflow)
            {
                stops++;
                ring = new BackRing<TestRequest, TestResponse>(scribble.Address, GuestMemory.PageSize);
            }
            else
            {
                _ = ring.FinalCheckForRequests();
            }
        }

        guest.CloseInput();
        Assert.Equal(0, guest.Exit(Run));
        output.WriteLine($"seed {seed}: scribbled ring: {taken} requests taken, {stops} stops; guest: {guest.Output}");
        Assert.True(stops > 0, $"seed {seed}: the scribbler never produced a bogus req_prod");
        Assert.Equal(GrantStatus.Okay, mapper.Unmap(bad));
        Assert.Equal(GrantStatus.Okay, mapper.Unmap(good));
        Assert.Equal(GrantStatus.Okay, mapper.Unmap(scribble));
    }

    [Fact]
    public void A_killed_backend_s_pins_are_released_so_the_guest_can_revoke()
    {
        using TestRunDirectory run = new();
        Host host = run.Host;
        Assert.Equal(XenError.Ok, host.CreateDomain(1, 4, 1));
        GuestMemory mem = host.MapGuestMemory(1)!;
        GrantTableFrontend gnt = new(mem);
        Assert.Equal(GrantStatus.Okay, gnt.GrantForeignAccess(0, mem.FirstDataFrame, readOnly: false, out uint gref));
        using Child backend = new("grant-holder", run.Path, "0", "1", S(gref));
        backend.WaitFor("READY", Ready);
        Assert.Equal(1, mem.Page(mem.FirstDataFrame)[0]); // the backend wrote through its mapping
        Assert.False(gnt.EndForeignAccessRef(gref));      // mapped: revoke refused

        backend.Kill();
        Assert.False(gnt.EndForeignAccessRef(gref));      // still pinned until the death is noticed
        Assert.Equal([(ushort)0], host.ReapDeadDomains());
        Assert.True(gnt.EndForeignAccessRef(gref));       // pins released with the dead domain
    }

    [Fact]
    public void A_process_killed_with_SIGKILL_is_seen_dead_and_its_domain_reaped()
    {
        using TestRunDirectory run = new();
        Host host = run.Host;
        Assert.Equal(XenError.Ok, host.CreateDomain(0, 2, 1));
        using Child sleeper = new("sleeper", run.Path, "3");
        uint guestPort = uint.Parse(sleeper.WaitFor("READY ", Ready)[0], CultureInfo.InvariantCulture);
        Assert.Equal(XenError.Ok, host.BindInterdomain(0, 3, guestPort, out uint port));
        Assert.True(host.IsAlive(3));
        Assert.Equal(sleeper.Pid, host.Lookup(3)!.Value.Pid);
        Assert.Empty(host.ReapDeadDomains());

        sleeper.Kill(); // SIGKILL: no chance to clean up
        Assert.False(host.IsAlive(3));
        Assert.Equal(DomainState.Running, host.Lookup(3)!.Value.State); // the table still says running ...
        Assert.Equal([(ushort)3], host.ReapDeadDomains());              // ... until reaped
        Assert.Null(host.Lookup(3));
        Assert.False(File.Exists(host.MemoryPath(3)));
        Assert.Equal(EventChannelState.Unbound, host.OpenPort(0, port).State);
        Assert.True(host.IsAlive(0)); // the rest of the host goes on
    }
}
