namespace Tolapai.Kernels.Des;

/// <summary>
/// DES exactly as FIPS 46-3 writes it, one bit at a time. Slow on purpose: it is the yardstick
/// every other path is checked against and the "scalar reference" that SIMD ratios are quoted
/// against. Blocks and keys are 64-bit values loaded big-endian (FIPS bit 1 = bit 63).
/// </summary>
public static class DesReference
{
    /// <summary>Applies a FIPS permutation table to the low <paramref name="inputBits"/> bits of <paramref name="input"/>.</summary>
    internal static ulong Permute(ulong input, int inputBits, ReadOnlySpan<byte> table)
    {
        ulong output = 0;
        foreach (byte source in table)
        {
            output = (output << 1) | ((input >> (inputBits - source)) & 1);
        }

        return output;
    }

    /// <summary>The 16 round keys (48 bits each, FIPS bit 1 of K_n = bit 47) of a 64-bit key; parity bits are ignored.</summary>
    public static void RoundKeys(ulong key, Span<ulong> roundKeys)
    {
        if (roundKeys.Length < 16)
        {
            throw new ArgumentException("16 round keys are needed.", nameof(roundKeys));
        }

        ulong cd = Permute(key, 64, DesTables.Pc1);
        uint c = (uint)(cd >> 28) & 0x0FFFFFFF;
        uint d = (uint)cd & 0x0FFFFFFF;
        for (int round = 0; round < 16; round++)
        {
            for (int s = 0; s < DesTables.Shifts[round]; s++)
            {
                c = ((c << 1) | (c >> 27)) & 0x0FFFFFFF;
                d = ((d << 1) | (d >> 27)) & 0x0FFFFFFF;
            }

            roundKeys[round] = Permute(((ulong)c << 28) | d, 56, DesTables.Pc2);
        }
    }

    /// <summary>The cipher function f(R, K).</summary>
    internal static uint F(uint r, ulong roundKey)
    {
        ulong x = Permute(r, 32, DesTables.E) ^ roundKey;
        uint s = 0;
        for (int box = 0; box < 8; box++)
        {
            int six = (int)(x >> (42 - (6 * box))) & 0x3F;
            s = (s << 4) | (uint)DesTables.SBox(box, six);
        }

        return (uint)Permute(s, 32, DesTables.P);
    }

    /// <summary>Encrypts (or, with <paramref name="decrypt"/>, decrypts) one block with one DES key.</summary>
    public static ulong Crypt(ulong block, ReadOnlySpan<ulong> roundKeys, bool decrypt)
    {
        ulong ip = Permute(block, 64, DesTables.Ip);
        uint l = (uint)(ip >> 32);
        uint r = (uint)ip;
        for (int round = 0; round < 16; round++)
        {
            ulong k = roundKeys[decrypt ? 15 - round : round];
            uint next = l ^ F(r, k);
            l = r;
            r = next;
        }

        return Permute(((ulong)r << 32) | l, 64, DesTables.Fp);
    }

    /// <summary>One block of DES (8-byte key) or 3DES EDE (16-byte K1K2K1 or 24-byte K1K2K3 key).</summary>
    public static ulong CryptBlock(ReadOnlySpan<byte> key, ulong block, bool decrypt)
    {
        Span<ulong> k1 = stackalloc ulong[16];
        switch (key.Length)
        {
            case 8:
                RoundKeys(System.Buffers.Binary.BinaryPrimitives.ReadUInt64BigEndian(key), k1);
                return Crypt(block, k1, decrypt);
            case 16:
            case 24:
                Span<ulong> k2 = stackalloc ulong[16];
                Span<ulong> k3 = stackalloc ulong[16];
                RoundKeys(System.Buffers.Binary.BinaryPrimitives.ReadUInt64BigEndian(key), k1);
                RoundKeys(System.Buffers.Binary.BinaryPrimitives.ReadUInt64BigEndian(key[8..]), k2);
                RoundKeys(System.Buffers.Binary.BinaryPrimitives.ReadUInt64BigEndian(key.Length == 24 ? key[16..] : key), k3);
                return decrypt
                    ? Crypt(Crypt(Crypt(block, k3, true), k2, false), k1, true)
                    : Crypt(Crypt(Crypt(block, k1, false), k2, true), k3, false);
            default:
                throw new ArgumentException("A DES key is 8 bytes; a 3DES key is 16 or 24 bytes.", nameof(key));
        }
    }
}
