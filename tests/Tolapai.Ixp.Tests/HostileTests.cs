using System.Diagnostics;
using System.Globalization;
using Tolapai.Ixp.Backend;
using Tolapai.Xen.Xenbus;
using Xunit.Abstractions;

namespace Tolapai.Ixp.Tests;

/// <summary>A hostile guest process (DESIGN.md §8): error responses or its device closed with a reason; the backend and other guests carry on.</summary>
[Collection("ixp")]
public class HostileTests(ITestOutputHelper output)
{
    /// <summary>Each group of bad requests in its own guest: every request its error status, no byte of the guest written, then a good request still served.</summary>
    [Theory]
    [InlineData("opcodes", "persistent=1")]
    [InlineData("counts", "persistent=1")]
    [InlineData("lengths", "persistent=1")]
    [InlineData("grant-range", "persistent=1")]
    [InlineData("grant-foreign", "persistent=1")]
    [InlineData("grant-foreign", "persistent=0")]
    [InlineData("grant-revoked", "persistent=1")]
    [InlineData("grant-readonly", "persistent=1")]
    [InlineData("grant-readonly", "persistent=0")]
    [InlineData("sessions", "persistent=1")]
    [InlineData("v1", "persistent=0")]
    public async Task Bad_requests_get_error_responses_and_write_nothing(string group, string persistent)
    {
        await using IxpHost h = await IxpHost.StartAsync();
        using GuestProcess g = await h.StartGuestAsync(1, "hostile-requests", "case=" + group, persistent);
        output.WriteLine(await g.ExpectAsync("OK"));
        IxpBackendDevice d = h.Backend.Find(1)!;
        output.WriteLine("last refusal: " + d.LastRefusal);
        Assert.True(d.Refused >= 2, $"{d.Refused} refused");
        Assert.Equal(XenbusState.Connected, d.State);
        await g.FinishAsync();
    }

    [Fact]
    public async Task Rewriting_slots_while_the_backend_reads_them_still_gives_one_response_per_request()
    {
        await using IxpHost h = await IxpHost.StartAsync();
        using GuestProcess g = await h.StartGuestAsync(1, "hostile-rewrite");
        output.WriteLine(await g.ExpectAsync("OK"));
        await g.FinishAsync();
    }

    [Fact]
    public async Task A_bogus_req_prod_closes_that_device_only()
    {
        await using IxpHost h = await IxpHost.StartAsync();
        using GuestProcess good = await h.StartGuestAsync(2, "cpa", "seed=5");
        using GuestProcess bad = await h.StartGuestAsync(1, "hostile-index");
        output.WriteLine(await bad.ExpectAsync("OK"));
        IxpBackendDevice d = h.Backend.Find(1)!;
        await IxpHost.WaitUntilAsync(() => d.ClosedReason is not null, "the device was closed");
        output.WriteLine("closed: " + d.ClosedReason);
        Assert.Contains("bogus req_prod", d.ClosedReason);
        output.WriteLine(await good.ExpectAsync("OK"));
        await good.FinishAsync();
    }

    [Fact]
    public async Task An_event_channel_flood_does_not_stop_another_guest()
    {
        await using IxpHost h = await IxpHost.StartAsync();

        // The flood runs until told to stop, and is told only after the good guest finished: the
        // good guest's whole run lies inside the flood (checked on the shared monotonic clock).
        using GuestProcess flood = await h.StartGuestAsync(1, "hostile-flood");
        await flood.ExpectAsync("FLOODING");
        using GuestProcess good = await h.StartGuestAsync(2, "cpa", "seed=6");
        await good.ExpectAsync("CONNECTED");
        long goodConnected = Stopwatch.GetTimestamp();
        output.WriteLine(await good.ExpectAsync("OK"));
        long goodDone = Stopwatch.GetTimestamp();
        flood.Send("stop");
        string[] f = (await flood.ExpectAsync("OK")).Split(' ');
        output.WriteLine(string.Join(' ', f));
        long notifications = long.Parse(f[1], CultureInfo.InvariantCulture);
        long floodFrom = long.Parse(f[2], CultureInfo.InvariantCulture), floodTo = long.Parse(f[3], CultureInfo.InvariantCulture);
        Assert.True(floodFrom < goodConnected && goodDone < floodTo, $"the flood [{floodFrom}, {floodTo}] did not cover the good guest's run [{goodConnected}, {goodDone}]");
        Assert.True(notifications > 0, "the flood sent nothing");
        Assert.Equal(XenbusState.Connected, h.Backend.Find(1)!.State);
        await good.FinishAsync();
        await flood.FinishAsync();
    }

    [Fact]
    public async Task A_guest_that_never_consumes_responses_only_stalls_itself()
    {
        await using IxpHost h = await IxpHost.StartAsync();
        using GuestProcess stuck = await h.StartGuestAsync(1, "hostile-noconsume");
        output.WriteLine(await stuck.ExpectAsync("OK"));
        using GuestProcess good = await h.StartGuestAsync(2, "cpa", "seed=7");
        output.WriteLine(await good.ExpectAsync("OK"));
        Assert.Equal(XenbusState.Connected, h.Backend.Find(1)!.State);
        await good.FinishAsync();
        await stuck.FinishAsync();
    }
}
