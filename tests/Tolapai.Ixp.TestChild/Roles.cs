using System.Diagnostics;
using System.Runtime.InteropServices;
using Tolapai.Cpa;
using Tolapai.Ixp.Frontend;
using Tolapai.Ixp.Protocol;
using static Tolapai.Ixp.TestChild.Program;

namespace Tolapai.Ixp.TestChild;

internal static unsafe class Roles
{
    private static int s_done;
    private static CpaStatus s_status;

    private static readonly SymCallback Callback = (tag, status, dst) =>
    {
        s_status = status;
        Interlocked.Increment(ref s_done); // Interrupt mode: the completion thread
    };

    private static readonly SymCipherAlgorithm[] Algorithms =
        [SymCipherAlgorithm.DesEcb, SymCipherAlgorithm.DesCbc, SymCipherAlgorithm.TripleDesEcb, SymCipherAlgorithm.TripleDesCbc, SymCipherAlgorithm.TripleDesCtr];

    /// <summary>Every algorithm, both directions, in place and out of place, one to three pages, on every queue: bytes equal BouncyCastle's.</summary>
    public static int Cpa(IxpFrontend front, int seed, CompletionMode mode)
    {
        var rng = new Random(seed);
        int checks = 0;
        for (int q = 0; q < front.Queues.Count; q++)
        {
            CpaStatus created = IxpCyInstance.Create(front, q, mode, out IxpCyInstance? inst);
            Check(created == CpaStatus.Success, $"create instance: {created} connected={front.IsConnected} state={front.State}");
            using IxpCyInstance cy = inst!;
            foreach (SymCipherAlgorithm alg in Algorithms)
            {
                foreach (SymCipherDirection dir in (SymCipherDirection[])[SymCipherDirection.Encrypt, SymCipherDirection.Decrypt])
                {
                    byte[] key = new byte[alg is SymCipherAlgorithm.DesEcb or SymCipherAlgorithm.DesCbc ? 8 : 24];
                    rng.NextBytes(key);
                    Check(cy.InitSession(new SymSessionSetupData(alg, dir, key), Callback, out CySymSession? session) == CpaStatus.Success, $"session {alg}: {cy.LastError}");
                    foreach (int size in (int[])[8, 64, 4096, (3 * 4096) - 8, alg == SymCipherAlgorithm.TripleDesCtr ? 13 : 24])
                    {
                        foreach (bool inPlace in (bool[])[true, false])
                        {
                            checks += One(cy, session!, alg, dir, key, rng, [size], inPlace);
                        }
                    }

                    // Many small buffers: 6 + 6 segments, past one entry's 8 (indirect when negotiated),
                    // and as many as the backend takes when it takes more.
                    if (front.Negotiated.MaxIndirectSegments >= 12)
                    {
                        checks += One(cy, session!, alg, dir, key, rng, [64, 64, 64, 64, 64, 64], inPlace: false);
                    }

                    int many = front.Negotiated.MaxIndirectSegments / 2;
                    if (many > 6)
                    {
                        checks += One(cy, session!, alg, dir, key, rng, Enumerable.Repeat(16, many).ToArray(), inPlace: false);
                        checks += One(cy, session!, alg, dir, key, rng, Enumerable.Repeat(16, 2 * many).ToArray(), inPlace: true);
                    }

                    Check(cy.RemoveSession(session!) == CpaStatus.Success, "remove session");
                }
            }

            Check(cy.QueryStats(out SymStats stats) == CpaStatus.Success && stats.NumSymOpCompletedErrors == 0, "stats");
        }

        Say($"OK {checks}");
        return 0;
    }

    private static int One(IxpCyInstance cy, CySymSession session, SymCipherAlgorithm alg, SymCipherDirection dir, byte[] key, Random rng, int[] sizes, bool inPlace)
    {
        Check(cy.AllocateBufferList(sizes, out BufferList? src) == CpaStatus.Success, "allocate src");
        BufferList? dst = src;
        if (!inPlace)
        {
            Check(cy.AllocateBufferList(sizes, out dst) == CpaStatus.Success, "allocate dst");
        }

        int total = sizes.Sum();
        byte[] input = new byte[total];
        rng.NextBytes(input);
        int at = 0;
        foreach (FlatBuffer b in src!.Buffers)
        {
            input.AsSpan(at, b.DataLength).CopyTo(b.Span);
            at += b.DataLength;
        }

        byte[] iv = new byte[8];
        rng.NextBytes(iv);
        byte[] expected = Reference.Cipher(alg, dir, key, iv, input);
        SymOpData op = new() { Session = session, PacketType = SymPacketType.Full, Iv = iv, CryptoStartSrcOffset = 0, MessageLenToCipher = total };
        int before = s_done;
        CpaStatus st;
        while ((st = cy.PerformOp(null, op, src, dst!)) == CpaStatus.Retry)
        {
            if (cy.CompletionMode == CompletionMode.Polling)
            {
                _ = cy.Poll(0, out _);
            }
        }

        Check(st == CpaStatus.Success, $"PerformOp {alg} {total}: {st} {cy.LastError}");
        Stopwatch sw = Stopwatch.StartNew();
        while (Volatile.Read(ref s_done) == before)
        {
            if (cy.CompletionMode == CompletionMode.Polling)
            {
                _ = cy.Poll(0, out _);
            }

            Check(sw.Elapsed < TimeSpan.FromSeconds(10), "no completion");
        }

        Check(s_status == CpaStatus.Success, $"completion {alg} {total}: {s_status}");
        byte[] got = new byte[total];
        at = 0;
        foreach (FlatBuffer b in dst!.Buffers)
        {
            b.Span.CopyTo(got.AsSpan(at));
            at += b.DataLength;
        }

        Check(got.AsSpan().SequenceEqual(expected), $"{alg} {dir} {total} bytes {(inPlace ? "in place" : "out of place")} differs from BouncyCastle");
        if (!inPlace)
        {
            _ = cy.FreeBufferList(dst);
        }

        _ = cy.FreeBufferList(src);
        return 1;
    }

    /// <summary>
    /// Buffers that are not the guest's own pages at the frames they name are refused with
    /// InvalidParam before anything reaches the ring (the binding has no path that would copy
    /// them into granted pages); a list from AllocateBufferList then goes through and verifies.
    /// </summary>
    public static int Foreign(IxpFrontend front, int seed)
    {
        var rng = new Random(seed);
        Check(IxpCyInstance.Create(front, 0, CompletionMode.Polling, out IxpCyInstance? inst) == CpaStatus.Success, "create instance");
        using IxpCyInstance cy = inst!;
        byte[] key = new byte[8];
        rng.NextBytes(key);
        Check(cy.InitSession(new SymSessionSetupData(SymCipherAlgorithm.DesEcb, SymCipherDirection.Encrypt, key), Callback, out CySymSession? session) == CpaStatus.Success, "session");
        Check(cy.AllocateBufferList([4096], out BufferList? own) == CpaStatus.Success, "allocate");
        FlatBuffer granted = own![0];
        uint frame = granted.Frames[0];
        byte* host = (byte*)NativeMemory.AlignedAlloc(2 * 4096, 4096);
        try
        {
            var cases = new (string Name, FlatBuffer Buffer)[]
            {
                ("process memory named as a granted frame", new FlatBuffer(host, 4096, front.DomId, [frame])),
                ("the guest's page named as the next frame", new FlatBuffer(granted.Data, 4096, front.DomId, [frame + 1])),
                ("memory without frames", new FlatBuffer(host, 4096, front.DomId, [])),
                ("two pages whose second is not the next frame", new FlatBuffer(granted.Data + 2048, 4096, front.DomId, [frame, frame + 7])),
            };
            SymOpData op = new() { Session = session, PacketType = SymPacketType.Full, CryptoStartSrcOffset = 0, MessageLenToCipher = 4096 };
            cy.QueryStats(out SymStats before);
            foreach ((string name, FlatBuffer buffer) in cases)
            {
                var list = new BufferList(cy, [buffer]);
                CpaStatus st = cy.PerformOp(null, op, list, list);
                Check(st == CpaStatus.InvalidParam && (cy.LastError ?? "").Contains("not dom", StringComparison.Ordinal), $"{name}: {st} {cy.LastError}");
                Check(cy.PerformOp(null, op, own, list) == CpaStatus.InvalidParam, $"{name} as the destination: {cy.LastError}");
            }

            cy.QueryStats(out SymStats after);
            Check(after.NumSymOpRequests == before.NumSymOpRequests, "a refused buffer reached the ring");
            Say($"REFUSED {cases.Length * 2} {cy.LastError}");
            Check(One(cy, session!, SymCipherAlgorithm.DesEcb, SymCipherDirection.Encrypt, key, rng, [4096], inPlace: false) == 1, "own buffers");
        }
        finally
        {
            NativeMemory.AlignedFree(host);
        }

        _ = cy.FreeBufferList(own);
        Check(cy.RemoveSession(session!) == CpaStatus.Success, "remove session");
        Say("OK foreign");
        return 0;
    }

    /// <summary>The seed's protocol: key, IV and message in one parameter page; the result comes back in it.</summary>
    public static int V1(IxpFrontend front, int seed)
    {
        var rng = new Random(seed);
        IxpFrontendQueue q = front.Queues[0];
        IxpStatus last = IxpStatus.Error;
        uint size = 0;
        int done = 0;
        q.Handler = (tag, st, rs) =>
        {
            last = st;
            size = rs;
            done++;
        };
        uint frame = front.Pages.Allocate();
        Span<byte> page = front.Pages.Memory.Page(frame);
        int checks = 0;
        foreach (bool cbc in (bool[])[false, true])
        {
            foreach (int n in (int[])[8, 256, DesRequestV1.MaxMessage])
            {
                byte[] key = new byte[8], iv = new byte[8], msg = new byte[n];
                rng.NextBytes(key);
                rng.NextBytes(iv);
                rng.NextBytes(msg);
                ref DesRequestV1 h = ref MemoryMarshal.AsRef<DesRequestV1>(page);
                h.KeySize = 8;
                h.IvSize = cbc ? 8u : 0u;
                h.MessageSize = (uint)n;
                h.Key = MemoryMarshal.Read<ulong>(key);
                h.Iv = MemoryMarshal.Read<ulong>(iv);
                msg.CopyTo(page[DesRequestV1.MessageOffset..]);
                Check(Run(q, () => q.TrySubmitDesV1(frame, encrypt: true, 1), ref done) && last == IxpStatus.Okay && size == n, $"v1 encrypt {n}: {last}");
                byte[] expected = Reference.Cipher(cbc ? SymCipherAlgorithm.DesCbc : SymCipherAlgorithm.DesEcb, SymCipherDirection.Encrypt, key, iv, msg);
                Check(page.Slice(DesRequestV1.MessageOffset, n).SequenceEqual(expected), $"v1 {(cbc ? "CBC" : "ECB")} {n} differs from BouncyCastle");
                Check(Run(q, () => q.TrySubmitDesV1(frame, encrypt: false, 2), ref done) && last == IxpStatus.Okay, "v1 decrypt");
                Check(page.Slice(DesRequestV1.MessageOffset, n).SequenceEqual(msg), "v1 decrypt gives the message back");
                checks++;
            }
        }

        // A bad parameter page: an error status and the page untouched.
        MemoryMarshal.AsRef<DesRequestV1>(page).MessageSize = 5;
        byte[] before = page.ToArray();
        Check(Run(q, () => q.TrySubmitDesV1(frame, encrypt: true, 3), ref done) && last == IxpStatus.Error, $"bad v1 gives Error, got {last}");
        Check(page.SequenceEqual(before), "a refused v1 request leaves the page as it was");
        Say($"OK {checks}");
        return 0;
    }

    internal static bool Run(IxpFrontendQueue q, Func<IxpSubmitResult> submit, ref int done)
    {
        int before = done;
        if (submit() != IxpSubmitResult.Submitted)
        {
            return false;
        }

        Stopwatch sw = Stopwatch.StartNew();
        while (done == before)
        {
            if (q.Poll() == 0)
            {
                _ = q.WaitForResponses(1000, TimeSpan.FromMilliseconds(10));
            }

            if (sw.Elapsed > TimeSpan.FromSeconds(10))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Requests in flight and a session held, then waits to be killed.</summary>
    public static int Hold(IxpFrontend front)
    {
        Check(IxpCyInstance.Create(front, 0, CompletionMode.Polling, out IxpCyInstance? cy) == CpaStatus.Success, "create");
        Check(cy!.InitSession(new SymSessionSetupData(SymCipherAlgorithm.TripleDesCbc, SymCipherDirection.Encrypt, new byte[24]), Callback, out CySymSession? s) == CpaStatus.Success, "session");
        int submitted = 0;
        for (int i = 0; i < 16; i++)
        {
            Check(cy.AllocateBufferList([4096], out BufferList? b) == CpaStatus.Success, "alloc");
            SymOpData op = new() { Session = s, PacketType = SymPacketType.Full, Iv = new byte[8], MessageLenToCipher = 4096 };
            if (cy.PerformOp(null, op, b!, b!) == CpaStatus.Success)
            {
                submitted++;
            }
        }

        Say($"HELD {submitted}");
        Thread.Sleep(Timeout.Infinite);
        return 0;
    }

    /// <summary>The CPA layer's own sample (cipher perf, every output verified) run unchanged on the split binding.</summary>
    public static int Sample(IxpFrontend front, int depth, int ops)
    {
        using IxpCyInstance cy = front.CreateCyInstance(0, CompletionMode.Polling);
        Tolapai.Cpa.Sample.CipherPerfReport report = Tolapai.Cpa.Sample.CipherPerf.Run(cy, new Tolapai.Cpa.Sample.CipherPerfOptions { Sizes = [64, 1024, 4096], Ops = ops, Depth = depth, WarmupOps = 200 });
        foreach (Tolapai.Cpa.Sample.CipherPerfResult r in report.Results)
        {
            Say(FormattableString.Invariant($"SIZE {r.Size} ops={r.Ops} opsPerSec={r.OpsPerSec:F0} p50={r.LatencyNs.P50} retries={r.Retries} verified={r.Verified} failures={r.Failures} mismatches={r.Mismatches}"));
            Check(r.Verified && r.Failures == 0 && r.Mismatches == 0, $"size {r.Size} not verified");
        }

        Say("OK sample");
        return 0;
    }

    /// <summary>Submits 16 requests, waits for "poll", then polls until every one completed (ok or failed).</summary>
    public static int Orphan(IxpFrontend front)
    {
        using IxpCyInstance cy = front.CreateCyInstance(0, CompletionMode.Polling);
        int ok = 0, failed = 0;
        SymCallback cb = (_, st, _) =>
        {
            if (st == CpaStatus.Success)
            {
                ok++;
            }
            else
            {
                failed++;
            }
        };
        Check(cy.InitSession(new SymSessionSetupData(SymCipherAlgorithm.DesEcb, SymCipherDirection.Encrypt, new byte[8]), cb, out CySymSession? s) == CpaStatus.Success, "session");
        Check(cy.AllocateBufferList([64], out BufferList? b) == CpaStatus.Success, "alloc");
        SymOpData op = new() { Session = s, PacketType = SymPacketType.Full, MessageLenToCipher = 64 };
        for (int i = 0; i < 16; i++)
        {
            Check(cy.PerformOp(null, op, b!, b!) == CpaStatus.Success, "submit");
        }

        Say("SUBMITTED");
        Check(Console.In.ReadLine() == "poll", "poll");
        Stopwatch sw = Stopwatch.StartNew();
        while (ok + failed < 16 && sw.Elapsed < TimeSpan.FromSeconds(10))
        {
            _ = cy.Poll(0, out _);
        }

        Check(cy.PerformOp(null, op, b!, b!) == CpaStatus.Restarting, "a closed device refuses new requests");
        Say($"DONE ok={ok} failed={failed}");
        return 0;
    }

    /// <summary>
    /// 3DES-CBC with <paramref name="depth"/> requests in flight for <paramref name="ms"/> after a
    /// warm-up: prints "OPS n ops/s errors allocated", the last the exact bytes this thread (it
    /// submits and polls, so it is the guest's whole data path) allocated in the timed run. With
    /// <paramref name="hold"/>, prints "WARM" between warm-up and run and waits for "run" on stdin,
    /// so the test can open its own window on dom0's threads.
    /// </summary>
    public static int Load(IxpFrontend front, int ms, int depth, int size, int warmupMs, bool hold)
    {
        Check(IxpCyInstance.Create(front, 0, CompletionMode.Polling, out IxpCyInstance? inst) == CpaStatus.Success, "create");
        using IxpCyInstance cy = inst!;
        Action? warmedUp = hold ? () =>
        {
            Say("WARM");
            Check(Console.In.ReadLine() == "run", "run");
        }
        : null;
        IxpThroughputResult r = IxpThroughput.Run(cy, TimeSpan.FromMilliseconds(ms), depth, size, warmup: TimeSpan.FromMilliseconds(warmupMs), warmedUp: warmedUp);
        Say(FormattableString.Invariant($"OPS {r.Operations} {r.OpsPerSecond:F0} {r.Errors} {r.AllocatedBytes}"));
        return 0;
    }

    /// <summary>
    /// 3DES-CBC at <paramref name="depth"/> in flight from a shared start to a shared stop, for the
    /// fairness test: warms up, says READY and waits for "start" on stdin; then runs until "stop",
    /// printing "COUNT n" each time n completions (n a multiple of <paramref name="every"/>) are
    /// done, and samples (Stopwatch timestamp, completions) every <paramref name="sampleMs"/> ms.
    /// Ends with "WINDOW t0 t1 ops errors" (first submission, stop seen; CLOCK_MONOTONIC ticks, the
    /// same clock in every process) and "SAMPLES t:n,t:n,...".
    /// </summary>
    public static int Window(IxpFrontend front, int depth, int size, int every, int sampleMs)
    {
        Check(IxpCyInstance.Create(front, 0, CompletionMode.Polling, out IxpCyInstance? inst) == CpaStatus.Success, "create");
        using IxpCyInstance cy = inst!;
        long completed = 0, errors = 0;
        SymCallback onDone = (_, status, _) =>
        {
            if (status != CpaStatus.Success)
            {
                Interlocked.Increment(ref errors);
            }

            Interlocked.Increment(ref completed);
        };
        byte[] key = new byte[24];
        new Random(depth).NextBytes(key);
        Check(cy.InitSession(new SymSessionSetupData(SymCipherAlgorithm.TripleDesCbc, SymCipherDirection.Encrypt, key), onDone, out CySymSession? session) == CpaStatus.Success, "session");
        var lists = new BufferList[depth];
        for (int i = 0; i < depth; i++)
        {
            Check(cy.AllocateBufferList([size], out BufferList? b) == CpaStatus.Success, "alloc");
            lists[i] = b!;
        }

        SymOpData op = new() { Session = session, PacketType = SymPacketType.Full, Iv = new byte[8], MessageLenToCipher = size };
        int stop = 0;
        long submitted = 0;

        // Warm-up (JIT, mappings, persistent grants) before the barrier: a fixed count.
        Pump(cy, op, lists, ref submitted, ref completed, until: 4 * depth, ref stop);
        Say("READY");
        Check(Console.In.ReadLine() == "start", "expected 'start' on stdin");
        var stopReader = new Thread(() =>
        {
            Check(Console.In.ReadLine() == "stop", "expected 'stop' on stdin");
            Volatile.Write(ref stop, 1);
        }) { IsBackground = true };
        stopReader.Start();

        long tick = Stopwatch.Frequency * sampleMs / 1000;
        long[] times = new long[100_000];
        long[] counts = new long[times.Length];
        int samples = 0;
        long base0 = completed, errors0 = errors;
        long t0 = Stopwatch.GetTimestamp(), nextSample = t0, nextCount = every;
        while (Volatile.Read(ref stop) == 0)
        {
            Pump(cy, op, lists, ref submitted, ref completed, until: long.MaxValue, ref stop, once: true);
            long now = Stopwatch.GetTimestamp();
            long done = completed - base0;
            if (now >= nextSample && samples < times.Length)
            {
                times[samples] = now;
                counts[samples++] = done;
                nextSample = now + tick;
            }

            if (done >= nextCount)
            {
                Say(FormattableString.Invariant($"COUNT {nextCount}"));
                nextCount += every;
            }
        }

        long t1 = Stopwatch.GetTimestamp();
        long ops = completed - base0;
        times[samples < times.Length ? samples : times.Length - 1] = t1;
        counts[samples < times.Length ? samples : times.Length - 1] = ops;
        samples = Math.Min(samples + 1, times.Length);

        // Drain what is in flight (not counted in the window).
        long drainUntil = Stopwatch.GetTimestamp() + (10 * Stopwatch.Frequency);
        while (completed < submitted)
        {
            _ = cy.Poll(0, out _);
            Check(Stopwatch.GetTimestamp() < drainUntil, $"{submitted - completed} requests never completed");
        }

        Say(FormattableString.Invariant($"WINDOW {t0} {t1} {ops} {errors - errors0}"));
        var sb = new System.Text.StringBuilder("SAMPLES ");
        for (int i = 0; i < samples; i++)
        {
            sb.Append(FormattableString.Invariant($"{(i > 0 ? "," : "")}{times[i]}:{counts[i]}"));
        }

        Say(sb.ToString());
        foreach (BufferList l in lists)
        {
            _ = cy.FreeBufferList(l);
        }

        _ = cy.RemoveSession(session!);
        return 0;
    }

    /// <summary>Keeps up to lists.Length requests in flight until <paramref name="until"/> have completed (or once round with <paramref name="once"/>).</summary>
    private static void Pump(IxpCyInstance cy, SymOpData op, BufferList[] lists, ref long submitted, ref long completed, long until, ref int stop, bool once = false)
    {
        do
        {
            while (submitted - completed < lists.Length && submitted < until)
            {
                CpaStatus st = cy.PerformOp(null, op, lists[submitted % lists.Length], lists[submitted % lists.Length]);
                if (st == CpaStatus.Retry)
                {
                    break;
                }

                Check(st == CpaStatus.Success, $"PerformOp: {st} {cy.LastError}");
                submitted++;
            }

            if (cy.Poll(0, out int delivered) == CpaStatus.Success && delivered == 0)
            {
                Thread.Yield(); // two cores: the backend and the device may need this one
            }
        }
        while (!once && completed < until && Volatile.Read(ref stop) == 0);
    }
}
