using System.Diagnostics;
using Tolapai.Ixp.Backend;

namespace Tolapai.Ixp.Tests;

public sealed class BusyTimeTests
{
    [Fact]
    public void Every_value_falls_in_the_bucket_whose_range_holds_it_and_buckets_are_at_most_an_eighth_wide()
    {
        var random = new Random(13);
        long[] values = [0, 1, 7, 8, 9, 15, 16, 17, 1000, 1023, 1024, 123_456_789, long.MaxValue];
        foreach (long v in values.Concat(Enumerable.Range(0, 10_000).Select(_ => random.NextInt64(0, long.MaxValue) >> random.Next(0, 62))))
        {
            int b = BusyTime.Bucket(v);
            Assert.InRange(b, 0, BusyTime.Buckets - 1);
            (long low, long high) = BusyTime.Range(b);
            Assert.True(v >= low && v <= high, $"value {v} in bucket {b} [{low}, {high}] (seed 13)");
            Assert.True(b < 8 || (high - low + 1) * 8 <= low, $"bucket {b} [{low}, {high}] wider than 1/8");
            Assert.Equal(b, BusyTime.Bucket(low));
            Assert.Equal(b, BusyTime.Bucket(high));
        }
    }

    [Fact]
    public void A_few_preempted_passes_raise_the_total_but_not_the_median()
    {
        var busy = new BusyTime();
        long tick = Stopwatch.Frequency / 1_000_000; // 1 µs
        for (int i = 0; i < 999; i++)
        {
            busy.Add(4 * tick, work: 4); // 1 µs per item
        }

        busy.Add(2000 * tick, work: 4); // preempted for 2 ms
        busy.Add(3 * tick, work: 0); // completions delivered only: time, no items

        long[] histogram = new long[BusyTime.Buckets];
        busy.AddHistogramTo(histogram);
        Assert.Equal(1001, busy.Passes);
        Assert.Equal(4000, busy.WorkItems);
        Assert.Equal((999 * 4) + 2000 + 3, busy.Ticks / tick);
        Assert.InRange(BusyTime.Median(histogram), 1000 * 0.875, 1000 * 1.125);
        Assert.Equal(0, BusyTime.Median(new long[BusyTime.Buckets]));
    }
}
