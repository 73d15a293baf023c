using Tolapai.Kernels.Des;

namespace Tolapai.Kernels.Tests;

public class ScalarAgainstBouncyCastleTests
{
    [Theory]
    [InlineData(8)]
    [InlineData(16)]
    [InlineData(24)]
    public void Reference_block_matches_BouncyCastle(int keyLength)
    {
        var rng = new Random(1234 + keyLength);
        for (int trial = 0; trial < 50; trial++)
        {
            byte[] key = new byte[keyLength];
            byte[] block = new byte[8];
            rng.NextBytes(key);
            rng.NextBytes(block);
            byte[] expected = BouncyReference.Transform(key, CipherMode.Ecb, CipherDirection.Encrypt, [], block);
            ulong actual = DesReference.CryptBlock(key, System.Buffers.Binary.BinaryPrimitives.ReadUInt64BigEndian(block), false);
            Assert.Equal(System.Buffers.Binary.BinaryPrimitives.ReadUInt64BigEndian(expected), actual);
            Assert.Equal(System.Buffers.Binary.BinaryPrimitives.ReadUInt64BigEndian(block), DesReference.CryptBlock(key, actual, true));
        }
    }

    [Theory]
    [InlineData(8, CipherMode.Ecb)]
    [InlineData(8, CipherMode.Cbc)]
    [InlineData(8, CipherMode.Ctr)]
    [InlineData(16, CipherMode.Cbc)]
    [InlineData(24, CipherMode.Ecb)]
    [InlineData(24, CipherMode.Cbc)]
    [InlineData(24, CipherMode.Ctr)]
    public void Scalar_kernel_matches_BouncyCastle(int keyLength, CipherMode mode)
    {
        var rng = new Random(99 + keyLength + (int)mode);
        foreach (var direction in new[] { CipherDirection.Encrypt, CipherDirection.Decrypt })
        {
            byte[] key = new byte[keyLength];
            byte[] iv = new byte[8];
            byte[] input = new byte[mode == CipherMode.Ctr ? 203 : 200];
            rng.NextBytes(key);
            rng.NextBytes(iv);
            rng.NextBytes(input);
            byte[] expected = BouncyReference.Transform(key, mode, direction, iv, input);
            using var schedule = DesKeySchedule.Create(key);
            byte[] output = new byte[input.Length];
            byte[] ivCopy = (byte[])iv.Clone();
            DesCipher.Transform(schedule, mode, direction, ivCopy, input, output, DesKernel.Scalar);
            Assert.Equal(expected, output);
        }
    }
}
