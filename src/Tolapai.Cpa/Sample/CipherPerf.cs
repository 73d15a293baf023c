using System.Diagnostics;
using Tolapai.Kernels.Des;

namespace Tolapai.Cpa.Sample;

/// <summary>A run that could not go on (a submission refused with an error other than Retry).</summary>
public sealed class CipherPerfException : Exception
{
    /// <summary>Creates the exception.</summary>
    public CipherPerfException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception.</summary>
    public CipherPerfException()
    {
    }

    /// <summary>Creates the exception.</summary>
    public CipherPerfException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>
/// The cipher performance sample, after Intel's <c>cpa_cipher_perf</c>, against any
/// <see cref="ICySymInstance"/>: per packet size a session with a random key, a pool of
/// <see cref="CipherPerfOptions.Depth"/> pre-allocated buffer lists used round-robin, N
/// operations with up to Depth in flight, resubmission on Retry (counted), and every output
/// compared with the reference cipher.
/// </summary>
/// <remarks>
/// Out of place: each slot's source is fixed random data and its IV alternates between two
/// values from one use to the next (ECB ignores it), so each output is known in advance
/// (computed before the clock starts, on the scalar kernel); the first byte of the previous
/// output is spoiled before each submission, so a device that wrote nothing is caught. Outputs are compared on the submitting thread as it
/// reaps them, while the device works on the others in flight; the latency recorded is
/// submission to callback. Nothing is allocated per operation.
/// </remarks>
public static class CipherPerf
{
    private static readonly SymCallback OnCompletion = static (tag, status, _) =>
    {
        Slot s = (Slot)tag!;
        // Exactly once: a callback for a slot with nothing in flight is a duplicate (the
        // binding answered one operation twice); it is counted and changes nothing else.
        if (Interlocked.Exchange(ref s.InFlight, 0) == 0)
        {
            Interlocked.Increment(ref s.Duplicates);
            return;
        }

        s.Latency = Stopwatch.GetTimestamp() - s.Start;
        s.Status = status;
        Volatile.Write(ref s.Done, 1);
    };

    /// <summary>Runs every packet size and returns the figures.</summary>
    /// <exception cref="ArgumentException">The options are out of range.</exception>
    /// <exception cref="CipherPerfException">The instance refused something the sample needs (session, buffers, an operation).</exception>
    public static CipherPerfReport Run(ICySymInstance instance, CipherPerfOptions options, Action<CipherPerfResult>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(instance);
        ArgumentNullException.ThrowIfNull(options);
        string? error = options.Validate();
        if (error is not null)
        {
            throw new ArgumentException(error, nameof(options));
        }

        var results = new List<CipherPerfResult>();
        var random = new Random(options.Seed);
        foreach (int size in options.Sizes)
        {
            if (results.Count > 0 && options.Stop.IsCancellationRequested)
            {
                break; // stopped: the sizes not yet begun are not run
            }

            CipherPerfResult r = RunSize(instance, options, size, random);
            results.Add(r);
            progress?.Invoke(r);
        }

        return new CipherPerfReport
        {
            Instance = instance.Name,
            Algorithm = SymAlgorithms.Name(options.Algorithm),
            Direction = options.Direction == SymCipherDirection.Encrypt ? "encrypt" : "decrypt",
            Depth = options.Depth,
            Clock = CycleClock.Source,
            ClockHz = CycleClock.MeasureHz(),
            Results = results,
        };
    }

    private static CipherPerfResult RunSize(ICySymInstance instance, CipherPerfOptions options, int size, Random random)
    {
        byte[] key = new byte[SymAlgorithms.IsTripleDes(options.Algorithm) ? 24 : 8];
        random.NextBytes(key);
        var setup = new SymSessionSetupData(options.Algorithm, options.Direction, key);
        Check(instance, InitSession(instance, setup, options.StallTimeout, out CySymSession? session), "init session");
        Slot[] slots = new Slot[options.Depth];
        try
        {
            using DesKeySchedule reference = DesKeySchedule.Create(key);
            for (int i = 0; i < slots.Length; i++)
            {
                slots[i] = Slot.Create(instance, session!, size, random, reference, options);
            }

            var histogram = new LatencyHistogram();
            if (options.WarmupOps > 0)
            {
                _ = Drive(instance, slots, options.WarmupOps, 0, options.StallTimeout, histogram, out _, out _, out _, out _, CancellationToken.None);
                histogram.Clear();
            }

            long t0 = Stopwatch.GetTimestamp();
            ulong c0 = CycleClock.Read();
            long duplicatesBefore = slots.Sum(s => Volatile.Read(ref s.Duplicates));
            long deadline = options.Duration is { } d ? t0 + (long)(d.TotalSeconds * Stopwatch.Frequency) : 0;
            long total = Drive(instance, slots, options.Ops, deadline, options.StallTimeout, histogram, out long retries, out long failures, out long mismatches, out long lost, options.Stop);
            ulong c1 = CycleClock.Read();
            double seconds = Stopwatch.GetElapsedTime(t0).TotalSeconds;
            double toNs = 1e9 / Stopwatch.Frequency;
            long done = total - lost;
            long duplicates = slots.Sum(s => Volatile.Read(ref s.Duplicates)) - duplicatesBefore;
            return new CipherPerfResult
            {
                Size = size,
                Ops = done,
                Seconds = seconds,
                OpsPerSec = done / seconds,
                Mbps = done * (double)size * 8 / seconds / 1e6,
                CyclesPerOp = done == 0 ? 0 : (double)(c1 - c0) / done,
                LatencyNs = new LatencySummary
                {
                    P50 = (long)(histogram.Percentile(50) * toNs),
                    P99 = (long)(histogram.Percentile(99) * toNs),
                    P999 = (long)(histogram.Percentile(99.9) * toNs),
                    Max = (long)(histogram.Max * toNs),
                },
                Retries = retries,
                Failures = failures,
                Mismatches = mismatches,
                Lost = lost,
                Duplicates = duplicates,
                Verified = failures == 0 && mismatches == 0 && lost == 0 && duplicates == 0,
            };
        }
        finally
        {
            foreach (Slot? s in slots)
            {
                s?.Free(instance);
            }

            if (session is not null)
            {
                instance.RemoveSession(session);
            }
        }
    }

    /// <summary>
    /// cpaCySymInitSession, again while the instance says Retry or Restarting (its device is
    /// suspended: a migration, a dom0 coming back), for up to <paramref name="patience"/>.
    /// </summary>
    private static CpaStatus InitSession(ICySymInstance instance, in SymSessionSetupData setup, TimeSpan patience, out CySymSession? session)
    {
        long deadline = Stopwatch.GetTimestamp() + (long)(patience.TotalSeconds * Stopwatch.Frequency);
        while (true)
        {
            CpaStatus st = instance.InitSession(setup, OnCompletion, out session);
            if (st is not (CpaStatus.Retry or CpaStatus.Restarting) || Stopwatch.GetTimestamp() > deadline)
            {
                return st;
            }

            Thread.Sleep(1);
        }
    }

    /// <summary>
    /// Runs <paramref name="total"/> operations (fewer when <paramref name="deadline"/>, a Stopwatch
    /// timestamp, passes first, or <paramref name="stop"/> is cancelled after the first submission:
    /// no more are submitted, those in flight complete); returns how many were submitted.
    /// </summary>
    private static long Drive(ICySymInstance instance, Slot[] slots, long total, long deadline, TimeSpan stallTimeout, LatencyHistogram histogram, out long retries, out long failures, out long mismatches, out long lost, CancellationToken stop)
    {
        retries = 0;
        failures = 0;
        mismatches = 0;
        lost = 0;
        long lastProgress = Stopwatch.GetTimestamp();
        long submitted = 0;
        long reaped = 0;
        int depth = slots.Length;
        bool polling = instance.CompletionMode == CompletionMode.Polling;
        uint idle = 0;
        while (reaped < total)
        {
            if (submitted < total
                && ((deadline != 0 && Stopwatch.GetTimestamp() > deadline) || (submitted > 0 && stop.IsCancellationRequested)))
            {
                total = submitted; // time is up, or told to stop: drain what is in flight
                continue;
            }

            while (submitted < total && submitted - reaped < depth)
            {
                Slot s = slots[submitted % depth];
                s.Use = (int)((submitted / depth) & 1);
                s.Op.Iv = s.Ivs[s.Use];
                s.Done = 0;
                Volatile.Write(ref s.InFlight, 1);

                // Spoil the previous output so that only a fresh write can pass the check.
                s.Destination[0].Span[0] ^= 0xA5;
                s.Start = Stopwatch.GetTimestamp();
                CpaStatus st = instance.PerformOp(s, in s.Op, s.Source, s.Destination);
                // Restarting: the device is suspended (a migration, a dom0 coming back); what is in
                // flight is kept by the driver and completes after the resume. Both: try later.
                if (st is CpaStatus.Retry or CpaStatus.Restarting)
                {
                    Volatile.Write(ref s.InFlight, 0);
                    retries++;
                    break;
                }

                if (st != CpaStatus.Success)
                {
                    throw new CipherPerfException($"perform op refused: {st}: {instance.LastError}");
                }

                submitted++;
            }

            if (polling)
            {
                instance.Poll(0, out _);
            }

            bool progressed = false;
            while (reaped < submitted)
            {
                Slot s = slots[reaped % depth];
                if (Volatile.Read(ref s.Done) == 0)
                {
                    break;
                }

                histogram.Record(s.Latency);
                if (s.Status != CpaStatus.Success)
                {
                    failures++;
                }
                else if (!s.Destination[0].Span.SequenceEqual(s.Expected[s.Use]))
                {
                    mismatches++;
                }

                reaped++;
                progressed = true;
            }

            if (progressed)
            {
                idle = 0;
                lastProgress = Stopwatch.GetTimestamp();
            }
            else if ((idle & 1023) == 1023 && Stopwatch.GetElapsedTime(lastProgress) > stallTimeout)
            {
                // Nothing completed for the whole stall timeout: what is still in flight is lost
                // (counted, reported, and the size is not verified); the ones never sent are not.
                lost = submitted - reaped;
                for (long i = reaped; i < submitted; i++)
                {
                    Volatile.Write(ref slots[i % depth].InFlight, 0);
                }

                return submitted;
            }
            else if ((++idle & 15) == 0)
            {
                // Now and then give the core away: on a machine busier than its cores the
                // engine (or the driver thread) we wait for may need this one.
                Thread.Yield();
            }
            else if (!polling)
            {
                Thread.SpinWait(50);
            }
        }

        return submitted;
    }

    private static void Check(ICySymInstance instance, CpaStatus status, string what)
    {
        if (status != CpaStatus.Success)
        {
            throw new CipherPerfException($"{what}: {status}: {instance.LastError}");
        }
    }

    private sealed class Slot
    {
        public SymOpData Op;
        public int Done;
        public long Start;
        public long Latency;
        public CpaStatus Status;
        public int Use;
        public int InFlight;
        public long Duplicates;

        private Slot(BufferList source, BufferList destination, ReadOnlyMemory<byte>[] ivs, byte[][] expected)
        {
            Source = source;
            Destination = destination;
            Ivs = ivs;
            Expected = expected;
        }

        public BufferList Source { get; }

        public BufferList Destination { get; }

        public ReadOnlyMemory<byte>[] Ivs { get; }

        public byte[][] Expected { get; }

        public static Slot Create(ICySymInstance instance, CySymSession session, int size, Random random, DesKeySchedule reference, CipherPerfOptions options)
        {
            Check(instance, instance.AllocateBufferList([size], out BufferList? src), "allocate buffer list");
            if (instance.AllocateBufferList([size], out BufferList? dst) is var st && st != CpaStatus.Success)
            {
                instance.FreeBufferList(src!);
                Check(instance, st, "allocate buffer list");
            }

            random.NextBytes(src![0].Span);
            var ivs = new ReadOnlyMemory<byte>[2];
            byte[][] expected = new byte[2][];
            for (int u = 0; u < 2; u++)
            {
                byte[] iv = new byte[8];
                random.NextBytes(iv);
                ivs[u] = iv;
                expected[u] = new byte[size];
                byte[] chain = (byte[])iv.Clone();
                DesCipher.Transform(reference, SymAlgorithms.Mode(options.Algorithm), SymAlgorithms.Direction(options.Direction), chain, src[0].Span, expected[u], DesKernel.Scalar);
            }

            var slot = new Slot(src, dst!, ivs, expected)
            {
                Op = new SymOpData { Session = session, PacketType = SymPacketType.Full, CryptoStartSrcOffset = 0, MessageLenToCipher = size },
            };
            return slot;
        }

        public void Free(ICySymInstance instance)
        {
            instance.FreeBufferList(Source);
            instance.FreeBufferList(Destination);
        }
    }
}
