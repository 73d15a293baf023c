using System.Runtime.Intrinsics.X86;

namespace Tolapai.Kernels.Des.Vector;

/// <summary>
/// The 64-lane round for CPUs with AVX-512 VBMI and GFNI. Each (S-box, target E-byte) pair
/// carries one bit, and an edge colouring of that bipartite graph (six colours: every S-box
/// feeds six targets and every target has six sources) gives each such bit a position that is
/// distinct both within the S-box's lookup byte and within the target. So a round is 8 key XORs,
/// 8 <c>vpermb</c> (one per S-box, all six of its output bits placed at once) and 48 ternary-logic
/// merges, instead of 48 <c>vpermb</c>: permutes are the scarce port. E-bytes keep their bits
/// in the colouring's order, converted with one GF(2) affine transform per E-byte on the way in
/// and out; round keys are stored in the same order.
/// </summary>
internal static partial class MergeRounds
{
    public static bool IsSupported => Gfni.V512.IsSupported && Avx512Vbmi.IsSupported && Avx512F.IsSupported;

    /// <summary>SBoxes[box * 64 + stored input]: the six output bits of the S-box, each at its colour in its target.</summary>
    internal static readonly byte[] SBoxes = BuildSBoxes();

    /// <summary>ToStored[j * 64 ..]: the affine matrix (a qword, repeated) taking natural E-byte j to stored order.</summary>
    internal static readonly byte[] ToStored = BuildMatrices(toStored: true);

    /// <summary>ToNatural[j * 64 ..]: the inverse of <see cref="ToStored"/>.</summary>
    internal static readonly byte[] ToNatural = BuildMatrices(toStored: false);

    /// <summary>
    /// The merge round's S-box tables with one key's round keys folded into their index
    /// (T[r, box][x] = SBoxes[box][x ^ k]): 8 tables of 64 bytes per round, so a single-key
    /// round needs no key XOR. <paramref name="storedKeys"/> are the six-bit keys in stored order.
    /// </summary>
    public static byte[] BuildKeyedTables(ReadOnlySpan<byte> storedKeys)
    {
        var tables = GC.AllocateArray<byte>(storedKeys.Length * 64, pinned: true);
        for (int entry = 0; entry < storedKeys.Length; entry++)
        {
            int box = entry & 7;
            for (int x = 0; x < 64; x++)
            {
                tables[(entry * 64) + x] = SBoxes[(box * 64) + (x ^ storedKeys[entry])];
            }
        }

        return tables;
    }

    /// <summary>A natural six-bit value of E-byte (or S-box input) <paramref name="box"/> in stored bit order.</summary>
    public static int Store(int box, int natural)
    {
        int stored = 0;
        for (int n = 0; n < 6; n++)
        {
            stored |= ((natural >> n) & 1) << StoredBit[(box * 6) + n];
        }

        return stored;
    }

    private static int Unstore(int box, int stored)
    {
        int natural = 0;
        for (int n = 0; n < 6; n++)
        {
            natural |= ((stored >> StoredBit[(box * 6) + n]) & 1) << n;
        }

        return natural;
    }

    private static byte[] BuildSBoxes()
    {
        var table = GC.AllocateArray<byte>(8 * 64, pinned: true);
        for (int box = 0; box < 8; box++)
        {
            for (int stored = 0; stored < 64; stored++)
            {
                uint output = EFormTables.PermutedOutput(box, Des.DesTables.SBox(box, Unstore(box, stored)));
                int bits = 0;
                for (int target = 0; target < 8; target++)
                {
                    // This S-box's one bit in the target lands where the target keeps it.
                    bits |= Store(target, EFormTables.EByte(output, target) & SourceMask(box, target));
                }

                table[(box * 64) + stored] = (byte)bits;
            }
        }

        return table;
    }

    /// <summary>The natural bit of E-byte <paramref name="target"/> that S-box <paramref name="box"/> feeds (0 if none).</summary>
    private static int SourceMask(int box, int target)
    {
        int mask = 0;
        for (int y = 0; y < 16; y++)
        {
            mask |= EFormTables.EByte(EFormTables.PermutedOutput(box, y), target);
        }

        return mask;
    }

    private static byte[] BuildMatrices(bool toStored)
    {
        var table = GC.AllocateArray<byte>(8 * 64, pinned: true);
        Span<byte> matrix = stackalloc byte[8];
        for (int box = 0; box < 8; box++)
        {
            matrix.Clear();
            for (int n = 0; n < 6; n++)
            {
                int p = StoredBit[(box * 6) + n];

                // vgf2p8affineqb: output bit o is the parity of (input & matrix byte 7 − o).
                if (toStored)
                {
                    matrix[7 - p] = (byte)(1 << n);
                }
                else
                {
                    matrix[7 - n] = (byte)(1 << p);
                }
            }

            for (int copy = 0; copy < 8; copy++)
            {
                matrix.CopyTo(table.AsSpan((box * 64) + (copy * 8)));
            }
        }

        return table;
    }
}
