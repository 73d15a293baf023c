using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Tolapai.Kernels.Des.Vector;

/// <summary>
/// 8×8 transposes of 64-bit elements with AVX-512: CBC streams are staged lane-major (a cache
/// line of eight blocks per lane) but encrypted step-major (one block of every lane per step).
/// </summary>
internal static class QwordTranspose
{
    /// <summary>Loads 64 bytes at <c>rows[t] + offset</c> for t = 0..7 and stores element k of every row as destination row k.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe void Gather(ref nint rows, nint offset, byte* destination, nint destinationStride)
    {
        Transpose(
            Vector512.Load((ulong*)(Unsafe.Add(ref rows, 0) + offset)),
            Vector512.Load((ulong*)(Unsafe.Add(ref rows, 1) + offset)),
            Vector512.Load((ulong*)(Unsafe.Add(ref rows, 2) + offset)),
            Vector512.Load((ulong*)(Unsafe.Add(ref rows, 3) + offset)),
            Vector512.Load((ulong*)(Unsafe.Add(ref rows, 4) + offset)),
            Vector512.Load((ulong*)(Unsafe.Add(ref rows, 5) + offset)),
            Vector512.Load((ulong*)(Unsafe.Add(ref rows, 6) + offset)),
            Vector512.Load((ulong*)(Unsafe.Add(ref rows, 7) + offset)),
            out Vector512<ulong> w0,
            out Vector512<ulong> w1,
            out Vector512<ulong> w2,
            out Vector512<ulong> w3,
            out Vector512<ulong> w4,
            out Vector512<ulong> w5,
            out Vector512<ulong> w6,
            out Vector512<ulong> w7);
        w0.Store((ulong*)destination);
        w1.Store((ulong*)(destination + destinationStride));
        w2.Store((ulong*)(destination + (2 * destinationStride)));
        w3.Store((ulong*)(destination + (3 * destinationStride)));
        w4.Store((ulong*)(destination + (4 * destinationStride)));
        w5.Store((ulong*)(destination + (5 * destinationStride)));
        w6.Store((ulong*)(destination + (6 * destinationStride)));
        w7.Store((ulong*)(destination + (7 * destinationStride)));
    }

    /// <summary>The inverse of <see cref="Gather"/>: source row k, element t goes to <c>rows[t] + offset</c> + 8k.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe void Scatter(byte* source, nint sourceStride, ref nint rows, nint offset)
    {
        Transpose(
            Vector512.Load((ulong*)source),
            Vector512.Load((ulong*)(source + sourceStride)),
            Vector512.Load((ulong*)(source + (2 * sourceStride))),
            Vector512.Load((ulong*)(source + (3 * sourceStride))),
            Vector512.Load((ulong*)(source + (4 * sourceStride))),
            Vector512.Load((ulong*)(source + (5 * sourceStride))),
            Vector512.Load((ulong*)(source + (6 * sourceStride))),
            Vector512.Load((ulong*)(source + (7 * sourceStride))),
            out Vector512<ulong> w0,
            out Vector512<ulong> w1,
            out Vector512<ulong> w2,
            out Vector512<ulong> w3,
            out Vector512<ulong> w4,
            out Vector512<ulong> w5,
            out Vector512<ulong> w6,
            out Vector512<ulong> w7);
        w0.Store((ulong*)(Unsafe.Add(ref rows, 0) + offset));
        w1.Store((ulong*)(Unsafe.Add(ref rows, 1) + offset));
        w2.Store((ulong*)(Unsafe.Add(ref rows, 2) + offset));
        w3.Store((ulong*)(Unsafe.Add(ref rows, 3) + offset));
        w4.Store((ulong*)(Unsafe.Add(ref rows, 4) + offset));
        w5.Store((ulong*)(Unsafe.Add(ref rows, 5) + offset));
        w6.Store((ulong*)(Unsafe.Add(ref rows, 6) + offset));
        w7.Store((ulong*)(Unsafe.Add(ref rows, 7) + offset));
    }

    /// <summary>w_k[t] = v_t[k].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Transpose(
        Vector512<ulong> v0, Vector512<ulong> v1, Vector512<ulong> v2, Vector512<ulong> v3,
        Vector512<ulong> v4, Vector512<ulong> v5, Vector512<ulong> v6, Vector512<ulong> v7,
        out Vector512<ulong> w0, out Vector512<ulong> w1, out Vector512<ulong> w2, out Vector512<ulong> w3,
        out Vector512<ulong> w4, out Vector512<ulong> w5, out Vector512<ulong> w6, out Vector512<ulong> w7)
    {
        // Pairs of rows interleave single elements, then pairs of elements, then quads.
        Vector512<ulong> a0 = Avx512F.UnpackLow(v0, v1), a1 = Avx512F.UnpackHigh(v0, v1);
        Vector512<ulong> a2 = Avx512F.UnpackLow(v2, v3), a3 = Avx512F.UnpackHigh(v2, v3);
        Vector512<ulong> a4 = Avx512F.UnpackLow(v4, v5), a5 = Avx512F.UnpackHigh(v4, v5);
        Vector512<ulong> a6 = Avx512F.UnpackLow(v6, v7), a7 = Avx512F.UnpackHigh(v6, v7);
        Vector512<ulong> pairLow = Vector512.Create(0UL, 1, 8, 9, 4, 5, 12, 13);
        Vector512<ulong> pairHigh = Vector512.Create(2UL, 3, 10, 11, 6, 7, 14, 15);
        Vector512<ulong> b0 = Avx512F.PermuteVar8x64x2(a0, pairLow, a2), b2 = Avx512F.PermuteVar8x64x2(a0, pairHigh, a2);
        Vector512<ulong> b1 = Avx512F.PermuteVar8x64x2(a1, pairLow, a3), b3 = Avx512F.PermuteVar8x64x2(a1, pairHigh, a3);
        Vector512<ulong> b4 = Avx512F.PermuteVar8x64x2(a4, pairLow, a6), b6 = Avx512F.PermuteVar8x64x2(a4, pairHigh, a6);
        Vector512<ulong> b5 = Avx512F.PermuteVar8x64x2(a5, pairLow, a7), b7 = Avx512F.PermuteVar8x64x2(a5, pairHigh, a7);
        Vector512<ulong> quadLow = Vector512.Create(0UL, 1, 2, 3, 8, 9, 10, 11);
        Vector512<ulong> quadHigh = Vector512.Create(4UL, 5, 6, 7, 12, 13, 14, 15);
        w0 = Avx512F.PermuteVar8x64x2(b0, quadLow, b4);
        w1 = Avx512F.PermuteVar8x64x2(b1, quadLow, b5);
        w2 = Avx512F.PermuteVar8x64x2(b2, quadLow, b6);
        w3 = Avx512F.PermuteVar8x64x2(b3, quadLow, b7);
        w4 = Avx512F.PermuteVar8x64x2(b0, quadHigh, b4);
        w5 = Avx512F.PermuteVar8x64x2(b1, quadHigh, b5);
        w6 = Avx512F.PermuteVar8x64x2(b2, quadHigh, b6);
        w7 = Avx512F.PermuteVar8x64x2(b3, quadHigh, b7);
    }
}
