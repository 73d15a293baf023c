using Tolapai.Kernels.Des;

namespace Tolapai.Kernels.Tests;

/// <summary>
/// The contract every kernel keeps, run against each kernel this CPU supports (the CI job runs
/// the suite again with DOTNET_EnableAVX512F=0, DOTNET_EnableAVX2=0 and
/// DOTNET_EnableHWIntrinsic=0 so the narrower paths run too): every mode and direction, DES and
/// both 3DES keyings, lengths from 0 across several groups, odd offsets, in place and not, all
/// equal to BouncyCastle.
/// </summary>
public class KernelContractTests
{
    public static TheoryData<DesKernel> Kernels()
    {
        var data = new TheoryData<DesKernel>();
        foreach (DesKernel kernel in Enum.GetValues<DesKernel>())
        {
            if (kernel != DesKernel.Auto && DesCipher.IsSupported(kernel))
            {
                data.Add(kernel);
            }
        }

        return data;
    }

    private static readonly int[] BlockCounts = [0, 1, 2, 7, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129, 200, 517];

    [Theory]
    [MemberData(nameof(Kernels))]
    public void Every_mode_direction_and_length_matches_BouncyCastle(DesKernel kernel)
    {
        int seed = Environment.TickCount;
        var rng = new Random(seed);
        try
        {
            foreach (int keyLength in new[] { 8, 16, 24 })
            {
                foreach (CipherMode mode in Enum.GetValues<CipherMode>())
                {
                    foreach (CipherDirection direction in Enum.GetValues<CipherDirection>())
                    {
                        foreach (int blocks in BlockCounts)
                        {
                            int length = blocks * 8;
                            if (mode == CipherMode.Ctr && blocks > 0)
                            {
                                length -= rng.Next(8);
                            }

                            Check(kernel, rng, keyLength, mode, direction, length, inPlace: rng.Next(2) == 0, offset: rng.Next(8));
                        }
                    }
                }
            }
        }
        catch (Exception e)
        {
            throw new Xunit.Sdk.XunitException($"seed {seed}: {e.Message}");
        }
    }

    private static void Check(DesKernel kernel, Random rng, int keyLength, CipherMode mode, CipherDirection direction, int length, bool inPlace, int offset)
    {
        byte[] key = new byte[keyLength];
        byte[] iv = new byte[8];
        byte[] input = new byte[length];
        rng.NextBytes(key);
        rng.NextBytes(iv);
        rng.NextBytes(input);
        byte[] expected = BouncyReference.Transform(key, mode, direction, iv, input);

        using var schedule = DesKeySchedule.Create(key);
        byte[] buffer = new byte[length + 16];
        input.CopyTo(buffer, offset);
        byte[] output = inPlace ? buffer : new byte[length + 16];
        byte[] chain = (byte[])iv.Clone();
        DesCipher.Transform(schedule, mode, direction, chain, buffer.AsSpan(offset, length), output.AsSpan(offset, length), kernel);
        byte[] actual = output.AsSpan(offset, length).ToArray();
        Assert.True(
            expected.AsSpan().SequenceEqual(actual),
            $"{kernel} {keyLength * 8}-bit key {mode} {direction} {length} bytes (in place {inPlace}, offset {offset}) differs from BouncyCastle");
    }

    [Theory]
    [MemberData(nameof(Kernels))]
    public void Chaining_value_continues_a_stream_split_anywhere(DesKernel kernel)
    {
        var rng = new Random(4242);
        foreach (CipherMode mode in new[] { CipherMode.Cbc, CipherMode.Ctr })
        {
            foreach (CipherDirection direction in Enum.GetValues<CipherDirection>())
            {
                byte[] key = new byte[24];
                byte[] iv = new byte[8];
                byte[] input = new byte[8 * 300];
                rng.NextBytes(key);
                rng.NextBytes(iv);
                rng.NextBytes(input);
                byte[] expected = BouncyReference.Transform(key, mode, direction, iv, input);
                using var schedule = DesKeySchedule.Create(key);
                byte[] output = new byte[input.Length];
                byte[] chain = (byte[])iv.Clone();
                int position = 0;
                while (position < input.Length)
                {
                    int take = Math.Min(input.Length - position, 8 * (1 + rng.Next(80)));
                    DesCipher.Transform(schedule, mode, direction, chain, input.AsSpan(position, take), output.AsSpan(position, take), kernel);
                    position += take;
                }

                Assert.Equal(expected, output);
            }
        }
    }
}
