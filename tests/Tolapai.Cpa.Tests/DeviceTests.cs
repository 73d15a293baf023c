using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Tolapai.Cpa.Native;
using Tolapai.Cpa.Sample;
using Tolapai.Cpa.Software;
using Tolapai.Device;
using Tolapai.Device.Dma;
using Tolapai.Device.Region;

namespace Tolapai.Cpa.Tests;

/// <summary>Guest-like memory: pages allocated one by one (not host-contiguous) and registered as frames of a domain.</summary>
internal sealed unsafe class FramePages : IDisposable
{
    private readonly byte*[] _pages;

    public FramePages(int count)
    {
        _pages = new byte*[count];

        // Allocated back to front so that frame f + 1 is never right after frame f in the host.
        for (int i = count - 1; i >= 0; i--)
        {
            _pages[i] = (byte*)NativeMemory.AlignedAlloc(4096, 4096);
            NativeMemory.Clear(_pages[i], 4096);
        }
    }

    public Span<byte> Page(int i) => new(_pages[i], 4096);

    public byte* Address(int i) => _pages[i];

    /// <summary>The bytes of a run that may cross pages.</summary>
    public byte[] Read(int page, int offset, int length)
    {
        byte[] r = new byte[length];
        for (int i = 0; i < length; i++)
        {
            int p = page + ((offset + i) / 4096);
            r[i] = _pages[p][(offset + i) % 4096];
        }

        return r;
    }

    public void Write(int page, int offset, ReadOnlySpan<byte> data)
    {
        for (int i = 0; i < data.Length; i++)
        {
            int p = page + ((offset + i) / 4096);
            _pages[p][(offset + i) % 4096] = data[i];
        }
    }

    public void Dispose()
    {
        foreach (byte* p in _pages)
        {
            NativeMemory.AlignedFree(p);
        }
    }
}

/// <summary>A driver that forgets to flush its request entries (the ring index it still flushes).</summary>
internal sealed class NoEntryFlushQueue(TolapaiDevice device, int pair) : DeviceQueue(device, pair)
{
    protected override void FlushRequest(long offset, int length)
    {
        // Deliberately wrong: the device's copy keeps whatever it held.
    }
}

/// <summary>A driver that forgets to invalidate before reading a response.</summary>
internal sealed class NoInvalidateQueue(TolapaiDevice device, int pair) : DeviceQueue(device, pair)
{
    protected override void InvalidateResponse(long offset, int length)
    {
        // Deliberately wrong: reads its own stale copy of the response slot.
    }
}

public sealed unsafe class DeviceTests
{
    private static SymSessionSetupData Setup(SymCipherAlgorithm alg, SymCipherDirection dir, byte[] key) => new(alg, dir, key);

    [Fact]
    public void Ring_entries_and_segments_have_the_documented_byte_layout()
    {
        Assert.Equal(16, Unsafe.SizeOf<DmaSegment>());
        DmaSegment s = default;
        Assert.Equal(0, Offset(ref s, ref s.Frame));
        Assert.Equal(4, Offset(ref s, ref s.Domain));
        Assert.Equal(6, Offset(ref s, ref s.Reserved));
        Assert.Equal(8, Offset(ref s, ref s.Offset));
        Assert.Equal(12, Offset(ref s, ref s.Length));

        Assert.Equal(256, Unsafe.SizeOf<RequestEntry>());
        RequestEntry e = default;
        Assert.Equal(0, Offset(ref e, ref e.Tag));
        Assert.Equal(8, Offset(ref e, ref e.Sequence));
        Assert.Equal(12, Offset(ref e, ref e.Session));
        Assert.Equal(16, Offset(ref e, ref e.Iv));
        Assert.Equal(24, Offset(ref e, ref e.Length));
        Assert.Equal(28, Offset(ref e, ref e.OpCode));
        Assert.Equal(29, Offset(ref e, ref e.Flags));
        Assert.Equal(30, Offset(ref e, ref e.SourceCount));
        Assert.Equal(31, Offset(ref e, ref e.DestinationCount));
        Assert.Equal(32, Offset(ref e, ref e.Requester));
        Assert.Equal(48, Offset(ref e, ref e.Segments));
        Assert.Equal(RequestEntry.HeaderSize, Offset(ref e, ref e.Segments));
        Span<DmaSegment> segs = e.Segments;
        Assert.Equal(12, segs.Length);
        Assert.Equal(48 + (11 * 16), (int)Unsafe.ByteOffset(ref Unsafe.As<RequestEntry, byte>(ref e), ref Unsafe.As<DmaSegment, byte>(ref segs[11])));

        Assert.Equal(16, Unsafe.SizeOf<ResponseEntry>());
        ResponseEntry r = default;
        Assert.Equal(0, Offset(ref r, ref r.Sequence));
        Assert.Equal(4, Offset(ref r, ref r.Status));
        Assert.Equal(8, Offset(ref r, ref r.Tag));

        // Driver-written and device-written words on separate lines; entries after them.
        var layout = new RegionLayout(2, 8);
        Assert.Equal(0, RegionLayout.RequestProducer);
        Assert.Equal(64, RegionLayout.RequestConsumer);
        Assert.Equal(256, RegionLayout.RequestEntries);
        Assert.Equal(256 + (8 * 256), layout.ResponseEntries);
        Assert.Equal(0, layout.PairSize % 4096);
        Assert.Equal(4096 + layout.PairSize, layout.PairOffset(1));
    }

    private static int Offset<TS, TF>(ref TS s, ref TF field) =>
        (int)Unsafe.ByteOffset(ref Unsafe.As<TS, byte>(ref s), ref Unsafe.As<TF, byte>(ref field));

    [Fact]
    public void Strict_coherence_catches_a_driver_that_forgets_to_flush_its_request()
    {
        byte[] key = new byte[24];
        TestRandom.Create(20).NextBytes(key);
        byte[] iv = new byte[8];
        byte[] input = new byte[512];
        TestRandom.Create(21).NextBytes(input);
        byte[] expected = BouncyReference.Transform(SymCipherAlgorithm.TripleDesCbc, SymCipherDirection.Encrypt, key, iv, input);

        foreach (CoherenceMode mode in new[] { CoherenceMode.Strict, CoherenceMode.Fast })
        {
            using TolapaiDevice device = TolapaiDevice.Create(new DeviceOptions { Coherence = mode, RingEntries = 8, RingPairs = 1 });
            Assert.Equal(CpaStatus.Success, NativeCyInstance.Create(device, CompletionMode.Polling, (d, p) => new NoEntryFlushQueue(d, p), out NativeCyInstance? inst));
            using (inst)
            {
                var done = new Completions();
                Assert.Equal(CpaStatus.Success, inst!.InitSession(Setup(SymCipherAlgorithm.TripleDesCbc, SymCipherDirection.Encrypt, key), done.Callback, out CySymSession? session));
                Assert.Equal(CpaStatus.Success, inst.AllocateBufferList([512], out BufferList? list));

                // Ten operations: the ring wraps, so later entries meet stale ones, not zeros.
                for (int i = 0; i < 10; i++)
                {
                    Buffers.Write(list!, input);
                    Assert.Equal(CpaStatus.Success, inst.PerformOp(i, new SymOpData { Session = session, Iv = iv, MessageLenToCipher = 512 }, list!, list!));
                    done.WaitFor(inst, i + 1);
                    bool right = Buffers.Read(list!).AsSpan().SequenceEqual(expected);
                    if (mode == CoherenceMode.Strict)
                    {
                        // The device saw the stale entry: it refused it, and nothing was ciphered.
                        Assert.Equal(CpaStatus.Fail, done.All[i].Status);
                        Assert.False(right);
                        Assert.Equal(input, Buffers.Read(list!));
                    }
                    else
                    {
                        // With one copy the same driver happens to work: only strict mode shows the bug.
                        Assert.Equal(CpaStatus.Success, done.All[i].Status);
                        Assert.True(right);
                    }
                }

                inst.QueryStats(out SymStats stats);
                Assert.Equal(mode == CoherenceMode.Strict ? 10 : 0, stats.NumSymOpCompletedErrors);
            }
        }
    }

    [Fact]
    public void Strict_coherence_catches_a_driver_that_forgets_to_invalidate_before_reading_a_response()
    {
        using TolapaiDevice device = TolapaiDevice.Create(new DeviceOptions { Coherence = CoherenceMode.Strict, RingEntries = 8, RingPairs = 1 });
        Assert.Equal(CpaStatus.Success, NativeCyInstance.Create(device, CompletionMode.Polling, (d, p) => new NoInvalidateQueue(d, p), out NativeCyInstance? inst));
        using (inst)
        {
            var done = new Completions();
            Assert.Equal(CpaStatus.Success, inst!.InitSession(Setup(SymCipherAlgorithm.DesEcb, SymCipherDirection.Encrypt, new byte[8]), done.Callback, out CySymSession? session));
            Assert.Equal(CpaStatus.Success, inst.AllocateBufferList([64], out BufferList? list));
            Assert.Equal(CpaStatus.Success, inst.PerformOp(1, new SymOpData { Session = session, MessageLenToCipher = 64 }, list!, list!));

            // The device answers (its counters say so), but the driver keeps reading its stale copy.
            Assert.True(SpinWait.SpinUntil(() => device.QueryCounters().Requests == 1, TimeSpan.FromSeconds(30)));
            for (int i = 0; i < 100; i++)
            {
                Assert.Equal(CpaStatus.Retry, inst.Poll(0, out int delivered));
                Assert.Equal(0, delivered);
            }

            Assert.Equal(0, done.Count);
        }
    }

    [Fact]
    public void Dma_outside_the_registered_frames_is_refused_and_touches_nothing()
    {
        using TolapaiDevice device = TolapaiDevice.Create(new DeviceOptions { Coherence = CoherenceMode.Strict, RingEntries = 16, RingPairs = 1 });
        Assert.Equal(CpaStatus.Success, NativeCyInstance.Create(device, CompletionMode.Polling, out NativeCyInstance? inst));
        using (inst)
        using (var pages = new FramePages(3))
        {
            const ushort Dom = 7;
            inst!.Dma.Register(Dom, 10, 1, pages.Address(0), writable: true);
            inst.Dma.Register(Dom, 12, 1, pages.Address(2), writable: false);
            TestRandom.Create(30).NextBytes(pages.Page(0));
            TestRandom.Create(31).NextBytes(pages.Page(1));
            TestRandom.Create(32).NextBytes(pages.Page(2));
            byte[][] before = [pages.Page(0).ToArray(), pages.Page(1).ToArray(), pages.Page(2).ToArray()];
            var done = new Completions();
            Assert.Equal(CpaStatus.Success, inst.InitSession(Setup(SymCipherAlgorithm.TripleDesCbc, SymCipherDirection.Encrypt, new byte[24]), done.Callback, out CySymSession? session));
            byte[] iv = new byte[8];

            var cases = new (string Name, DmaSegment[] Src, DmaSegment[] Dst)[]
            {
                ("destination frame not registered", [new(Dom, 10, 0, 64)], [new(Dom, 11, 0, 64)]),
                ("source frame not registered", [new(Dom, 11, 0, 64)], [new(Dom, 10, 0, 64)]),
                ("segment runs into an unregistered frame", [new(Dom, 10, 4064, 64)], []),
                ("write to a read-only frame", [new(Dom, 10, 0, 64)], [new(Dom, 12, 0, 64)]),
                ("in place on a read-only frame", [new(Dom, 12, 0, 64)], []),
                ("another domain's frame number", [new(8, 10, 0, 64)], []),
            };
            for (int i = 0; i < cases.Length; i++)
            {
                Assert.Equal(CpaStatus.Success, inst.PerformOpMachine(cases[i].Name, Dom, session!, iv, cases[i].Src, cases[i].Dst));
            }

            done.WaitFor(inst, cases.Length);
            foreach (var c in done.All)
            {
                Assert.True(c.Status == CpaStatus.Fail, $"{c.Tag}: {c.Status}");
            }

            Assert.Equal(before[0], pages.Page(0).ToArray());
            Assert.Equal(before[1], pages.Page(1).ToArray());
            Assert.Equal(before[2], pages.Page(2).ToArray());
            Assert.Equal(cases.Length, device.QueryCounters().Errors);
            Assert.Equal(0, device.QueryCounters().DmaSegments); // a refused request used no segment

            // Registered and writable: the same request goes through.
            Assert.Equal(CpaStatus.Success, inst.PerformOpMachine("good", Dom, session!, iv, [new(Dom, 10, 0, 64)], []));
            done.WaitFor(inst, cases.Length + 1);
            Assert.Equal(CpaStatus.Success, done.All[^1].Status);
            Assert.Equal(BouncyReference.Transform(SymCipherAlgorithm.TripleDesCbc, SymCipherDirection.Encrypt, new byte[24], iv, before[0].AsSpan(0, 64)), pages.Page(0)[..64].ToArray());

            // After unregistering, refused again.
            inst.Dma.Unregister(Dom, 10);
            Assert.Equal(CpaStatus.Success, inst.PerformOpMachine("gone", Dom, session!, iv, [new(Dom, 10, 0, 64)], []));
            done.WaitFor(inst, cases.Length + 2);
            Assert.Equal(CpaStatus.Fail, done.All[^1].Status);
        }
    }

    [Theory]
    [InlineData(SymCipherAlgorithm.TripleDesCbc, SymCipherDirection.Encrypt, true)]
    [InlineData(SymCipherAlgorithm.TripleDesCbc, SymCipherDirection.Decrypt, true)]
    [InlineData(SymCipherAlgorithm.TripleDesCtr, SymCipherDirection.Encrypt, true)]
    [InlineData(SymCipherAlgorithm.DesCbc, SymCipherDirection.Encrypt, false)]
    [InlineData(SymCipherAlgorithm.DesEcb, SymCipherDirection.Decrypt, false)]
    [InlineData(SymCipherAlgorithm.TripleDesCtr, SymCipherDirection.Decrypt, false)]
    public void Machine_address_requests_over_scattered_guest_frames_agree_with_BouncyCastle(SymCipherAlgorithm alg, SymCipherDirection dir, bool inPlace)
    {
        using TolapaiDevice device = TolapaiDevice.Create(new DeviceOptions { Coherence = CoherenceMode.Strict, RingEntries = 16, RingPairs = 1 });
        Assert.Equal(CpaStatus.Success, NativeCyInstance.Create(device, CompletionMode.Polling, out NativeCyInstance? inst));
        using (inst)
        using (var pages = new FramePages(6))
        {
            const ushort Dom = 5;
            for (int i = 0; i < 6; i++)
            {
                inst!.Dma.Register(Dom, (uint)(100 + i), 1, pages.Address(i), writable: true, granted: true);
            }

            Random rnd = TestRandom.Create(40 + (int)alg);
            byte[] key = CySymContractTests.RandomKey(rnd, alg);
            byte[] iv = new byte[8];
            rnd.NextBytes(iv);
            int length = alg == SymCipherAlgorithm.TripleDesCtr ? 7999 : 8000;
            byte[] input = new byte[length];
            rnd.NextBytes(input);

            // Source: frames 100..102 from offset 100 (block boundaries fall inside frames, and
            // page boundaries inside blocks); destination: two segments in frames 103..105.
            pages.Write(0, 100, input);
            DmaSegment[] src = [new(Dom, 100, 100, 3000), new(Dom, 100, 3100, (uint)(length - 3000))];
            DmaSegment[] dst = inPlace ? [] : [new(Dom, 103, 20, 4100), new(Dom, 104, 200, (uint)(length - 4100))];
            var done = new Completions();
            Assert.Equal(CpaStatus.Success, inst!.InitSession(Setup(alg, dir, key), done.Callback, out CySymSession? session));
            Assert.Equal(CpaStatus.Success, inst.PerformOpMachine(null, Dom, session!, iv, src, dst));
            done.WaitFor(inst, 1);
            Assert.Equal(CpaStatus.Success, done.All[0].Status);

            byte[] expected = BouncyReference.Transform(alg, dir, key, iv, input);
            byte[] output = inPlace
                ? pages.Read(0, 100, length)
                : [.. pages.Read(3, 20, 4100), .. pages.Read(4, 200, length - 4100)];
            Assert.True(expected.AsSpan().SequenceEqual(output), $"{alg} {dir} seed {TestRandom.Seed}");
            DeviceCounters counters = device.QueryCounters();
            Assert.True(counters.Scattered >= 1);
            Assert.Equal(src.Length + dst.Length, counters.DmaSegments);
            Assert.Equal(0, counters.DmaSegmentsOutsideGrants);
            Assert.True(counters.BounceBytes > 0, "blocks straddle the host-discontiguous frames");
        }
    }

    [Fact]
    public void A_block_straddling_two_frames_is_bounced_and_counted_as_two_copies_of_its_bytes()
    {
        using TolapaiDevice device = TolapaiDevice.Create(new DeviceOptions { Coherence = CoherenceMode.Strict, RingEntries = 16, RingPairs = 1 });
        Assert.Equal(CpaStatus.Success, NativeCyInstance.Create(device, CompletionMode.Polling, out NativeCyInstance? inst));
        using (inst)
        using (var pages = new FramePages(2))
        {
            const ushort Dom = 6;
            inst!.Dma.Register(Dom, 40, 1, pages.Address(0), writable: true, granted: true);
            inst.Dma.Register(Dom, 41, 1, pages.Address(1), writable: true, granted: true);
            byte[] key = new byte[8];
            TestRandom.Create(80).NextBytes(key);
            byte[] input = new byte[16];
            TestRandom.Create(81).NextBytes(input);
            pages.Write(0, 4092, input);
            var done = new Completions();
            Assert.Equal(CpaStatus.Success, inst.InitSession(Setup(SymCipherAlgorithm.DesEcb, SymCipherDirection.Encrypt, key), done.Callback, out CySymSession? session));

            // 4 bytes at the end of frame 40, 12 in frame 41 (not next to it in the host): the
            // first block straddles the two and goes through the bounce block; the second does not.
            Assert.Equal(CpaStatus.Success, inst.PerformOpMachine(null, Dom, session!, [], [new(Dom, 40, 4092, 16)], []));
            done.WaitFor(inst, 1);
            Assert.Equal(CpaStatus.Success, done.All[0].Status);
            Assert.Equal(BouncyReference.Transform(SymCipherAlgorithm.DesEcb, SymCipherDirection.Encrypt, key, [], input), pages.Read(0, 4092, 16));
            DeviceCounters c = device.QueryCounters();
            Assert.Equal(16, c.BounceBytes); // one 8-byte block, gathered in and scattered out
            Assert.Equal(1, c.DmaSegments);
            Assert.Equal(0, c.DmaSegmentsOutsideGrants);
        }
    }

    [Fact]
    public void The_device_counts_every_segment_outside_the_requesters_granted_frames()
    {
        using TolapaiDevice device = TolapaiDevice.Create(new DeviceOptions { Coherence = CoherenceMode.Strict, RingEntries = 16, RingPairs = 1 });
        Assert.Equal(CpaStatus.Success, NativeCyInstance.Create(device, CompletionMode.Polling, out NativeCyInstance? inst));
        using (inst)
        using (var pages = new FramePages(3))
        {
            const ushort Guest = 5;
            inst!.Dma.Register(Guest, 100, 1, pages.Address(0), writable: true, granted: true); // mapped from the guest's grant
            inst.Dma.Register(Guest, 101, 1, pages.Address(1), writable: true);                 // the guest's frame, but not from a grant
            inst.Dma.Register(0, 200, 1, pages.Address(2), writable: true);                     // dom0's own memory
            var done = new Completions();
            Assert.Equal(CpaStatus.Success, inst.InitSession(Setup(SymCipherAlgorithm.DesEcb, SymCipherDirection.Encrypt, new byte[8]), done.Callback, out CySymSession? session));
            var steps = new (string Name, ushort Requester, DmaSegment[] Src, DmaSegment[] Dst, int Outside)[]
            {
                ("the guest's granted frame, in place", Guest, [new(Guest, 100, 0, 64)], [], 0),
                ("granted source, destination not from a grant", Guest, [new(Guest, 100, 0, 64)], [new(Guest, 101, 0, 64)], 1),
                ("a guest's request on dom0 memory (a backend's own copy)", Guest, [new(0, 200, 0, 64)], [], 1),
                ("a guest's request out of dom0 memory into its granted frame", Guest, [new(0, 200, 0, 64)], [new(Guest, 100, 64, 64)], 1),
                ("dom0's request on its own memory", 0, [new(0, 200, 0, 64)], [], 0),
                ("dom0's request on a guest's frame", 0, [new(Guest, 100, 0, 64)], [], 1),
            };
            long segments = 0, outside = 0;
            for (int i = 0; i < steps.Length; i++)
            {
                var step = steps[i];
                Assert.Equal(CpaStatus.Success, inst.PerformOpMachine(step.Name, step.Requester, session!, [], step.Src, step.Dst));
                done.WaitFor(inst, i + 1);
                Assert.True(done.All[i].Status == CpaStatus.Success, $"{step.Name}: {done.All[i].Status}");
                segments += step.Src.Length + step.Dst.Length;
                outside += step.Outside;
                DeviceCounters c = device.QueryCounters();
                Assert.True(c.DmaSegments == segments && c.DmaSegmentsOutsideGrants == outside, $"{step.Name}: {c.DmaSegments} segments, {c.DmaSegmentsOutsideGrants} outside; expected {segments}, {outside}");
            }
        }
    }

    [Fact]
    public void Machine_requests_with_bad_segments_or_overlap_are_refused()
    {
        using TolapaiDevice device = TolapaiDevice.Create(new DeviceOptions { Coherence = CoherenceMode.Strict, RingEntries = 16, RingPairs = 1 });
        Assert.Equal(CpaStatus.Success, NativeCyInstance.Create(device, CompletionMode.Polling, out NativeCyInstance? inst));
        using (inst)
        using (var pages = new FramePages(1))
        {
            inst!.Dma.Register(3, 1, 1, pages.Address(0), writable: true);
            var done = new Completions();
            Assert.Equal(CpaStatus.Success, inst.InitSession(Setup(SymCipherAlgorithm.DesCbc, SymCipherDirection.Encrypt, new byte[8]), done.Callback, out CySymSession? session));
            byte[] iv = new byte[8];

            // Refused by the driver before anything is submitted.
            Assert.Equal(CpaStatus.InvalidParam, inst.PerformOpMachine(null, 3, session!, iv, [], []));
            Assert.Equal(CpaStatus.InvalidParam, inst.PerformOpMachine(null, 3, session!, iv, new DmaSegment[13], []));
            Assert.Equal(CpaStatus.InvalidParam, inst.PerformOpMachine(null, 3, session!, iv, [new(3, 1, 0, 64)], [new(3, 1, 0, 56)]));
            Assert.Contains("destination", inst.LastError, StringComparison.Ordinal);
            Assert.Equal(CpaStatus.InvalidParam, inst.PerformOpMachine(null, 3, session!, iv, [new(3, 1, 0, 60)], []));
            Assert.Equal(CpaStatus.InvalidParam, inst.PerformOpMachine(null, 3, session!, iv, [new(3, 1, 4096, 8)], []));
            Assert.Equal(CpaStatus.InvalidParam, inst.PerformOpMachine(null, 3, session!, new byte[4], [new(3, 1, 0, 64)], []));

            // Refused by the device: source and destination overlap without being the same bytes.
            Assert.Equal(CpaStatus.Success, inst.PerformOpMachine("overlap", 3, session!, iv, [new(3, 1, 0, 64)], [new(3, 1, 8, 64)]));
            done.WaitFor(inst, 1);
            Assert.Equal(CpaStatus.Fail, done.All[0].Status);
            inst.QueryStats(out SymStats stats);
            Assert.Equal(6, stats.NumSymOpRequestErrors);
            Assert.Equal(1, stats.NumSymOpRequests);
            Assert.Equal(1, stats.NumSymOpCompletedErrors);
        }
    }

    [Fact]
    public void A_full_ring_answers_Retry_and_takes_requests_again_once_polled()
    {
        using TolapaiDevice device = TolapaiDevice.Create(new DeviceOptions { Coherence = CoherenceMode.Strict, RingEntries = 8, RingPairs = 1 });
        Assert.Equal(CpaStatus.Success, NativeCyInstance.Create(device, CompletionMode.Polling, out NativeCyInstance? inst));
        using (inst)
        {
            var done = new Completions();
            Assert.Equal(CpaStatus.Success, inst!.InitSession(Setup(SymCipherAlgorithm.DesEcb, SymCipherDirection.Encrypt, new byte[8]), done.Callback, out CySymSession? session));
            Assert.Equal(CpaStatus.Success, inst.AllocateBufferList([64], out BufferList? list));
            var op = new SymOpData { Session = session, MessageLenToCipher = 64 };
            for (int i = 0; i < 8; i++)
            {
                Assert.Equal(CpaStatus.Success, inst.PerformOp(i, op, list!, list!));
            }

            Assert.Equal(CpaStatus.Retry, inst.PerformOp(8, op, list!, list!));
            Assert.Contains("full", inst.LastError, StringComparison.Ordinal);
            done.WaitFor(inst, 8);
            Assert.Equal(CpaStatus.Success, inst.PerformOp(8, op, list!, list!));
            done.WaitFor(inst, 9);
            inst.QueryStats(out SymStats stats);
            Assert.Equal(9, stats.NumSymOpRequests);
            Assert.Equal(1, stats.NumSymOpRetries);
            Assert.Equal(0, stats.NumSymOpRequestErrors);
            Assert.Equal(9, stats.NumSymOpCompleted);
            Assert.Equal(Enumerable.Range(0, 9).Cast<object?>(), done.All.Select(c => c.Tag));
        }
    }

    [Theory]
    [InlineData(CompletionMode.Polling, 1)]
    [InlineData(CompletionMode.Interrupt, 2)]
    public void The_sample_resubmits_on_Retry_and_completes_and_verifies_every_operation(CompletionMode mode, int engines)
    {
        using TolapaiDevice device = TolapaiDevice.Create(new DeviceOptions { Coherence = CoherenceMode.Strict, RingEntries = 16, RingPairs = 1, Engines = engines });
        Assert.Equal(CpaStatus.Success, NativeCyInstance.Create(device, mode, out NativeCyInstance? inst));
        using (inst)
        {
            var options = new CipherPerfOptions { Sizes = [64, 4096], Ops = 400, Depth = 48, WarmupOps = 0, Seed = TestRandom.Seed };
            CipherPerfReport report = CipherPerf.Run(inst!, options);
            Assert.Equal(2, report.Results.Count);
            foreach (CipherPerfResult r in report.Results)
            {
                Assert.True(r.Verified, $"size {r.Size}: {r.Failures} failures, {r.Mismatches} mismatches (seed {TestRandom.Seed})");
                Assert.Equal(400, r.Ops);
                Assert.True(r.Retries > 0, "depth 48 on a 16-entry ring must meet Retry");
                Assert.True(r.LatencyNs.P50 > 0 && r.LatencyNs.P50 <= r.LatencyNs.P99 && r.LatencyNs.P99 <= r.LatencyNs.P999 && r.LatencyNs.P999 <= r.LatencyNs.Max);
            }

            inst!.QueryStats(out SymStats stats);
            Assert.Equal(800, stats.NumSymOpRequests);
            Assert.Equal(800, stats.NumSymOpCompleted);
            Assert.Equal(report.Results.Sum(r => r.Retries), stats.NumSymOpRetries);
            Assert.Equal(2, stats.NumSessionsRemoved);
        }
    }

    [Fact]
    public void The_sample_runs_on_the_software_binding_and_a_bad_device_output_is_caught()
    {
        using var sw = new SoftwareCyInstance();
        CipherPerfReport report = CipherPerf.Run(sw, new CipherPerfOptions { Algorithm = SymCipherAlgorithm.TripleDesCtr, Sizes = [100], Ops = 200, Depth = 8, WarmupOps = 10 });
        Assert.True(report.Results[0].Verified);

        // A driver that loses its request entries (strict mode) gets no right output: the sample says so.
        using TolapaiDevice device = TolapaiDevice.Create(new DeviceOptions { Coherence = CoherenceMode.Strict, RingEntries = 16, RingPairs = 1 });
        Assert.Equal(CpaStatus.Success, NativeCyInstance.Create(device, CompletionMode.Polling, (d, p) => new NoEntryFlushQueue(d, p), out NativeCyInstance? bad));
        using (bad)
        {
            CipherPerfReport r = CipherPerf.Run(bad!, new CipherPerfOptions { Sizes = [64], Ops = 50, Depth = 4, WarmupOps = 0 });
            Assert.False(r.Results[0].Verified);
            Assert.Equal(50, r.Results[0].Failures);
        }
    }

    [Fact]
    public void A_file_backed_region_works_and_disposing_an_instance_returns_its_sessions_and_frames()
    {
        string dir = Directory.CreateTempSubdirectory("tolapai-device-").FullName;
        try
        {
            string path = Path.Combine(dir, "device");
            using TolapaiDevice device = TolapaiDevice.Create(new DeviceOptions { Coherence = CoherenceMode.Strict, RingEntries = 8, RingPairs = 1, RegionPath = path });
            Assert.Equal(device.Region.Size, new FileInfo(path).Length);
            Assert.Equal(RegionLayout.Magic, BitConverter.ToUInt32(File.ReadAllBytes(path), 0));
            Assert.Equal(CpaStatus.Success, NativeCyInstance.Create(device, CompletionMode.Polling, out NativeCyInstance? inst));
            Assert.Equal(CpaStatus.Resource, NativeCyInstance.Create(device, CompletionMode.Polling, out _));
            var done = new Completions();
            Assert.Equal(CpaStatus.Success, inst!.InitSession(Setup(SymCipherAlgorithm.DesCbc, SymCipherDirection.Encrypt, new byte[8]), done.Callback, out CySymSession? session));
            Assert.Equal(CpaStatus.Success, inst.AllocateBufferList([5000, 64], out BufferList? list));
            Assert.Equal(3, device.Dma.RegisteredFrames);
            Assert.Equal(1, device.SessionCount);
            Assert.Equal(CpaStatus.Success, inst.PerformOp(null, new SymOpData { Session = session, Iv = new byte[8], MessageLenToCipher = 5064 }, list!, list!));
            inst.Dispose();

            // The operation in flight completed before the memory went; then everything was returned.
            Assert.Equal(1, done.Count);
            Assert.Equal(0, device.Dma.RegisteredFrames);
            Assert.Equal(0, device.SessionCount);
            Assert.True(list!.IsFreed);
            Assert.Equal(CpaStatus.Fail, inst.InitSession(Setup(SymCipherAlgorithm.DesCbc, SymCipherDirection.Encrypt, new byte[8]), done.Callback, out _));

            // The ring pair is free again.
            Assert.Equal(CpaStatus.Success, NativeCyInstance.Create(device, CompletionMode.Polling, out NativeCyInstance? again));
            again!.Dispose();
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Histogram_percentiles_are_within_their_bucket()
    {
        var h = new LatencyHistogram();
        for (int i = 1; i <= 1000; i++)
        {
            h.Record(i * 1000);
        }

        Assert.InRange(h.Percentile(50), 500_000 * 0.98, 500_000 * 1.02);
        Assert.InRange(h.Percentile(99), 990_000 * 0.98, 990_000 * 1.02);
        Assert.Equal(1_000_000, h.Max);
        Assert.Equal(1_000_000, h.Percentile(100));
    }
}

public sealed class AllocationTests
{
    private static long s_completed;
    private static readonly SymCallback Count = static (_, _, _) => Interlocked.Increment(ref s_completed);

    public static TheoryData<string> Bindings() => new() { "software", "native" };

    [Theory]
    [MemberData(nameof(Bindings))]
    public void PerformOp_Poll_and_PerformOpAsync_allocate_nothing_per_operation_and_neither_does_the_engine(string binding)
    {
        using TolapaiDevice? device = binding == "native" ? TolapaiDevice.Create(new DeviceOptions { Coherence = CoherenceMode.Strict, RingEntries = 64, RingPairs = 1 }) : null;
        ICySymInstance inst;
        if (device is null)
        {
            inst = new SoftwareCyInstance();
        }
        else
        {
            Assert.Equal(CpaStatus.Success, NativeCyInstance.Create(device, CompletionMode.Polling, out NativeCyInstance? n));
            inst = n!;
        }

        using (inst)
        {
            Assert.Equal(CpaStatus.Success, inst.InitSession(new SymSessionSetupData(SymCipherAlgorithm.TripleDesCbc, SymCipherDirection.Encrypt, new byte[24]), Count, out CySymSession? session));
            Assert.Equal(CpaStatus.Success, inst.AllocateBufferList([4096], out BufferList? list));
            var op = new SymOpData { Session = session, Iv = new byte[8], MessageLenToCipher = 4096 };
            object tag = new();
            int failures = 0;

            void Round(int ops)
            {
                long target = Interlocked.Read(ref s_completed) + ops;
                for (int i = 0; i < ops; i++)
                {
                    while (inst.PerformOp(tag, op, list!, list!) == CpaStatus.Retry)
                    {
                        inst.Poll(0, out _);
                    }
                }

                while (Interlocked.Read(ref s_completed) < target)
                {
                    inst.Poll(0, out _);
                }

                for (int i = 0; i < ops / 4; i++)
                {
                    ValueTask<CpaStatus> t = inst.PerformOpAsync(op, list!, list!);
                    while (!t.IsCompleted)
                    {
                        inst.Poll(0, out _);
                    }

                    if (t.GetAwaiter().GetResult() != CpaStatus.Success)
                    {
                        failures++; // counted, not asserted here: an assertion allocates
                    }
                }
            }

            Round(300); // warm-up: JIT, tier-up, pools, lazily built key tables

            // The window: this thread's own count around the steady-state rounds, and each
            // engine thread's, read on the engine thread itself when asked (after the warm-up
            // and after the last completion). Exact bytes, not a per-operation quotient.
            long[] enginesBefore = device?.SampleEngineAllocatedBytes() ?? [];
            long before = GC.GetAllocatedBytesForCurrentThread();
            Round(1000);
            long submitting = GC.GetAllocatedBytesForCurrentThread() - before;
            long[] enginesAfter = device?.SampleEngineAllocatedBytes() ?? [];
            Assert.Equal(0, failures);
            Assert.True(submitting == 0, $"{binding}: the submitting (and polling) thread allocated {submitting} B over 1250 operations");
            for (int e = 0; e < enginesBefore.Length; e++)
            {
                Assert.True(enginesAfter[e] == enginesBefore[e], $"{binding}: engine {e} allocated {enginesAfter[e] - enginesBefore[e]} B over 1250 operations");
            }

            Assert.Equal(device is null ? 0 : 1, enginesBefore.Length);
        }
    }
}

public sealed class ConcurrencyTests
{
    [Fact]
    public async Task Three_instances_on_three_threads_share_two_engines_and_every_output_verifies()
    {
        using TolapaiDevice device = TolapaiDevice.Create(new DeviceOptions { Coherence = CoherenceMode.Strict, RingEntries = 32, RingPairs = 3, Engines = 2 });
        var instances = new NativeCyInstance[3];
        for (int i = 0; i < 3; i++)
        {
            Assert.Equal(CpaStatus.Success, NativeCyInstance.Create(device, i == 2 ? CompletionMode.Interrupt : CompletionMode.Polling, out NativeCyInstance? inst));
            instances[i] = inst!;
        }

        try
        {
            SymCipherAlgorithm[] algs = [SymCipherAlgorithm.TripleDesCbc, SymCipherAlgorithm.DesCbc, SymCipherAlgorithm.TripleDesCtr];
            Task<CipherPerfReport>[] runs = [.. Enumerable.Range(0, 3).Select(i => Task.Factory.StartNew(
                () => CipherPerf.Run(instances[i], new CipherPerfOptions { Algorithm = algs[i], Sizes = [64, 1024], Ops = 300, Depth = 40, WarmupOps = 0, Seed = TestRandom.Seed + i }),
                TaskCreationOptions.LongRunning))];
            CipherPerfReport[] reports = await Task.WhenAll(runs).WaitAsync(TimeSpan.FromSeconds(60));
            foreach (CipherPerfReport report in reports)
            {
                foreach (CipherPerfResult r in report.Results)
                {
                    Assert.True(r.Verified, $"{report.Algorithm} size {r.Size}: {r.Failures} failures, {r.Mismatches} mismatches (seed {TestRandom.Seed})");
                }
            }

            Assert.Equal(3 * 2 * 300, device.QueryCounters().Requests);
            Assert.Equal(0, device.QueryCounters().Errors);
        }
        finally
        {
            foreach (NativeCyInstance inst in instances)
            {
                inst.Dispose();
            }
        }
    }
}

public sealed unsafe class RebindTests
{
    [Fact]
    public void A_backend_can_rebind_one_flat_buffer_over_mapped_guest_pages_and_submit_through_PerformOp()
    {
        using TolapaiDevice device = TolapaiDevice.Create(new DeviceOptions { Coherence = CoherenceMode.Strict, RingEntries = 8, RingPairs = 1 });
        Assert.Equal(CpaStatus.Success, NativeCyInstance.Create(device, CompletionMode.Polling, out NativeCyInstance? inst));
        using (inst)
        using (var pages = new FramePages(3))
        {
            for (int i = 0; i < 3; i++)
            {
                inst!.Dma.Register(9, (uint)(50 + i), 1, pages.Address(i), writable: true);
            }

            var done = new Completions();
            byte[] key = new byte[24];
            TestRandom.Create(60).NextBytes(key);
            byte[] iv = new byte[8];
            Assert.Equal(CpaStatus.Success, inst!.InitSession(new SymSessionSetupData(SymCipherAlgorithm.TripleDesCbc, SymCipherDirection.Encrypt, key), done.Callback, out CySymSession? session));

            // One unbound flat buffer, one list, reused for every request.
            var flat = new FlatBuffer(maxFrames: 2);
            var list = new BufferList(inst, [flat]);
            Assert.False(flat.HasMachineAddress);
            for (int round = 0; round < 3; round++)
            {
                byte[] input = new byte[1024];
                TestRandom.Create(61 + round).NextBytes(input);

                // Round 2 straddles pages 1 and 2 (frames 51, 52), the others sit in one page.
                int page = round == 2 ? 1 : round;
                int offset = round == 2 ? 3584 : 128;
                pages.Write(page, offset, input);
                if (round == 2)
                {
                    flat.Rebind(pages.Address(1) + offset, 1024, 9, [51u, 52u]);
                }
                else
                {
                    flat.Rebind(pages.Address(page) + offset, 1024, 9, (uint)(50 + page));
                }

                Assert.Equal(CpaStatus.Success, inst.PerformOp(round, new SymOpData { Session = session, Iv = iv, MessageLenToCipher = 1024 }, list, list));
                done.WaitFor(inst, round + 1);
                Assert.Equal(CpaStatus.Success, done.All[round].Status);
                Assert.Equal(BouncyReference.Transform(SymCipherAlgorithm.TripleDesCbc, SymCipherDirection.Encrypt, key, iv, input), pages.Read(page, offset, 1024));
            }

            Assert.Throws<ArgumentException>(() => flat.Rebind(pages.Address(0) + 4000, 5000, 9, 50u));
            Assert.Throws<ArgumentException>(() => flat.Rebind(pages.Address(0), 100, 9, [1u, 2u, 3u]));

            // Freeing a list the instance did not allocate frees nothing (the pages are still
            // the test's, freed once by FramePages).
            Assert.Equal(CpaStatus.Success, inst.FreeBufferList(list));
            Assert.True(list.IsFreed);
        }
    }
}

public sealed unsafe class ManySegmentTests
{
    [Fact]
    public void A_device_configured_for_more_segments_takes_requests_with_many_and_refuses_one_more()
    {
        using TolapaiDevice device = TolapaiDevice.Create(new DeviceOptions { Coherence = CoherenceMode.Strict, RingEntries = 8, RingPairs = 1, MaxSegments = 64 });
        Assert.Equal(1088, device.Region.Layout.RequestEntrySize);
        Assert.Equal(CpaStatus.Success, NativeCyInstance.Create(device, CompletionMode.Polling, out NativeCyInstance? inst));
        using (inst)
        using (var pages = new FramePages(4))
        {
            for (int i = 0; i < 4; i++)
            {
                inst!.Dma.Register(4, (uint)(10 + i), 1, pages.Address(i), writable: true);
            }

            Assert.Equal(64, inst!.SegmentLimit);
            Random rnd = TestRandom.Create(70);
            byte[] key = new byte[16];
            rnd.NextBytes(key);
            byte[] iv = new byte[8];
            rnd.NextBytes(iv);
            byte[] input = new byte[4000];
            rnd.NextBytes(input);
            pages.Write(0, 0, input);

            // Source: 40 pieces of 100 bytes from frames 10 and 11, in order (block boundaries
            // fall inside pieces); destination: 20 pieces of 200 bytes in frames 12 and 13.
            var src = new DmaSegment[40];
            for (int k = 0; k < 40; k++)
            {
                int at = k * 100;
                src[k] = new DmaSegment(4, (uint)(10 + (at / 4096)), (uint)(at % 4096), 100);
            }

            var dst = new DmaSegment[20];
            for (int k = 0; k < 20; k++)
            {
                int at = k * 200;
                dst[k] = new DmaSegment(4, (uint)(12 + (at / 4096)), (uint)(at % 4096), 200);
            }

            var done = new Completions();
            Assert.Equal(CpaStatus.Success, inst.InitSession(new SymSessionSetupData(SymCipherAlgorithm.TripleDesCbc, SymCipherDirection.Encrypt, key), done.Callback, out CySymSession? session));
            Assert.Equal(CpaStatus.Success, inst.PerformOpMachine(null, 4, session!, iv, src, dst));
            done.WaitFor(inst, 1);
            Assert.Equal(CpaStatus.Success, done.All[0].Status);
            Assert.Equal(BouncyReference.Transform(SymCipherAlgorithm.TripleDesCbc, SymCipherDirection.Encrypt, key, iv, input), pages.Read(2, 0, 4000));

            // 65 segments: refused before submission.
            var tooMany = new DmaSegment[65];
            for (int k = 0; k < 65; k++)
            {
                tooMany[k] = new DmaSegment(4, 10, (uint)(k * 8), 8);
            }

            Assert.Equal(CpaStatus.InvalidParam, inst.PerformOpMachine(null, 4, session!, iv, tooMany, []));
            Assert.Contains("64", inst.LastError, StringComparison.Ordinal);
        }

        Assert.Throws<ArgumentException>(() => TolapaiDevice.Create(new DeviceOptions { MaxSegments = 255 }));
    }
}
