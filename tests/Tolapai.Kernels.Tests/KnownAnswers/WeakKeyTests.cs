using System.Buffers.Binary;
using Tolapai.Kernels.Des;

namespace Tolapai.Kernels.Tests.KnownAnswers;

/// <summary>
/// <see cref="DesKeys.IsWeakKey"/> against the 4 weak and 12 semi-weak keys of FIPS 74 /
/// SP 800-67 (listed here independently of the implementation's table, as Go's crypto/des
/// tests list them), and the property that makes them weak: the cipher still takes them, and
/// encrypting twice under a weak key (or once under each half of a semi-weak pair) is the identity.
/// </summary>
public class WeakKeyTests
{
    private const ulong ParityBits = 0x0101010101010101;

    private static readonly ulong[] Weak = [0x0101010101010101, 0xfefefefefefefefe, 0xe0e0e0e0f1f1f1f1, 0x1f1f1f1f0e0e0e0e];

    // Each pair encrypts under one key what the other decrypts: E_k2(E_k1(x)) = x.
    private static readonly (ulong First, ulong Second)[] SemiWeakPairs =
    [
        (0x011f011f010e010e, 0x1f011f010e010e01),
        (0x01e001e001f101f1, 0xe001e001f101f101),
        (0x01fe01fe01fe01fe, 0xfe01fe01fe01fe01),
        (0x1fe01fe00ef10ef1, 0xe01fe01ff10ef10e),
        (0x1ffe1ffe0efe0efe, 0xfe1ffe1ffe0efe0e),
        (0xe0fee0fef1fef1fe, 0xfee0fee0fef1fef1),
    ];

    private static readonly ulong[] Normal =
    [
        0x0123456789abcdef, 0xfedcba9876543210, 0x133457799bbcdff1, 0x0e329232ea6d0d73,
        0x23456789abcdef01, 0x456789abcdef0123,
    ];

    private static IEnumerable<ulong> WeakAndSemiWeak => Weak.Concat(SemiWeakPairs.SelectMany(p => new[] { p.First, p.Second }));

    // Some data to encrypt: the SP 800-20 Table 1 ciphertexts (64 unrelated-looking blocks, more
    // than the widest kernel's lanes) and an extra block for a tail.
    private static byte[] Message { get; } = Blocks.ToBytes(Sp80020Tables.Get(Sp80020Table.VariablePlaintext).Select(v => v.Ciphertext).Append(0x4e6f772069732074UL));

    public static TheoryData<ulong> WeakKeys => [.. Weak];

    public static TheoryData<ulong> WeakAndSemiWeakKeys => [.. WeakAndSemiWeak];

    public static TheoryData<ulong> NormalKeys => [.. Normal.Concat(Sp80020Tables.Get(Sp80020Table.VariableKey).Select(v => v.Key))];

    public static TheoryData<ulong, KeyForm, DesKernel> WeakKeysFormsAndKernels
    {
        get
        {
            var data = new TheoryData<ulong, KeyForm, DesKernel>();
            foreach (ulong key in Weak)
            {
                foreach (KeyForm form in KeyForms.All)
                {
                    foreach (DesKernel kernel in SupportedKernels.All)
                    {
                        data.Add(key, form, kernel);
                    }
                }
            }

            return data;
        }
    }

    public static TheoryData<ulong, ulong, DesKernel> SemiWeakPairsAndKernels
    {
        get
        {
            var data = new TheoryData<ulong, ulong, DesKernel>();
            foreach ((ulong first, ulong second) in SemiWeakPairs)
            {
                foreach (DesKernel kernel in SupportedKernels.All)
                {
                    data.Add(first, second, kernel);
                    data.Add(second, first, kernel);
                }
            }

            return data;
        }
    }

    private static byte[] Bytes(params ulong[] parts) => Blocks.ToBytes(parts);

    [Fact]
    public void There_are_4_weak_and_12_semi_weak_keys() => Assert.Equal(16, WeakAndSemiWeak.Distinct().Count());

    [Theory]
    [MemberData(nameof(WeakAndSemiWeakKeys))]
    public void Weak_and_semi_weak_keys_are_reported(ulong key) => Assert.True(DesKeys.IsWeakKey(Bytes(key)));

    [Theory]
    [MemberData(nameof(WeakAndSemiWeakKeys))]
    public void Parity_bits_are_ignored(ulong key)
    {
        Assert.True(DesKeys.IsWeakKey(Bytes(key ^ ParityBits)), "all parity bits flipped");
        for (int bit = 0; bit < 64; bit += 8)
        {
            Assert.True(DesKeys.IsWeakKey(Bytes(key ^ (1UL << bit))), $"parity bit of byte {7 - (bit / 8)} flipped");
        }
    }

    [Theory]
    [MemberData(nameof(WeakAndSemiWeakKeys))]
    public void A_weak_key_with_one_key_bit_flipped_is_not_weak(ulong key)
    {
        for (int bit = 1; bit < 64; bit++)
        {
            if (bit % 8 != 0)
            {
                Assert.False(DesKeys.IsWeakKey(Bytes(key ^ (1UL << bit))), $"key bit {bit} flipped");
            }
        }
    }

    [Theory]
    [MemberData(nameof(NormalKeys))]
    public void Normal_keys_are_not_weak(ulong key)
    {
        Assert.False(DesKeys.IsWeakKey(Bytes(key)), "K");
        Assert.False(DesKeys.IsWeakKey(Bytes(key ^ ParityBits)), "K with parity flipped");
    }

    [Fact]
    public void Three_distinct_normal_keys_are_not_weak()
    {
        Assert.False(DesKeys.IsWeakKey(Bytes(Normal[0], Normal[4])), "K1||K2");
        Assert.False(DesKeys.IsWeakKey(Bytes(Normal[0], Normal[4], Normal[5])), "K1||K2||K3");
    }

    [Fact]
    public void Three_des_key_written_out_as_k1_k2_k1_is_not_degenerate() =>
        Assert.False(DesKeys.IsWeakKey(Bytes(Normal[0], Normal[4], Normal[0])));

    [Theory]
    [MemberData(nameof(NormalKeys))]
    public void Three_des_keys_that_collapse_to_single_des_are_weak(ulong key)
    {
        ulong other = Normal[0] == key ? Normal[1] : Normal[0];
        Assert.True(DesKeys.IsWeakKey(Bytes(key, key)), "K||K");
        Assert.True(DesKeys.IsWeakKey(Bytes(key, key, key)), "K||K||K");
        Assert.True(DesKeys.IsWeakKey(Bytes(key, key, other)), "K1 = K2");
        Assert.True(DesKeys.IsWeakKey(Bytes(other, key, key)), "K2 = K3");
        Assert.True(DesKeys.IsWeakKey(Bytes(key, key ^ ParityBits)), "K||K with parity flipped in K2");
        Assert.True(DesKeys.IsWeakKey(Bytes(other, key, key ^ ParityBits)), "K2 = K3 up to parity");
    }

    [Theory]
    [MemberData(nameof(WeakAndSemiWeakKeys))]
    public void Three_des_keys_with_a_weak_part_are_weak(ulong weak)
    {
        Assert.True(DesKeys.IsWeakKey(Bytes(weak, Normal[0])), "K1 weak, 2-key");
        Assert.True(DesKeys.IsWeakKey(Bytes(Normal[0], weak)), "K2 weak, 2-key");
        Assert.True(DesKeys.IsWeakKey(Bytes(weak, Normal[0], Normal[4])), "K1 weak");
        Assert.True(DesKeys.IsWeakKey(Bytes(Normal[0], weak, Normal[4])), "K2 weak");
        Assert.True(DesKeys.IsWeakKey(Bytes(Normal[0], Normal[4], weak)), "K3 weak");
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(9)]
    [InlineData(15)]
    [InlineData(17)]
    [InlineData(23)]
    [InlineData(25)]
    [InlineData(32)]
    public void Wrong_key_length_throws(int length)
    {
        byte[] key = new byte[length];
        ArgumentException e = Assert.Throws<ArgumentException>(() => DesKeys.IsWeakKey(key));
        Assert.Equal("key", e.ParamName);
    }

    [Theory]
    [MemberData(nameof(WeakKeys))]
    public void Reference_encryption_under_a_weak_key_is_an_involution(ulong key)
    {
        byte[] keyBytes = Bytes(key);
        for (int i = 0; i < Message.Length / 8; i++)
        {
            ulong x = Blocks.At(Message, i);
            ulong once = DesReference.CryptBlock(keyBytes, x, decrypt: false);
            Blocks.Equal(x, DesReference.CryptBlock(keyBytes, once, decrypt: false), $"key {key:x16}, block {i}: E(E(x))");
            Blocks.Equal(once, DesReference.CryptBlock(keyBytes, x, decrypt: true), $"key {key:x16}, block {i}: D(x) = E(x)");
        }
    }

    [Theory]
    [MemberData(nameof(WeakKeysFormsAndKernels))]
    public void Kernel_accepts_a_weak_key_and_encrypting_twice_is_the_identity(ulong key, KeyForm form, DesKernel kernel)
    {
        foreach (ulong variant in new[] { key, key ^ ParityBits })
        {
            byte[] keyBytes = KeyForms.Expand(variant, form);
            byte[] once = Blocks.Ecb(keyBytes, CipherDirection.Encrypt, Message, kernel);
            Assert.NotEqual(Message, once);
            byte[] twice = Blocks.Ecb(keyBytes, CipherDirection.Encrypt, once, kernel);
            Assert.True(Message.AsSpan().SequenceEqual(twice), $"key {variant:x16} ({form}, {kernel}): E(E(x)) != x");
            byte[] decrypted = Blocks.Ecb(keyBytes, CipherDirection.Decrypt, Message, kernel);
            Assert.True(once.AsSpan().SequenceEqual(decrypted), $"key {variant:x16} ({form}, {kernel}): D(x) != E(x)");
        }
    }

    [Theory]
    [MemberData(nameof(SemiWeakPairsAndKernels))]
    public void Kernel_encrypting_under_both_halves_of_a_semi_weak_pair_is_the_identity(ulong first, ulong second, DesKernel kernel)
    {
        byte[] once = Blocks.Ecb(Bytes(first), CipherDirection.Encrypt, Message, kernel);
        Assert.NotEqual(Message, once);
        byte[] back = Blocks.Ecb(Bytes(second), CipherDirection.Encrypt, once, kernel);
        Assert.True(Message.AsSpan().SequenceEqual(back), $"E_{second:x16}(E_{first:x16}(x)) != x ({kernel})");
        Blocks.Equal(
            DesReference.CryptBlock(Bytes(second), BinaryPrimitives.ReadUInt64BigEndian(Message), decrypt: true),
            Blocks.At(once, 0),
            $"E_{first:x16} = D_{second:x16}");
    }
}
