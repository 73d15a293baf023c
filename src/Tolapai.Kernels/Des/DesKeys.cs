namespace Tolapai.Kernels.Des;

/// <summary>Key checks that hardware does not make but callers may want: weak and degenerate keys.</summary>
public static class DesKeys
{
    // The 4 weak and 12 semi-weak DES keys (FIPS 74 / SP 800-67), with parity bits set.
    private static ReadOnlySpan<ulong> Weak =>
    [
        0x0101010101010101, 0xFEFEFEFEFEFEFEFE, 0xE0E0E0E0F1F1F1F1, 0x1F1F1F1F0E0E0E0E,
        0x011F011F010E010E, 0x1F011F010E010E01, 0x01E001E001F101F1, 0xE001E001F101F101,
        0x01FE01FE01FE01FE, 0xFE01FE01FE01FE01, 0x1FE01FE00EF10EF1, 0xE01FE01FF10EF10E,
        0x1FFE1FFE0EFE0EFE, 0xFE1FFE1FFE0EFE0E, 0xE0FEE0FEF1FEF1FE, 0xFEE0FEE0FEF1FEF1,
    ];

    private const ulong ParityMask = 0xFEFEFEFEFEFEFEFE;

    /// <summary>
    /// True when an 8-byte key is weak or semi-weak, or when a 3DES key has a weak component or
    /// degenerates to single DES (K1 = K2 or K2 = K3). Parity bits are ignored.
    /// </summary>
    public static bool IsWeakKey(ReadOnlySpan<byte> key)
    {
        if (!DesKeySchedule.IsValidKeyLength(key.Length))
        {
            throw new ArgumentException($"A DES key is 8 bytes and a 3DES key 16 or 24 bytes, not {key.Length}.", nameof(key));
        }

        Span<ulong> parts = stackalloc ulong[3];
        int count = key.Length / 8;
        for (int i = 0; i < count; i++)
        {
            parts[i] = System.Buffers.Binary.BinaryPrimitives.ReadUInt64BigEndian(key.Slice(i * 8, 8)) & ParityMask;
            foreach (ulong weak in Weak)
            {
                if (parts[i] == (weak & ParityMask))
                {
                    return true;
                }
            }
        }

        return count > 1 && (parts[0] == parts[1] || (count == 3 && parts[1] == parts[2]));
    }
}
