using System.Buffers.Binary;
using Tolapai.Kernels.Des;

namespace Tolapai.Kernels.Tests.KnownAnswers;

/// <summary>
/// Every kernel this CPU runs (with the current DOTNET_Enable* settings). Theories take their
/// kernel from here, so a kernel is covered as soon as <see cref="DesCipher.IsSupported"/> says yes.
/// </summary>
public static class SupportedKernels
{
    public static DesKernel[] All { get; } = [.. Enum.GetValues<DesKernel>().Where(DesCipher.IsSupported)];
}

/// <summary>Big-endian 64-bit blocks to and from bytes, ECB through the public API, and block-wise asserts that name the failing vector.</summary>
public static class Blocks
{
    public static byte[] ToBytes(IEnumerable<ulong> blocks)
    {
        ulong[] list = [.. blocks];
        byte[] bytes = new byte[list.Length * 8];
        for (int i = 0; i < list.Length; i++)
        {
            BinaryPrimitives.WriteUInt64BigEndian(bytes.AsSpan(i * 8, 8), list[i]);
        }

        return bytes;
    }

    public static ulong At(ReadOnlySpan<byte> bytes, int block) => BinaryPrimitives.ReadUInt64BigEndian(bytes.Slice(block * 8, 8));

    public static byte[] Ecb(byte[] key, CipherDirection direction, byte[] input, DesKernel kernel)
    {
        using var schedule = DesKeySchedule.Create(key);
        byte[] output = new byte[input.Length];
        DesCipher.Transform(schedule, CipherMode.Ecb, direction, [], input, output, kernel);
        return output;
    }

    public static void Equal(ulong expected, ulong actual, string what) =>
        Assert.True(expected == actual, $"{what}: expected {expected:x16}, got {actual:x16}");

    /// <summary>Checks <paramref name="actual"/> block by block so a failure names the block.</summary>
    public static void Equal(IReadOnlyList<ulong> expected, ReadOnlySpan<byte> actual, Func<int, string> what)
    {
        Assert.Equal(expected.Count * 8, actual.Length);
        for (int i = 0; i < expected.Count; i++)
        {
            Equal(expected[i], At(actual, i), what(i));
        }
    }
}
