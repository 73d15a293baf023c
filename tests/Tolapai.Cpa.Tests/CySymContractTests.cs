namespace Tolapai.Cpa.Tests;

/// <summary>
/// What every binding must do, run against each (software, native on a strict-coherence
/// device in polling and interrupt mode): agree with BouncyCastle for every algorithm,
/// direction, in place and out of place, one buffer or several; refuse every bad input with
/// InvalidParam and a message, submitting nothing; keep stats that add up.
/// </summary>
public abstract class CySymContractTests : IDisposable
{
    protected abstract ICySymInstance Instance { get; }

    /// <summary>A second instance of the same binding (for the "belongs to another instance" cases).</summary>
    protected abstract ICySymInstance OtherInstance { get; }

    public virtual void Dispose()
    {
        GC.SuppressFinalize(this);
    }

    public static TheoryData<SymCipherAlgorithm, SymCipherDirection, bool, bool> Cases()
    {
        var data = new TheoryData<SymCipherAlgorithm, SymCipherDirection, bool, bool>();
        foreach (SymCipherAlgorithm alg in Enum.GetValues<SymCipherAlgorithm>())
        {
            foreach (SymCipherDirection dir in Enum.GetValues<SymCipherDirection>())
            {
                foreach (bool inPlace in new[] { true, false })
                {
                    foreach (bool scattered in new[] { false, true })
                    {
                        data.Add(alg, dir, inPlace, scattered);
                    }
                }
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Agrees_with_BouncyCastle(SymCipherAlgorithm alg, SymCipherDirection dir, bool inPlace, bool scattered)
    {
        Random rnd = TestRandom.Create((int)alg * 10 + (int)dir * 3 + (inPlace ? 1 : 0) + (scattered ? 100 : 0));
        byte[] key = RandomKey(rnd, alg);
        byte[] iv = new byte[8];
        rnd.NextBytes(iv);

        // Scattered: three flat buffers, the ciphered range starting inside the first and
        // ending inside the last, block boundaries falling inside buffers (CTR: odd length).
        int[] sizes = scattered ? [44, 4004, 300] : [4096];
        int offset = scattered ? 12 : 0;
        int length = scattered ? (alg == SymCipherAlgorithm.TripleDesCtr ? 4301 : 4296) : 4096;
        var done = new Completions();
        Assert.Equal(CpaStatus.Success, Instance.InitSession(new SymSessionSetupData(alg, dir, key), done.Callback, out CySymSession? session));
        Assert.Equal(CpaStatus.Success, Instance.AllocateBufferList(sizes, out BufferList? src));
        BufferList? dst = src;
        if (!inPlace)
        {
            Assert.Equal(CpaStatus.Success, Instance.AllocateBufferList(sizes, out dst));
        }

        byte[] input = new byte[sizes.Sum()];
        rnd.NextBytes(input);
        Buffers.Write(src!, input);
        byte[] dstBefore = inPlace ? input : new byte[input.Length];
        if (!inPlace)
        {
            rnd.NextBytes(dstBefore);
            Buffers.Write(dst!, dstBefore);
        }

        var op = new SymOpData { Session = session, PacketType = SymPacketType.Full, Iv = iv, CryptoStartSrcOffset = offset, MessageLenToCipher = length };
        Assert.Equal(CpaStatus.Success, Instance.PerformOp("tag", op, src!, dst!));
        done.WaitFor(Instance, 1);
        Assert.Equal(("tag", CpaStatus.Success), (done.All[0].Tag as string, done.All[0].Status));

        byte[] expected = BouncyReference.Transform(alg, dir, key, iv, input.AsSpan(offset, length));
        byte[] output = Buffers.Read(dst!);
        Assert.True(expected.AsSpan().SequenceEqual(output.AsSpan(offset, length)), $"{alg} {dir} inPlace={inPlace} scattered={scattered} seed {TestRandom.Seed}");

        // Bytes outside the range are not written.
        Assert.True(dstBefore.AsSpan(0, offset).SequenceEqual(output.AsSpan(0, offset)));
        Assert.True(dstBefore.AsSpan(offset + length).SequenceEqual(output.AsSpan(offset + length)));
        if (!inPlace)
        {
            Assert.True(input.AsSpan().SequenceEqual(Buffers.Read(src!)), "the source was changed");
        }

        Assert.Equal(CpaStatus.Success, Instance.RemoveSession(session!));
        Instance.FreeBufferList(src!);
        if (!inPlace)
        {
            Instance.FreeBufferList(dst!);
        }
    }

    [Fact]
    public void Many_operations_from_two_sessions_complete_with_their_tags_and_correct_data()
    {
        Random rnd = TestRandom.Create(7);
        const int Ops = 150;
        byte[] key1 = RandomKey(rnd, SymCipherAlgorithm.TripleDesCbc);
        byte[] key2 = RandomKey(rnd, SymCipherAlgorithm.DesCbc);
        var done = new Completions();
        Assert.Equal(CpaStatus.Success, Instance.InitSession(new SymSessionSetupData(SymCipherAlgorithm.TripleDesCbc, SymCipherDirection.Encrypt, key1), done.Callback, out CySymSession? s1));
        Assert.Equal(CpaStatus.Success, Instance.InitSession(new SymSessionSetupData(SymCipherAlgorithm.DesCbc, SymCipherDirection.Encrypt, key2), done.Callback, out CySymSession? s2));
        var lists = new BufferList[Ops];
        var inputs = new byte[Ops][];
        var ivs = new byte[Ops][];
        int submitted = 0;
        for (int i = 0; i < Ops; i++)
        {
            Assert.Equal(CpaStatus.Success, Instance.AllocateBufferList([1024], out BufferList? l));
            lists[i] = l!;
            inputs[i] = new byte[1024];
            rnd.NextBytes(inputs[i]);
            Buffers.Write(l!, inputs[i]);
            ivs[i] = new byte[8];
            rnd.NextBytes(ivs[i]);
            var op = new SymOpData { Session = i % 2 == 0 ? s1 : s2, Iv = ivs[i], MessageLenToCipher = 1024 };
            CpaStatus st;
            while ((st = Instance.PerformOp(i, op, l!, l!)) == CpaStatus.Retry)
            {
                Instance.Poll(0, out _);
            }

            Assert.Equal(CpaStatus.Success, st);
            submitted++;
        }

        done.WaitFor(Instance, Ops);
        Assert.Equal(Enumerable.Range(0, Ops).ToHashSet(), done.All.Select(c => (int)c.Tag!).ToHashSet());
        for (int i = 0; i < Ops; i++)
        {
            byte[] expected = BouncyReference.Transform(i % 2 == 0 ? SymCipherAlgorithm.TripleDesCbc : SymCipherAlgorithm.DesCbc, SymCipherDirection.Encrypt, i % 2 == 0 ? key1 : key2, ivs[i], inputs[i]);
            Assert.True(expected.AsSpan().SequenceEqual(Buffers.Read(lists[i])), $"op {i} seed {TestRandom.Seed}");
            lists[i].Dispose();
        }

        Assert.Equal(CpaStatus.Success, Instance.QueryStats(out SymStats stats));
        Assert.Equal(Ops, stats.NumSymOpRequests);
        Assert.Equal(Ops, stats.NumSymOpCompleted);
        Assert.Equal(0, stats.NumSymOpCompletedErrors);
        Assert.Equal(2, stats.NumSessionsInitialized);
    }

    [Fact]
    public async Task PerformOpAsync_completes_with_the_result()
    {
        Random rnd = TestRandom.Create(8);
        byte[] key = RandomKey(rnd, SymCipherAlgorithm.TripleDesCtr);
        byte[] iv = new byte[8];
        rnd.NextBytes(iv);
        Assert.Equal(CpaStatus.Success, Instance.InitSession(new SymSessionSetupData(SymCipherAlgorithm.TripleDesCtr, SymCipherDirection.Encrypt, key), null, out CySymSession? session));
        Assert.Equal(CpaStatus.Success, Instance.AllocateBufferList([333], out BufferList? list));
        byte[] input = new byte[333];
        rnd.NextBytes(input);
        for (int round = 0; round < 3; round++)
        {
            Buffers.Write(list!, input);
            ValueTask<CpaStatus> task = Instance.PerformOpAsync(new SymOpData { Session = session, Iv = iv, MessageLenToCipher = 333 }, list!, list!);
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            while (!task.IsCompleted && Instance.CompletionMode == CompletionMode.Polling)
            {
                Instance.Poll(0, out _);
                Assert.False(cts.IsCancellationRequested, "no completion");
            }

            Assert.Equal(CpaStatus.Success, await task);
            Assert.Equal(BouncyReference.Transform(SymCipherAlgorithm.TripleDesCtr, SymCipherDirection.Encrypt, key, iv, input), Buffers.Read(list!));
        }

        // A session without a callback cannot use PerformOp.
        Assert.Equal(CpaStatus.InvalidParam, Instance.PerformOp(null, new SymOpData { Session = session, Iv = iv, MessageLenToCipher = 8 }, list!, list!));
        Assert.Contains("callback", Instance.LastError, StringComparison.Ordinal);
    }

    [Fact]
    public void Bad_inputs_are_InvalidParam_with_a_message_and_nothing_is_submitted()
    {
        Random rnd = TestRandom.Create(9);
        var done = new Completions();
        byte[] key = RandomKey(rnd, SymCipherAlgorithm.TripleDesCbc);
        Assert.Equal(CpaStatus.Success, Instance.InitSession(new SymSessionSetupData(SymCipherAlgorithm.TripleDesCbc, SymCipherDirection.Encrypt, key), done.Callback, out CySymSession? session));
        Assert.Equal(CpaStatus.Success, Instance.AllocateBufferList([64], out BufferList? list));
        Assert.Equal(CpaStatus.Success, Instance.AllocateBufferList([64], out BufferList? empty));
        empty![0].DataLength = 0;
        Assert.Equal(CpaStatus.Success, OtherInstance.AllocateBufferList([64], out BufferList? foreign));
        Assert.Equal(CpaStatus.Success, OtherInstance.InitSession(new SymSessionSetupData(SymCipherAlgorithm.TripleDesCbc, SymCipherDirection.Encrypt, key), done.Callback, out CySymSession? foreignSession));
        Assert.Equal(CpaStatus.Success, Instance.InitSession(new SymSessionSetupData(SymCipherAlgorithm.TripleDesCbc, SymCipherDirection.Encrypt, key), done.Callback, out CySymSession? removed));
        Assert.Equal(CpaStatus.Success, Instance.RemoveSession(removed!));
        byte[] before = Buffers.Read(list!);
        byte[] iv = new byte[8];
        SymOpData Good() => new() { Session = session, Iv = iv, MessageLenToCipher = 64 };

        var cases = new (string Name, Func<CpaStatus> Call, CpaStatus Expected, string Message)[]
        {
            ("null source", () => Instance.PerformOp(null, Good(), null!, list!), CpaStatus.InvalidParam, "null"),
            ("null destination", () => Instance.PerformOp(null, Good(), list!, null!), CpaStatus.InvalidParam, "null"),
            ("empty buffers", () => Instance.PerformOp(null, Good() with { MessageLenToCipher = 8 }, empty, empty), CpaStatus.InvalidParam, "empty"),
            ("not whole blocks", () => Instance.PerformOp(null, Good() with { MessageLenToCipher = 60 }, list!, list!), CpaStatus.InvalidParam, "multiple"),
            ("zero length", () => Instance.PerformOp(null, Good() with { MessageLenToCipher = 0 }, list!, list!), CpaStatus.InvalidParam, "positive"),
            ("offset + length beyond", () => Instance.PerformOp(null, Good() with { CryptoStartSrcOffset = 8 }, list!, list!), CpaStatus.InvalidParam, "past"),
            ("negative offset", () => Instance.PerformOp(null, Good() with { CryptoStartSrcOffset = -8, MessageLenToCipher = 8 }, list!, list!), CpaStatus.InvalidParam, "negative"),
            ("short IV", () => Instance.PerformOp(null, Good() with { Iv = new byte[7] }, list!, list!), CpaStatus.InvalidParam, "IV"),
            ("no IV", () => Instance.PerformOp(null, Good() with { Iv = default }, list!, list!), CpaStatus.InvalidParam, "IV"),
            ("no session", () => Instance.PerformOp(null, Good() with { Session = null }, list!, list!), CpaStatus.InvalidParam, "null"),
            ("removed session", () => Instance.PerformOp(null, Good() with { Session = removed }, list!, list!), CpaStatus.InvalidParam, "removed"),
            ("session of another instance", () => Instance.PerformOp(null, Good() with { Session = foreignSession }, list!, list!), CpaStatus.InvalidParam, "belongs"),
            ("buffer of another instance", () => Instance.PerformOp(null, Good(), foreign!, list!), CpaStatus.InvalidParam, "belongs"),
            ("partial packet", () => Instance.PerformOp(null, Good() with { PacketType = SymPacketType.Partial }, list!, list!), CpaStatus.Unsupported, "Full"),
            ("wrong key length", () => Instance.InitSession(new SymSessionSetupData(SymCipherAlgorithm.DesCbc, SymCipherDirection.Encrypt, new byte[16]), done.Callback, out _), CpaStatus.InvalidParam, "key"),
            ("unknown algorithm", () => Instance.InitSession(new SymSessionSetupData((SymCipherAlgorithm)99, SymCipherDirection.Encrypt, new byte[8]), done.Callback, out _), CpaStatus.InvalidParam, "algorithm"),
            ("remove removed session", () => Instance.RemoveSession(removed!), CpaStatus.InvalidParam, "removed"),
            ("remove foreign session", () => Instance.RemoveSession(foreignSession!), CpaStatus.InvalidParam, "belongs"),
            ("zero-size buffer", () => Instance.AllocateBufferList([0], out _), CpaStatus.InvalidParam, "size"),
            ("no buffers", () => Instance.AllocateBufferList([], out _), CpaStatus.InvalidParam, "at least one"),
            ("free foreign list", () => Instance.FreeBufferList(foreign!), CpaStatus.InvalidParam, "belongs"),
        };

        Assert.Equal(CpaStatus.Success, Instance.QueryStats(out SymStats start));
        foreach (var c in cases)
        {
            Assert.True(c.Expected == c.Call(), $"{c.Name}: expected {c.Expected}, last error '{Instance.LastError}'");
            Assert.True(Instance.LastError?.Contains(c.Message, StringComparison.OrdinalIgnoreCase) == true, $"{c.Name}: message '{Instance.LastError}' lacks '{c.Message}'");
        }

        // Nothing was submitted: no completion, no data touched, the counters say refused.
        Thread.Sleep(20);
        if (Instance.CompletionMode == CompletionMode.Polling)
        {
            Assert.Equal(CpaStatus.Retry, Instance.Poll(0, out int delivered));
            Assert.Equal(0, delivered);
        }

        Assert.Equal(0, done.Count);
        Assert.Equal(before, Buffers.Read(list!));
        Assert.Equal(CpaStatus.Success, Instance.QueryStats(out SymStats end));
        Assert.Equal(start.NumSymOpRequests, end.NumSymOpRequests);
        Assert.Equal(start.NumSymOpRequestErrors + 14, end.NumSymOpRequestErrors);
        Assert.Equal(start.NumSessionErrors + 4, end.NumSessionErrors);

        // A freed list is refused too.
        Assert.Equal(CpaStatus.Success, Instance.FreeBufferList(list!));
        Assert.Equal(CpaStatus.InvalidParam, Instance.FreeBufferList(list!));
        Assert.Equal(CpaStatus.InvalidParam, Instance.PerformOp(null, Good(), list!, list!));
        Assert.Contains("freed", Instance.LastError, StringComparison.Ordinal);
    }

    [Fact]
    public void A_session_with_operations_in_flight_cannot_be_removed_and_stats_add_up()
    {
        Random rnd = TestRandom.Create(10);
        var done = new Completions();
        Assert.Equal(CpaStatus.Success, Instance.InitSession(new SymSessionSetupData(SymCipherAlgorithm.DesEcb, SymCipherDirection.Decrypt, RandomKey(rnd, SymCipherAlgorithm.DesEcb)), done.Callback, out CySymSession? session));
        Assert.Equal(CpaStatus.Success, Instance.AllocateBufferList([256], out BufferList? list));
        for (int i = 0; i < 5; i++)
        {
            Assert.Equal(CpaStatus.Success, Instance.PerformOp(i, new SymOpData { Session = session, MessageLenToCipher = 256 }, list!, list!));
        }

        if (Instance.CompletionMode == CompletionMode.Polling)
        {
            // Nobody polled yet: all five are in flight.
            Assert.Equal(5, session!.InFlight);
            Assert.Equal(CpaStatus.Retry, Instance.RemoveSession(session));
        }

        done.WaitFor(Instance, 5);
        SpinWait.SpinUntil(() => session!.InFlight == 0, TimeSpan.FromSeconds(10));
        Assert.Equal(CpaStatus.Success, Instance.RemoveSession(session!));
        Assert.Equal(CpaStatus.Success, Instance.QueryStats(out SymStats stats));
        Assert.Equal(stats.NumSymOpRequests, stats.NumSymOpCompleted + stats.NumSymOpCompletedErrors);
        Assert.Equal(5, stats.NumSymOpCompleted);
        Assert.Equal(1, stats.NumSessionsInitialized);
        Assert.Equal(1, stats.NumSessionsRemoved);
        Assert.Equal(CpaStatus.Success, Instance.GetSessionContextSize(new SymSessionSetupData(SymCipherAlgorithm.TripleDesCbc, SymCipherDirection.Encrypt, new byte[24]), out int size));
        Assert.True(size > 0);
    }

    internal static byte[] RandomKey(Random rnd, SymCipherAlgorithm alg)
    {
        byte[] key = new byte[alg is SymCipherAlgorithm.DesEcb or SymCipherAlgorithm.DesCbc ? 8 : 24];
        rnd.NextBytes(key);
        return key;
    }
}

internal static class Buffers
{
    public static void Write(BufferList list, ReadOnlySpan<byte> data)
    {
        foreach (FlatBuffer b in list.Buffers)
        {
            int n = Math.Min(b.DataLength, data.Length);
            data[..n].CopyTo(b.Span);
            data = data[n..];
        }
    }

    public static byte[] Read(BufferList list)
    {
        var all = new List<byte>();
        foreach (FlatBuffer b in list.Buffers)
        {
            all.AddRange(b.Span.ToArray());
        }

        return [.. all];
    }
}
