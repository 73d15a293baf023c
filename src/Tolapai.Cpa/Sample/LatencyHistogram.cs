namespace Tolapai.Cpa.Sample;

/// <summary>
/// A log-linear latency histogram (as HdrHistogram): 64 sub-buckets per power of two, so a
/// recorded value is within 1/64 (1.6 %) of the value reported; all buckets allocated up
/// front, recording allocates nothing. Single writer.
/// </summary>
public sealed class LatencyHistogram
{
    private const int SubBits = 6;
    private const int Sub = 1 << SubBits;
    private readonly long[] _counts = new long[(64 - SubBits + 1) * Sub];
    private long _max;

    /// <summary>Values recorded.</summary>
    public long Count { get; private set; }

    /// <summary>Largest value recorded (exact).</summary>
    public long Max => _max;

    /// <summary>Records one value (negative counts as 0).</summary>
    public void Record(long value)
    {
        if (value < 0)
        {
            value = 0;
        }

        _counts[Index(value)]++;
        Count++;
        if (value > _max)
        {
            _max = value;
        }
    }

    /// <summary>Forgets everything.</summary>
    public void Clear()
    {
        Array.Clear(_counts);
        Count = 0;
        _max = 0;
    }

    /// <summary>The value at or below which <paramref name="percentile"/> % of values lie (upper edge of its bucket, capped at <see cref="Max"/>).</summary>
    public long Percentile(double percentile)
    {
        if (Count == 0)
        {
            return 0;
        }

        long rank = (long)Math.Ceiling(percentile / 100.0 * Count);
        rank = Math.Clamp(rank, 1, Count);
        long seen = 0;
        for (int i = 0; i < _counts.Length; i++)
        {
            seen += _counts[i];
            if (seen >= rank)
            {
                return Math.Min(UpperEdge(i), _max);
            }
        }

        return _max;
    }

    private static int Index(long v)
    {
        if (v < Sub)
        {
            return (int)v;
        }

        int msb = 63 - System.Numerics.BitOperations.LeadingZeroCount((ulong)v);
        int shift = msb - SubBits;
        return ((shift + 1) * Sub) + (int)((v >> shift) & (Sub - 1));
    }

    private static long UpperEdge(int index)
    {
        if (index < Sub)
        {
            return index;
        }

        int shift = (index / Sub) - 1;
        long sub = index % Sub;
        return ((Sub + sub + 1) << shift) - 1;
    }
}
