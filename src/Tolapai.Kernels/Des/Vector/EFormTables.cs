namespace Tolapai.Kernels.Des.Vector;

/// <summary>
/// Lookup tables of the byte-sliced pipeline, derived from the FIPS tables at start-up.
/// An E-byte holds the six S-box inputs b1..b6 (b1 = bit 5) of one S-box for one lane.
/// </summary>
internal static class EFormTables
{
    public const int PairCount = 48;

    /// <summary>Pair64[pair * 64 + x]: the contribution to the pair's target E-byte when its S-box sees input x.</summary>
    public static readonly byte[] Pair64 = Build64();

    /// <summary>SBox64[box * 64 + x]: the S-box's 4-bit output for input x.</summary>
    public static readonly byte[] SBox64 = BuildSBoxes();

    /// <summary>Pair16[pair * 16 + y]: the contribution to the pair's target E-byte when its S-box outputs y.</summary>
    public static readonly byte[] Pair16 = Build16();

    /// <summary>The six bits of E-byte <paramref name="target"/> of a natural big-endian 32-bit half.</summary>
    public static int EByte(uint half, int target)
    {
        int value = 0;
        for (int t = 0; t < 6; t++)
        {
            int desBit = (((4 * target) + t - 1 + 32) % 32) + 1;
            value = (value << 1) | (int)((half >> (32 - desBit)) & 1);
        }

        return value;
    }

    /// <summary>P applied to S-box <paramref name="box"/>'s output <paramref name="y"/>, as a natural 32-bit word.</summary>
    public static uint PermutedOutput(int box, int y) => (uint)Des.DesReference.Permute((uint)y << (28 - (4 * box)), 32, Des.DesTables.P);

    private static ReadOnlySpan<byte> Targets => VectorDes<V128Ops, System.Runtime.Intrinsics.Vector128<byte>>.PairTargets;

    private static ReadOnlySpan<byte> Sources => VectorDes<V128Ops, System.Runtime.Intrinsics.Vector128<byte>>.PairSources;

    private static byte[] Build64()
    {
        var table = GC.AllocateArray<byte>(PairCount * 64, pinned: true);
        for (int pair = 0; pair < PairCount; pair++)
        {
            for (int x = 0; x < 64; x++)
            {
                table[(pair * 64) + x] = (byte)EByte(PermutedOutput(Sources[pair], Des.DesTables.SBox(Sources[pair], x)), Targets[pair]);
            }
        }

        return table;
    }

    private static byte[] BuildSBoxes()
    {
        var table = GC.AllocateArray<byte>(8 * 64, pinned: true);
        for (int box = 0; box < 8; box++)
        {
            for (int x = 0; x < 64; x++)
            {
                table[(box * 64) + x] = (byte)Des.DesTables.SBox(box, x);
            }
        }

        return table;
    }

    private static byte[] Build16()
    {
        var table = GC.AllocateArray<byte>(PairCount * 16, pinned: true);
        for (int pair = 0; pair < PairCount; pair++)
        {
            for (int y = 0; y < 16; y++)
            {
                table[(pair * 16) + y] = (byte)EByte(PermutedOutput(Sources[pair], y), Targets[pair]);
            }
        }

        return table;
    }
}
