using System.Diagnostics;
using System.Numerics;

namespace Tolapai.Ixp.Backend;

/// <summary>
/// One backend worker's busy time: the wall-clock ticks of its passes that did work, and a
/// histogram of what each item of work (a request taken, or one answered) cost in its pass.
/// Written by the worker thread only, without locks or allocation: each counter is a plain add
/// published with a release store (<see cref="Volatile.Write(ref long, long)"/>); readers on other
/// threads use acquire loads. A pass the OS preempted counts the preemption in the total, which
/// on a loaded machine can double it; the histogram's median is not moved by the few preempted
/// passes, so it is what a gate can compare across runs.
/// </summary>
internal sealed class BusyTime
{
    /// <summary>Sub-buckets per power of two: each bucket is at most 1/8 (12.5 %) wide.</summary>
    private const int SubBits = 3;

    /// <summary>Buckets: values below 2^SubBits each have their own, then 2^SubBits per power of two up to 2^63.</summary>
    public const int Buckets = (64 - SubBits + 1) << SubBits;

    private static readonly double NanosecondsPerTick = 1e9 / Stopwatch.Frequency;

    private readonly long[] _items = new long[Buckets]; // items of work by their pass's ns per item
    private long _ticks;
    private long _passes;
    private long _workItems;

    /// <summary>Ticks of the passes that did work.</summary>
    public long Ticks => Volatile.Read(ref _ticks);

    /// <summary>Passes counted.</summary>
    public long Passes => Volatile.Read(ref _passes);

    /// <summary>Items of work in those passes (requests taken plus requests answered).</summary>
    public long WorkItems => Volatile.Read(ref _workItems);

    /// <summary>The worker's pass, <paramref name="ticks"/> long, did <paramref name="work"/> items (0: it only had completions delivered). Worker thread only.</summary>
    public void Add(long ticks, int work)
    {
        Volatile.Write(ref _ticks, _ticks + ticks);
        Volatile.Write(ref _passes, _passes + 1);
        if (work <= 0)
        {
            return;
        }

        Volatile.Write(ref _workItems, _workItems + work);
        long perItem = (long)(ticks * NanosecondsPerTick / work);
        ref long bucket = ref _items[Bucket(perItem)];
        Volatile.Write(ref bucket, bucket + work);
    }

    /// <summary>Adds this worker's histogram into <paramref name="into"/> (length <see cref="Buckets"/>).</summary>
    public void AddHistogramTo(long[] into)
    {
        for (int i = 0; i < Buckets; i++)
        {
            into[i] += Volatile.Read(ref _items[i]);
        }
    }

    /// <summary>The median ns per item of work of a histogram (a bucket's midpoint); 0 when it is empty.</summary>
    public static double Median(long[] histogram)
    {
        long total = 0;
        foreach (long n in histogram)
        {
            total += n;
        }

        if (total == 0)
        {
            return 0;
        }

        long seen = 0;
        for (int i = 0; i < histogram.Length; i++)
        {
            seen += histogram[i];
            if (seen * 2 >= total)
            {
                (long low, long high) = Range(i);
                return ((double)low + high + 1) / 2;
            }
        }

        return 0;
    }

    /// <summary>The bucket of a value: exact below 2^SubBits, then 2^SubBits sub-buckets per power of two.</summary>
    internal static int Bucket(long value)
    {
        if (value < (1 << SubBits))
        {
            return (int)Math.Max(0, value);
        }

        int exponent = 63 - BitOperations.LeadingZeroCount((ulong)value); // ≥ SubBits
        int sub = (int)(value >> (exponent - SubBits)) & ((1 << SubBits) - 1);
        return ((exponent - SubBits + 1) << SubBits) + sub;
    }

    /// <summary>The values a bucket holds, both ends inclusive (the top bucket ends at <see cref="long.MaxValue"/>).</summary>
    internal static (long Low, long High) Range(int bucket)
    {
        if (bucket < (1 << SubBits))
        {
            return (bucket, bucket);
        }

        int exponent = (bucket >> SubBits) + SubBits - 1;
        long sub = bucket & ((1 << SubBits) - 1);
        long step = 1L << (exponent - SubBits);
        long low = (1L << exponent) + (sub * step);
        return (low, low + (step - 1));
    }
}
