using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Tolapai.Kernels.Des;

namespace Tolapai.Kernels.Tests;

/// <summary>Shape (b) and mixed batches through <see cref="DesCipher.RunBatch"/>, on every kernel.</summary>
public class BatchTests
{
    [Theory]
    [MemberData(nameof(KernelContractTests.Kernels), MemberType = typeof(KernelContractTests))]
    public unsafe void Many_cbc_encrypt_streams_with_their_own_keys_match_BouncyCastle(DesKernel kernel)
    {
        foreach (int streams in new[] { 1, 3, 17, 64, 65, 130, 600 })
        {
            int seed = (streams * 7919) + (int)kernel;
            var rng = new Random(seed);
            var keys = new DesKeySchedule[streams];
            var expected = new byte[streams][];
            var ivs = new byte[streams][];
            var inputs = new byte[streams][];
            var outputs = new byte[streams][];
            var handles = new List<GCHandle>();
            var jobs = new DesJob[streams];
            try
            {
                for (int s = 0; s < streams; s++)
                {
                    byte[] key = new byte[rng.Next(3) switch { 0 => 8, 1 => 16, _ => 24 }];
                    rng.NextBytes(key);
                    ivs[s] = new byte[8];
                    rng.NextBytes(ivs[s]);

                    // Lengths differ widely so lanes empty and refill at different steps; some are empty.
                    inputs[s] = new byte[8 * (rng.Next(5) == 0 ? 0 : rng.Next(1, 90))];
                    rng.NextBytes(inputs[s]);
                    expected[s] = BouncyReference.Transform(key, CipherMode.Cbc, CipherDirection.Encrypt, ivs[s], inputs[s]);
                    bool inPlace = rng.Next(2) == 0;
                    outputs[s] = inPlace ? (byte[])inputs[s].Clone() : new byte[inputs[s].Length];
                    byte[] source = inPlace ? outputs[s] : inputs[s];
                    var hs = GCHandle.Alloc(source, GCHandleType.Pinned);
                    var hd = GCHandle.Alloc(outputs[s], GCHandleType.Pinned);
                    handles.Add(hs);
                    handles.Add(hd);
                    keys[s] = DesKeySchedule.Create(key);
                    jobs[s] = new DesJob(keys[s], CipherMode.Cbc, CipherDirection.Encrypt, (byte*)hs.AddrOfPinnedObject(), (byte*)hd.AddrOfPinnedObject(), source.Length, BinaryPrimitives.ReadUInt64BigEndian(ivs[s]));
                }

                DesCipher.RunBatch(jobs, kernel);
                for (int s = 0; s < streams; s++)
                {
                    Assert.True(expected[s].AsSpan().SequenceEqual(outputs[s]), $"seed {seed}: stream {s} of {streams} ({keys[s].KeyLength}-byte key, {inputs[s].Length} bytes) differs on {kernel}");
                    ulong chain = inputs[s].Length == 0 ? BinaryPrimitives.ReadUInt64BigEndian(ivs[s]) : BinaryPrimitives.ReadUInt64BigEndian(expected[s].AsSpan(expected[s].Length - 8));
                    Assert.Equal(chain, jobs[s].Iv);
                }
            }
            finally
            {
                handles.ForEach(h => h.Free());
                Array.ForEach(keys, k => k?.Dispose());
            }
        }
    }

    [Theory]
    [MemberData(nameof(KernelContractTests.Kernels), MemberType = typeof(KernelContractTests))]
    public unsafe void Mixed_modes_in_one_batch_match_BouncyCastle(DesKernel kernel)
    {
        var rng = new Random(777 + (int)kernel);
        const int Count = 90;
        var jobs = new DesJob[Count];
        var keys = new DesKeySchedule[Count];
        var expected = new byte[Count][];
        var outputs = new byte[Count][];
        var handles = new List<GCHandle>();
        try
        {
            for (int i = 0; i < Count; i++)
            {
                var mode = (CipherMode)(i % 3);
                var direction = (CipherDirection)((i / 3) % 2);
                byte[] key = new byte[(i % 5) switch { 0 or 1 => 8, 2 => 16, _ => 24 }];
                byte[] iv = new byte[8];
                rng.NextBytes(key);
                rng.NextBytes(iv);
                byte[] input = new byte[(8 * rng.Next(0, 200)) + (mode == CipherMode.Ctr ? rng.Next(8) : 0)];
                rng.NextBytes(input);
                expected[i] = BouncyReference.Transform(key, mode, direction, iv, input);
                outputs[i] = new byte[input.Length + 1];
                var hs = GCHandle.Alloc(input, GCHandleType.Pinned);
                var hd = GCHandle.Alloc(outputs[i], GCHandleType.Pinned);
                handles.Add(hs);
                handles.Add(hd);
                keys[i] = DesKeySchedule.Create(key);
                jobs[i] = new DesJob(keys[i], mode, direction, (byte*)hs.AddrOfPinnedObject(), (byte*)hd.AddrOfPinnedObject() + 1, input.Length, BinaryPrimitives.ReadUInt64BigEndian(iv));
            }

            DesCipher.RunBatch(jobs, kernel);
            for (int i = 0; i < Count; i++)
            {
                Assert.True(expected[i].AsSpan().SequenceEqual(outputs[i].AsSpan(1)), $"job {i} ({jobs[i].Mode} {jobs[i].Direction}) differs on {kernel}");
            }
        }
        finally
        {
            handles.ForEach(h => h.Free());
            Array.ForEach(keys, k => k?.Dispose());
        }
    }

    [Fact]
    public unsafe void A_bad_job_rejects_the_whole_batch_before_anything_runs()
    {
        using var key = DesKeySchedule.Create(new byte[8]);
        var disposed = DesKeySchedule.Create(new byte[8]);
        disposed.Dispose();
        byte[] data = new byte[16];
        byte[] untouched = new byte[16];
        fixed (byte* p = data)
        {
            var good = new DesJob(key, CipherMode.Ecb, CipherDirection.Encrypt, p, p, 16);
            DesJob[][] bad =
            [
                [good, new DesJob(null!, CipherMode.Ecb, CipherDirection.Encrypt, p, p, 16)],
                [good, new DesJob(disposed, CipherMode.Ecb, CipherDirection.Encrypt, p, p, 16)],
                [good, new DesJob(key, CipherMode.Cbc, CipherDirection.Encrypt, p, p, 12)],
                [good, new DesJob(key, CipherMode.Ecb, CipherDirection.Encrypt, p, p + 4, 8)],
                [good, new DesJob(key, CipherMode.Ecb, CipherDirection.Encrypt, null, p, 8)],
                [good, new DesJob(key, CipherMode.Ecb, CipherDirection.Encrypt, p, p, -8)],
                [good, new DesJob(key, (CipherMode)9, CipherDirection.Encrypt, p, p, 8)],
            ];
            foreach (DesJob[] batch in bad)
            {
                var error = Assert.Throws<ArgumentException>(() => DesCipher.RunBatch(batch));
                Assert.False(string.IsNullOrWhiteSpace(error.Message));
                Assert.Equal(untouched, data);
            }
        }
    }
}
