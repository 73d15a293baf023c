using Tolapai.Cpa.Sample;
using Tolapai.Cpa.Software;

namespace Tolapai.Cpa.Tests;

/// <summary><see cref="CipherPerfOptions.Stop"/>: a workload held by its caller ends when told, with what it did verified.</summary>
public sealed class CipherPerfStopTests
{
    [Fact]
    public void A_stopped_run_drains_what_is_in_flight_reports_it_verified_and_skips_the_later_sizes()
    {
        using var sw = new SoftwareCyInstance(CompletionMode.Polling);
        using var stop = new CancellationTokenSource();
        stop.Cancel(); // stopped before it began: the first size still runs (at least one operation), the rest do not

        CipherPerfReport report = CipherPerf.Run(sw, new CipherPerfOptions { Sizes = [64, 128, 256], Ops = 100_000_000, Depth = 8, WarmupOps = 4, Stop = stop.Token });

        CipherPerfResult only = Assert.Single(report.Results);
        Assert.Equal(64, only.Size);
        Assert.InRange(only.Ops, 1, 8); // one submission round at most: the stop is seen before the next
        Assert.True(only.Verified, $"not verified: {only.Failures} failures, {only.Mismatches} mismatches, {only.Lost} lost");
        Assert.Equal(0, only.Lost);
    }

    [Fact]
    public void A_run_stopped_from_another_thread_ends_and_one_never_stopped_runs_its_count()
    {
        using var sw = new SoftwareCyInstance(CompletionMode.Polling);
        using var stop = new CancellationTokenSource();
        CipherPerfReport? held = null;
        var run = new Thread(() => held = CipherPerf.Run(sw, new CipherPerfOptions { Sizes = [64], Ops = 100_000_000, Depth = 8, WarmupOps = 0, Stop = stop.Token }));
        run.Start();
        stop.Cancel();
        Assert.True(run.Join(TimeSpan.FromSeconds(60)), "the held run did not end when stopped");
        Assert.True(held!.Results[0].Verified);
        Assert.InRange(held.Results[0].Ops, 1, 99_999_999);

        // Without a stop the count alone ends it, exactly.
        CipherPerfReport counted = CipherPerf.Run(sw, new CipherPerfOptions { Sizes = [64], Ops = 500, Depth = 8, WarmupOps = 0 });
        Assert.Equal(500, counted.Results[0].Ops);
    }
}
