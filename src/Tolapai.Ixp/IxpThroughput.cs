using System.Diagnostics;
using Tolapai.Cpa;

namespace Tolapai.Ixp;

/// <summary>Result of <see cref="IxpThroughput.Run"/>.</summary>
/// <param name="Operations">Completed operations.</param>
/// <param name="Seconds">Wall time of the run.</param>
/// <param name="Bytes">Payload bytes ciphered.</param>
/// <param name="Retries">PerformOp calls answered Retry.</param>
/// <param name="Errors">Operations that completed with an error.</param>
/// <param name="AllocatedBytes">Managed bytes the calling thread (it submits and, when polling, completes) allocated during the timed run, exactly.</param>
public readonly record struct IxpThroughputResult(long Operations, double Seconds, long Bytes, long Retries, long Errors, long AllocatedBytes)
{
    /// <summary>Managed bytes the calling thread allocated per operation during the timed run.</summary>
    public double BytesAllocatedPerOperation => Operations == 0 ? 0 : (double)AllocatedBytes / Operations;

    /// <summary>Operations per second.</summary>
    public double OpsPerSecond => Operations / Seconds;

    /// <summary>Megabits per second of payload.</summary>
    public double Mbps => Bytes * 8 / Seconds / 1e6;
}

/// <summary>
/// The same throughput loop on any CPA instance — native in dom0 or split in a guest — so the
/// two can be compared in one run: a session of the algorithm, <c>depth</c>
/// requests of <c>size</c> bytes kept in flight (in place), polled on the calling thread.
/// </summary>
public static class IxpThroughput
{
    /// <summary>
    /// Runs for <paramref name="duration"/> after <paramref name="warmup"/> (default 300 ms: the
    /// JIT's tiers settle) and counts. <paramref name="warmedUp"/>, if given, is called between
    /// the two, with nothing in flight, and the timed run starts when it returns: a caller opens
    /// its own measurement window there (the backend's allocation sample, say).
    /// </summary>
    public static IxpThroughputResult Run(ICySymInstance instance, TimeSpan duration, int depth = 64, int size = 4096, SymCipherAlgorithm algorithm = SymCipherAlgorithm.TripleDesCbc, TimeSpan? warmup = null, Action? warmedUp = null)
    {
        ArgumentNullException.ThrowIfNull(instance);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(depth);
        Counter counter = new();
        byte[] key = new byte[algorithm is SymCipherAlgorithm.DesEcb or SymCipherAlgorithm.DesCbc ? 8 : 24];
        Random.Shared.NextBytes(key);
        CpaStatus st = instance.InitSession(new SymSessionSetupData(algorithm, SymCipherDirection.Encrypt, key), counter.Callback, out CySymSession? session);
        if (st != CpaStatus.Success)
        {
            throw new InvalidOperationException($"InitSession: {st} {instance.LastError}");
        }

        BufferList[] lists = new BufferList[depth];
        for (int i = 0; i < depth; i++)
        {
            st = instance.AllocateBufferList([size], out BufferList? list);
            if (st != CpaStatus.Success)
            {
                throw new InvalidOperationException($"AllocateBufferList: {st} {instance.LastError}");
            }

            lists[i] = list!;
        }

        byte[] iv = new byte[8];
        SymOpData op = new() { Session = session, PacketType = SymPacketType.Full, Iv = iv, MessageLenToCipher = size };
        try
        {
            _ = Loop(instance, op, lists, counter, warmup ?? TimeSpan.FromMilliseconds(300));
            warmedUp?.Invoke();
            IxpThroughputResult r = Loop(instance, op, lists, counter, duration);
            return r with { Bytes = r.Operations * size };
        }
        finally
        {
            foreach (BufferList l in lists)
            {
                _ = instance.FreeBufferList(l);
            }

            _ = instance.RemoveSession(session!);
        }
    }

    private static IxpThroughputResult Loop(ICySymInstance instance, SymOpData op, BufferList[] lists, Counter counter, TimeSpan duration)
    {
        bool polling = instance.CompletionMode == CompletionMode.Polling;
        long completedAtStart = Volatile.Read(ref counter.Completed);
        long errorsAtStart = Volatile.Read(ref counter.Errors);
        long submitted = completedAtStart;
        long retries = 0;
        // Timestamps, not a Stopwatch object: nothing is allocated inside the window.
        long ticks = (long)(duration.TotalSeconds * Stopwatch.Frequency);
        long allocated = GC.GetAllocatedBytesForCurrentThread();
        long started = Stopwatch.GetTimestamp();
        long next = 0;
        int idle = 0;
        while (Stopwatch.GetTimestamp() - started < ticks)
        {
            while (submitted - Volatile.Read(ref counter.Completed) < lists.Length)
            {
                BufferList b = lists[next % lists.Length];
                CpaStatus st = instance.PerformOp(null, op, b, b);
                if (st == CpaStatus.Retry)
                {
                    retries++;
                    break;
                }

                if (st != CpaStatus.Success)
                {
                    throw new InvalidOperationException($"PerformOp: {st} {instance.LastError}");
                }

                submitted++;
                next++;
            }

            int delivered = 0;
            if (polling)
            {
                _ = instance.Poll(0, out delivered);
            }

            if (delivered == 0 && ++idle > 64)
            {
                // Nothing came back: on a machine with few cores the device (and, split, the
                // backend) need this core more than another poll does.
                Thread.Yield();
                idle = 0;
            }
        }

        while (Volatile.Read(ref counter.Completed) < submitted)
        {
            if (polling)
            {
                _ = instance.Poll(0, out _);
            }

            if (Stopwatch.GetTimestamp() - started > ticks + (10 * Stopwatch.Frequency))
            {
                throw new TimeoutException($"{submitted - Volatile.Read(ref counter.Completed)} operations never completed");
            }
        }

        long bytesAllocated = GC.GetAllocatedBytesForCurrentThread() - allocated;
        double seconds = (double)(Stopwatch.GetTimestamp() - started) / Stopwatch.Frequency;
        long ops = submitted - completedAtStart;
        return new IxpThroughputResult(ops, seconds, 0, retries, Volatile.Read(ref counter.Errors) - errorsAtStart, bytesAllocated);
    }

    private sealed class Counter
    {
        public long Completed;
        public long Errors;

        public Counter() => Callback = OnComplete;

        public SymCallback Callback { get; }

        private void OnComplete(object? tag, CpaStatus status, BufferList? destination)
        {
            if (status != CpaStatus.Success)
            {
                Interlocked.Increment(ref Errors);
            }

            Interlocked.Increment(ref Completed);
        }
    }
}
