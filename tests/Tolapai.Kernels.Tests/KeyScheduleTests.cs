using Tolapai.Kernels.Des;

namespace Tolapai.Kernels.Tests;

/// <summary>Key schedules: made once, reusable across calls and kernels, and cleared on Dispose.</summary>
public class KeyScheduleTests
{
    [Theory]
    [InlineData(8)]
    [InlineData(16)]
    [InlineData(24)]
    public void Dispose_zeroes_every_derived_form_of_the_key(int keyLength)
    {
        byte[] key = new byte[keyLength];
        new Random(keyLength).NextBytes(key);
        var schedule = DesKeySchedule.Create(key);
        byte[] data = new byte[1024];
        byte[] iv = new byte[8];

        // Let every kernel build its lazy forms (broadcast planes, keyed tables) first.
        foreach (DesKernel kernel in Enum.GetValues<DesKernel>())
        {
            if (DesCipher.IsSupported(kernel))
            {
                DesCipher.Transform(schedule, CipherMode.Ecb, CipherDirection.Encrypt, iv, data, new byte[data.Length], kernel);
            }
        }

        ReadOnlySpan<uint> cooked = schedule.Cooked;
        ReadOnlySpan<byte> natural = schedule.SixBitKeys(false);
        ReadOnlySpan<byte> stored = schedule.SixBitKeys(true);
        ReadOnlySpan<byte> planes = schedule.BroadcastPlanes;
        ReadOnlySpan<byte> tables = Des.Vector.MergeRounds.IsSupported ? schedule.KeyedTables : [];
        Assert.True(cooked.IndexOfAnyExcept(0u) >= 0);
        Assert.True(natural.IndexOfAnyExcept((byte)0) >= 0);

        schedule.Dispose();

        Assert.True(schedule.IsDisposed);
        Assert.Equal(-1, cooked.IndexOfAnyExcept(0u));
        Assert.Equal(-1, natural.IndexOfAnyExcept((byte)0));
        Assert.Equal(-1, stored.IndexOfAnyExcept((byte)0));
        Assert.Equal(-1, planes.IndexOfAnyExcept((byte)0));
        Assert.Equal(-1, tables.IndexOfAnyExcept((byte)0));
        Assert.Throws<ObjectDisposedException>(() => DesCipher.Transform(schedule, CipherMode.Ecb, CipherDirection.Encrypt, iv, data, new byte[data.Length]));
        schedule.Dispose();
    }

    [Theory]
    [InlineData(0)]
    [InlineData(7)]
    [InlineData(9)]
    [InlineData(32)]
    public void A_key_of_the_wrong_length_is_refused_with_its_length_named(int length)
    {
        var error = Assert.Throws<ArgumentException>(() => DesKeySchedule.Create(new byte[length]));
        Assert.Contains(length.ToString(System.Globalization.CultureInfo.InvariantCulture), error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Bad_arguments_to_Transform_are_refused_before_anything_is_written()
    {
        using var key = DesKeySchedule.Create(new byte[8]);
        byte[] output = new byte[24];
        Assert.Throws<ArgumentException>(() => DesCipher.Transform(key, CipherMode.Cbc, CipherDirection.Encrypt, new byte[7], new byte[16], output.AsSpan(0, 16)));
        Assert.Throws<ArgumentException>(() => DesCipher.Transform(key, CipherMode.Ecb, CipherDirection.Encrypt, [], new byte[12], output.AsSpan(0, 12)));
        Assert.Throws<ArgumentException>(() => DesCipher.Transform(key, CipherMode.Ecb, CipherDirection.Encrypt, [], new byte[16], output.AsSpan(0, 8)));
        Assert.Throws<ArgumentException>(() => DesCipher.Transform(key, (CipherMode)7, CipherDirection.Encrypt, [], new byte[8], output.AsSpan(0, 8)));
        Assert.Throws<ArgumentNullException>(() => DesCipher.Transform(null!, CipherMode.Ecb, CipherDirection.Encrypt, [], new byte[8], output.AsSpan(0, 8)));
        byte[] overlapping = new byte[24];
        Assert.Throws<ArgumentException>(() => DesCipher.Transform(key, CipherMode.Ecb, CipherDirection.Encrypt, [], overlapping.AsSpan(0, 16), overlapping.AsSpan(8, 16)));
        Assert.Equal(new byte[24], output);
        Assert.Equal(new byte[24], overlapping);
    }

    [Fact]
    public void Asking_for_a_kernel_the_CPU_lacks_is_NotSupported_and_Auto_always_runs()
    {
        // CI runs this suite again with DOTNET_EnableAVX512=0, DOTNET_EnableAVX2=0 and
        // DOTNET_EnableHWIntrinsic=0, where the wider kernels are missing.
        using var key = DesKeySchedule.Create(new byte[8]);
        foreach (DesKernel kernel in Enum.GetValues<DesKernel>())
        {
            if (!DesCipher.IsSupported(kernel))
            {
                var error = Assert.Throws<NotSupportedException>(() => DesCipher.Transform(key, CipherMode.Ecb, CipherDirection.Encrypt, [], new byte[8], new byte[8], kernel));
                Assert.Contains(kernel.ToString(), error.Message, StringComparison.Ordinal);
            }
        }

        Assert.True(DesCipher.IsSupported(DesCipher.Best));
        Assert.True(DesCipher.IsSupported(DesKernel.Scalar));
    }
}
