using System.Diagnostics;
using System.Globalization;
using Tolapai.Ixp.Backend;
using Tolapai.Xen.Xenbus;
using Xunit.Abstractions;

namespace Tolapai.Ixp.Tests;

/// <summary>Guests in their own processes, dom0 (xenstored, device, native driver, ixp backend) here.</summary>
[Collection("ixp")]
public class EndToEndTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Protocol_v1_parameter_page_DES_agrees_with_BouncyCastle(bool backendSessions)
    {
        await using IxpHost h = await IxpHost.StartAsync(new IxpBackendOptions { Sessions = backendSessions });
        using GuestProcess g = await h.StartGuestAsync(1, "v1", "sessions=0");
        Assert.Contains("sessions=0", await g.ExpectAsync("CONNECTED"));
        try
        {
            output.WriteLine(await g.ExpectAsync("OK"));
        }
        finally
        {
            output.WriteLine("backend: " + h.Backend.Find(1)?.LastRefusal + " / " + h.Backend.Find(1)?.ClosedReason);
        }

        await g.FinishAsync();
        Assert.Equal(0, h.Backend.PayloadBytesCopied);
        AssertEverySegmentInTheGuestsGrants(h);
    }

    [Fact]
    public async Task Buffers_outside_the_guests_own_pages_are_refused_not_copied()
    {
        await using IxpHost h = await IxpHost.StartAsync();
        using GuestProcess g = await h.StartGuestAsync(1, "foreign", "seed=3");
        output.WriteLine(await g.ExpectAsync("REFUSED"));
        await g.ExpectAsync("OK");
        await g.FinishAsync();
        Assert.Equal(0, h.Backend.PayloadBytesCopied);
        AssertEverySegmentInTheGuestsGrants(h);
    }

    /// <summary>The structural zero-copy check: the device used segments, and every one lay in a frame the backend mapped from the requesting guest's grant.</summary>
    private void AssertEverySegmentInTheGuestsGrants(IxpHost h)
    {
        Device.DeviceCounters c = h.Device.QueryCounters();
        output.WriteLine($"device: {c.Requests} requests, {c.DmaSegments} DMA segments, {c.DmaSegmentsOutsideGrants} outside the guests' grants, {c.BounceBytes} bounce bytes");
        Assert.True(c.DmaSegments > 0, "the device used no segment: nothing was checked");
        Assert.Equal(0, c.DmaSegmentsOutsideGrants);
    }

    [Theory]
    [InlineData("persistent=1", "order=0", "queues=1", "indirect=0")]
    [InlineData("persistent=0", "order=0", "queues=1", "indirect=0")]
    [InlineData("persistent=1", "order=2", "queues=2", "indirect=16")]
    [InlineData("persistent=0", "order=1", "queues=1", "indirect=16")]
    [InlineData("persistent=1", "order=4", "queues=1", "indirect=0")]
    [InlineData("persistent=1", "order=0", "queues=1", "indirect=0", "interrupt=1")]
    public async Task Every_algorithm_through_sessions_agrees_with_BouncyCastle(params string[] options)
    {
        await using IxpHost h = await IxpHost.StartAsync();
        using GuestProcess g = await h.StartGuestAsync(1, "cpa", [.. options, "seed=" + Environment.TickCount]);
        string connected;
        try
        {
            connected = await g.ExpectAsync("CONNECTED");
        }
        finally
        {
            output.WriteLine("backend: " + h.Backend.Find(1)?.LastRefusal + " / " + h.Backend.Find(1)?.ClosedReason);
        }

        output.WriteLine(connected);
        foreach (string o in options.Where(o => !o.StartsWith("interrupt", StringComparison.Ordinal)))
        {
            // What was asked is what was negotiated (the backend offers all of it), indirect capped by the driver.
            Assert.Contains(o.StartsWith("indirect=16", StringComparison.Ordinal) ? "indirect=12" : o, connected);
        }

        output.WriteLine(await g.ExpectAsync("OK"));
        IxpBackendDevice d = h.Backend.Find(1)!;
        Assert.Equal(options[0] == "persistent=1", d.Persistent);
        Assert.Equal(int.Parse(options[2]["queues=".Length..], System.Globalization.CultureInfo.InvariantCulture), d.Queues.Count);
        Assert.Equal(0, h.Backend.PayloadBytesCopied);
        AssertEverySegmentInTheGuestsGrants(h);
        if (d.Persistent)
        {
            Assert.True(d.PersistentGrants > 0);
        }

        await g.FinishAsync();
        await IxpHost.WaitUntilAsync(() => d.State == XenbusState.Closed || d.State == XenbusState.InitWait, "the backend closed the device");
        Assert.Equal(0, d.MappedGrants);
        Assert.Equal(0, d.Sessions);
    }

    [Fact]
    public async Task Indirect_requests_with_many_segments_on_a_device_that_takes_them()
    {
        // The device takes 96 segments per request, the backend advertises them, the frontend
        // asks for 96: 48 + 48 and 96 in place, in indirect pages.
        await using IxpHost h = await IxpHost.StartAsync(new IxpBackendOptions { MaxIndirectSegments = 96 }, new Device.DeviceOptions { MaxSegments = 96 });
        Assert.Equal(96, h.Backend.Features.MaxIndirectSegments);
        using GuestProcess g = await h.StartGuestAsync(1, "cpa", "indirect=96", "persistent=0", "seed=9");
        Assert.Contains("indirect=96", await g.ExpectAsync("CONNECTED"));
        output.WriteLine(await g.ExpectAsync("OK"));
        await g.FinishAsync();
        Assert.Equal(0, h.Backend.PayloadBytesCopied);
        Assert.True(h.Backend.ControlBytesCopied > 0, "indirect segment descriptors are control bytes the backend copied");
        AssertEverySegmentInTheGuestsGrants(h);
    }

    [Fact]
    public async Task The_CPA_sample_runs_unchanged_on_the_split_binding()
    {
        await using IxpHost h = await IxpHost.StartAsync();
        using GuestProcess g = await h.StartGuestAsync(1, "sample", "order=2", "depth=64", "ops=2000");
        output.WriteLine(await g.ExpectAsync("SIZE 64"));
        output.WriteLine(await g.ExpectAsync("SIZE 1024"));
        output.WriteLine(await g.ExpectAsync("SIZE 4096"));
        await g.ExpectAsync("OK");
        await g.FinishAsync();
        Assert.Equal(0, h.Backend.PayloadBytesCopied);
        Assert.Equal(0, h.Device.QueryCounters().BounceBytes);
        AssertEverySegmentInTheGuestsGrants(h);
    }

    [Fact]
    public async Task Two_guests_at_once_both_agree_with_BouncyCastle()
    {
        await using IxpHost h = await IxpHost.StartAsync();
        using GuestProcess a = await h.StartGuestAsync(1, "cpa", "seed=1");
        using GuestProcess b = await h.StartGuestAsync(2, "cpa", "seed=2", "persistent=0");
        output.WriteLine(await a.ExpectAsync("OK"));
        output.WriteLine(await b.ExpectAsync("OK"));
        await a.FinishAsync();
        await b.FinishAsync();
    }

    /// <summary>Completions each guest must reach after the shared start before both are stopped.</summary>
    private const int FairnessTarget = 2000;

    [Fact]
    public async Task Two_busy_guests_share_the_device_fairly()
    {
        await using IxpHost h = await IxpHost.StartAsync();
        using GuestProcess a = await h.StartGuestAsync(1, "window", "depth=64", "every=500");
        using GuestProcess b = await h.StartGuestAsync(2, "window", "depth=64", "every=500");

        // A shared barrier: both connected and warmed up, then both started; both run until each
        // has done FairnessTarget operations (so the slower one decides the length, and a guest
        // starved outright never gets there and fails the wait), then both are stopped.
        await a.ExpectAsync("READY");
        await b.ExpectAsync("READY");
        a.Send("start");
        b.Send("start");
        await a.ExpectAsync($"COUNT {FairnessTarget}");
        await b.ExpectAsync($"COUNT {FairnessTarget}");
        a.Send("stop");
        b.Send("stop");
        GuestWindow wa = await GuestWindow.ReadAsync(a), wb = await GuestWindow.ReadAsync(b);
        Assert.Equal(0, wa.Errors + wb.Errors);

        // Compare only what each did while both were running (the same monotonic clock in both).
        long from = Math.Max(wa.Start, wb.Start), to = Math.Min(wa.End, wb.End);
        Assert.True(from < to, $"the guests' windows did not overlap: [{wa.Start}, {wa.End}] and [{wb.Start}, {wb.End}]");
        long opsA = wa.CompletedBetween(from, to), opsB = wb.CompletedBetween(from, to);
        output.WriteLine($"common window {(to - from) * 1000.0 / Stopwatch.Frequency:F0} ms: guest 1 {opsA} ops (of {wa.Operations}), guest 2 {opsB} ops (of {wb.Operations}); backend worker parks: {h.Backend.Parks}, device parks {h.Device.QueryCounters().Parks}");
        Assert.True(opsA > 0 && opsB > 0, $"a guest did nothing while both ran: {opsA} vs {opsB}");

        // Same requests, same depth, one device whose pollers take the guests' queues in turn:
        // a fair share is 1. The bar is half: neither guest may get less than half of what the
        // other got in the same window. A backend that served one queue until it drained, or
        // favoured the first-connected guest, lands far below; scheduling noise from a loaded
        // two-core machine (both guests' threads compete for the same cores, so load hits both
        // alike) over thousands of operations does not.
        double ratio = (double)Math.Min(opsA, opsB) / Math.Max(opsA, opsB);
        Assert.True(ratio >= 0.5, $"unfair: {opsA} vs {opsB} operations in the common window (ratio {ratio:F2} < 0.5)");
        await a.FinishAsync();
        await b.FinishAsync();
    }

    /// <summary>A window guest's report: first submission, stop seen, and (time, completions) samples.</summary>
    private sealed record GuestWindow(long Start, long End, long Operations, long Errors, (long Time, long Count)[] Samples)
    {
        public static async Task<GuestWindow> ReadAsync(GuestProcess g)
        {
            string[] w = (await g.ExpectAsync("WINDOW ")).Split(' ');
            string samples = (await g.ExpectAsync("SAMPLES "))["SAMPLES ".Length..];
            (long, long)[] s = [.. samples.Split(',').Select(p => p.Split(':')).Select(p => (long.Parse(p[0], CultureInfo.InvariantCulture), long.Parse(p[1], CultureInfo.InvariantCulture)))];
            return new GuestWindow(long.Parse(w[1], CultureInfo.InvariantCulture), long.Parse(w[2], CultureInfo.InvariantCulture), long.Parse(w[3], CultureInfo.InvariantCulture), long.Parse(w[4], CultureInfo.InvariantCulture), s);
        }

        /// <summary>Completions in [from, to], from the last sample at or before each end (the samples are a few ms apart).</summary>
        public long CompletedBetween(long from, long to) => At(to) - At(from);

        private long At(long time)
        {
            long count = 0;
            foreach ((long t, long c) in Samples)
            {
                if (t > time)
                {
                    break;
                }

                count = c;
            }

            return count;
        }
    }

    [Fact]
    public async Task A_guest_killed_mid_request_is_cleaned_up_and_a_new_guest_connects()
    {
        await using IxpHost h = await IxpHost.StartAsync();
        int baseFrames = h.Device.Dma.RegisteredFrames;
        GuestProcess g = await h.StartGuestAsync(1, "hold");
        output.WriteLine(await g.ExpectAsync("HELD"));
        IxpBackendDevice d = h.Backend.Find(1)!;
        Assert.True(d.Sessions > 0);
        await g.KillAsync();
        g.Dispose();
        await IxpHost.WaitUntilAsync(() => d.State == XenbusState.Closed, "the device reached Closed");
        output.WriteLine("closed: " + d.ClosedReason);
        Assert.Contains("died", d.ClosedReason);
        Assert.Equal(0, d.MappedGrants);
        Assert.Equal(0, d.Sessions);
        Assert.Equal(0, d.PersistentGrants);
        Assert.Equal(baseFrames, h.Device.Dma.RegisteredFrames);
        Assert.Equal(0, h.Backend.MapperMappings);

        await h.DestroyGuestAsync(1);
        using GuestProcess next = await h.StartGuestAsync(1, "cpa", "seed=3");
        try
        {
            output.WriteLine(await next.ExpectAsync("OK"));
        }
        finally
        {
            IxpBackendDevice? d2 = h.Backend.Find(1);
            output.WriteLine($"new device: same={ReferenceEquals(d, d2)} state={d2?.State} closed={d2?.ClosedReason} refused={d2?.LastRefusal}");
        }

        await next.FinishAsync();
    }

    [Fact]
    public async Task Requests_in_flight_when_the_backend_closes_complete_with_an_error()
    {
        // max-requests 0 (a paused backend): the guest's sixteen wait in its ring when dom0's backend stops.
        await using IxpHost h = await IxpHost.StartAsync(new IxpBackendOptions { MaxRequestsPerGuest = 0 });
        using GuestProcess g = await h.StartGuestAsync(1, "orphan");
        await g.ExpectAsync("SUBMITTED");
        await h.Backend.DisposeAsync();
        g.Send("poll");
        string done = await g.ExpectAsync("DONE");
        output.WriteLine(done);
        Assert.Matches(@"DONE ok=\d+ failed=\d+", done);
        int ok = int.Parse(done.Split(' ')[1][3..], System.Globalization.CultureInfo.InvariantCulture);
        int failed = int.Parse(done.Split(' ')[2][7..], System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(0, ok);
        Assert.Equal(16, failed);
    }

    [Fact]
    public async Task Split_and_native_throughput_at_4096_bytes_3DES_CBC_and_zero_payload_copies()
    {
        await using IxpHost h = await IxpHost.StartAsync();
        Assert.Equal(Cpa.CpaStatus.Success, Cpa.Native.NativeCyInstance.Create(h.Device, Cpa.CompletionMode.Polling, out Cpa.Native.NativeCyInstance? native));
        using (native)
        {
            IxpThroughputResult n = IxpThroughput.Run(native!, TimeSpan.FromMilliseconds(400), depth: 64, size: 4096, warmup: TimeSpan.FromMilliseconds(400));
            IxpThroughputResult n1 = IxpThroughput.Run(native!, TimeSpan.FromMilliseconds(200), depth: 1, size: 64, warmup: TimeSpan.FromMilliseconds(200));
            // The guest warms up, says WARM and waits: the window on dom0's threads opens there
            // (each thread reads its own count when asked), and closes after the guest's last
            // completion. The guest measures its own thread over the same run.
            using GuestProcess g = await h.StartGuestAsync(1, "load", "ms=400", "depth=64", "size=4096", "order=2", "warmup=400", "hold=1");
            await g.ExpectAsync("WARM");
            long[] workersBefore = h.Backend.SampleWorkerAllocatedBytes(), enginesBefore = h.Device.SampleEngineAllocatedBytes();
            long responsesBefore = h.Backend.ResponsesWritten;
            g.Send("run");
            string split = await g.ExpectAsync("OPS");
            long[] workersAfter = h.Backend.SampleWorkerAllocatedBytes(), enginesAfter = h.Device.SampleEngineAllocatedBytes();
            long responses = h.Backend.ResponsesWritten - responsesBefore;
            await g.FinishAsync();
            output.WriteLine($"in the window ({responses} responses): guest {split.Split(' ')[4]} B; backend workers {string.Join(", ", workersAfter.Zip(workersBefore, (a, b) => a - b))} B; engines {string.Join(", ", enginesAfter.Zip(enginesBefore, (a, b) => a - b))} B; native run on this thread {n.AllocatedBytes} B");
            Assert.True(responses >= long.Parse(split.Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture), $"the window saw {responses} responses, fewer than the guest's {split}");
            Assert.Equal("0", split.Split(' ')[4]);
            Assert.Equal(workersBefore, workersAfter);
            Assert.Equal(enginesBefore, enginesAfter);
            Assert.Equal(0, n.AllocatedBytes);
            using GuestProcess g1 = await h.StartGuestAsync(2, "load", "ms=200", "depth=1", "size=64", "warmup=200");
            await g1.ExpectAsync("CONNECTED");
            long parksBefore = h.Backend.Parks;
            string split1 = await g1.ExpectAsync("OPS");
            output.WriteLine($"backend parks during the depth-1 run: {h.Backend.Parks - parksBefore}; device parks {h.Device.QueryCounters().Parks}");
            IxpBackendQueue q1 = h.Backend.Find(2)!.Queues[0];
            output.WriteLine($"depth-1 queue: served {q1.Served}, parks {q1.Parks}, notifies to the guest {q1.Notifies}");
            await g1.FinishAsync();
            double splitOps = double.Parse(split.Split(' ')[2], System.Globalization.CultureInfo.InvariantCulture);
            double split1Ops = double.Parse(split1.Split(' ')[2], System.Globalization.CultureInfo.InvariantCulture);
            output.WriteLine($"4096 B 3DES-CBC depth 64: native {n.OpsPerSecond:F0} ops/s ({n.Mbps:F0} Mbit/s), split {splitOps:F0} ops/s ({splitOps * 4096 * 8 / 1e6:F0} Mbit/s), split/native = {splitOps / n.OpsPerSecond:F2}");
            output.WriteLine($"64 B depth 1: native {1e6 / n1.OpsPerSecond:F1} us/op, split {1e6 / split1Ops:F1} us/op (mean round trip)");
            output.WriteLine($"guest: {split} (ops, ops/s, errors, B allocated)");
            output.WriteLine($"payload bytes copied: backend {h.Backend.PayloadBytesCopied}; control bytes copied {h.Backend.ControlBytesCopied}");
            Assert.Equal(0, n.Errors);
            Assert.Equal("0", split.Split(' ')[3]);
            Assert.Equal(0, h.Backend.PayloadBytesCopied);
            AssertEverySegmentInTheGuestsGrants(h);
        }
    }

    [Fact]
    public async Task The_backend_allocation_window_catches_a_backend_that_allocates_per_request()
    {
        // Positive control for the zero above: the same window, on a backend in a child process
        // with the alloc-backend fault (one object per response), must see the bytes.
        await using IxpHost h = await IxpHost.StartAsync(inProcessBackend: false);
        using GuestProcess backend = await GuestProcess.StartBackend(h, "alloc-backend");
        using GuestProcess g = await h.StartGuestAsync(1, "load", "ms=200", "depth=16", "size=512", "warmup=100", "hold=1");
        await g.ExpectAsync("WARM");
        backend.Send("sample");
        string before = await backend.ExpectAsync("ALLOC");
        g.Send("run");
        string ops = await g.ExpectAsync("OPS");
        backend.Send("sample");
        string after = await backend.ExpectAsync("ALLOC");
        output.WriteLine($"guest {ops}; backend before {before}, after {after}");
        long[] b = [.. before.Split(' ')[1].Split(',').Select(x => long.Parse(x, System.Globalization.CultureInfo.InvariantCulture))];
        long[] a = [.. after.Split(' ')[1].Split(',').Select(x => long.Parse(x, System.Globalization.CultureInfo.InvariantCulture))];
        long responses = long.Parse(after.Split(' ')[2], System.Globalization.CultureInfo.InvariantCulture) - long.Parse(before.Split(' ')[2], System.Globalization.CultureInfo.InvariantCulture);
        long allocated = a.Sum() - b.Sum();
        Assert.True(responses > 0, "no responses in the window");

        // At least one object header and method table pointer (16 B on x64) per response.
        Assert.True(allocated >= 16 * responses, $"the backend workers allocated {allocated} B over {responses} responses with alloc-backend set");
        Assert.Equal("0", ops.Split(' ')[4]); // the guest's thread is not the one at fault
        await g.FinishAsync();
        backend.Send("bye");
    }
}

/// <summary>The ixp tests share the machine's 2 cores: one at a time.</summary>
[CollectionDefinition("ixp", DisableParallelization = true)]
public class IxpCollection
{
}
