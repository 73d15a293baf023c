using System.Runtime.Intrinsics.X86;

namespace Tolapai.Kernels.Des.Vector;

/// <summary>
/// The 64-lane round with fewer permutes, for CPUs with AVX-512 VBMI and GFNI. The plain
/// byte-sliced round spends 48 <c>vpermb</c> per round, one per (S-box, target E-byte). Here
/// 8 <c>vpermb</c> give the S-box outputs, two outputs share each byte, and 29 GF(2) affine
/// transforms (<c>vgf2p8affineqb</c>) route their bits into the targets: P and E are linear,
/// so where a bit lands is an 8×8 bit matrix per (pair, target).
/// </summary>
internal static partial class AffineRounds
{
    public static bool IsSupported => Gfni.V512.IsSupported && Avx512Vbmi.IsSupported && Avx512F.IsSupported;

    /// <summary>SBoxNibbles[box * 64 + x] = S(x), shifted up by four for the second S-box of a pair.</summary>
    internal static readonly byte[] SBoxNibbles = BuildSBoxes();

    /// <summary>One 8×8 bit matrix per route, as a qword repeated across 64 bytes.</summary>
    internal static readonly byte[] Matrices = BuildMatrices();

    private static byte[] BuildSBoxes()
    {
        var table = GC.AllocateArray<byte>(8 * 64, pinned: true);
        for (int box = 0; box < 8; box++)
        {
            int shift = SBoxPairs.IndexOf((byte)box) % 2 == 1 ? 4 : 0;
            for (int x = 0; x < 64; x++)
            {
                table[(box * 64) + x] = (byte)(Des.DesTables.SBox(box, x) << shift);
            }
        }

        return table;
    }

    private static byte[] BuildMatrices()
    {
        int routes = RouteTargets.Length;
        var table = GC.AllocateArray<byte>(routes * 64, pinned: true);
        Span<byte> matrix = stackalloc byte[8];
        for (int route = 0; route < routes; route++)
        {
            matrix.Clear();
            int pair = RoutePairs[route];
            for (int q = 0; q < 8; q++)
            {
                // Input bit q is bit q & 3 of the first S-box's output (q < 4) or of the second's.
                int box = SBoxPairs[(2 * pair) + (q >> 2)];
                int contribution = EFormTables.EByte(EFormTables.PermutedOutput(box, 1 << (q & 3)), RouteTargets[route]);
                for (int i = 0; i < 6; i++)
                {
                    // vgf2p8affineqb: output bit i is the parity of (input & matrix byte 7 − i).
                    if (((contribution >> i) & 1) != 0)
                    {
                        matrix[7 - i] |= (byte)(1 << q);
                    }
                }
            }

            for (int copy = 0; copy < 8; copy++)
            {
                matrix.CopyTo(table.AsSpan((route * 64) + (copy * 8)));
            }
        }

        return table;
    }
}
