using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Tolapai.Kernels.Des.Vector;

/// <summary>
/// 32 lanes per vector. With AVX-512 VBMI (VL) a contribution is one two-register
/// <c>vpermi2b</c>; on plain AVX2 the S-box output is found with four <c>vpshufb</c> quarter
/// lookups and two blends, and each contribution is then one 16-entry <c>vpshufb</c>.
/// </summary>
internal struct V256Ops : ILaneOps<Vector256<byte>>
{
    public static bool IsSupported => Avx2.IsSupported;

    public static int Lanes => 32;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> Load(ref byte source) => Vector256.LoadUnsafe(ref source);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(ref byte destination, Vector256<byte> value) => value.StoreUnsafe(ref destination);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> Broadcast(byte value) => Vector256.Create(value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> Xor(Vector256<byte> a, Vector256<byte> b) => a ^ b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> Xor3(Vector256<byte> a, Vector256<byte> b, Vector256<byte> c)
        => Avx512F.VL.IsSupported ? Avx512F.VL.TernaryLogic(a, b, c, 0x96) : a ^ b ^ c;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> And(Vector256<byte> a, Vector256<byte> b) => a & b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> Merge(Vector256<byte> a, Vector256<byte> b, Vector256<byte> mask)
        => Avx512F.VL.IsSupported ? Avx512F.VL.TernaryLogic(a, b, mask, 0xE4) : (a & mask) | Vector256.AndNot(b, mask);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> ShiftLeft16(Vector256<byte> value, [ConstantExpected] byte count) => Avx2.ShiftLeftLogical(value.AsUInt16(), count).AsByte();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> ShiftRight16(Vector256<byte> value, [ConstantExpected] byte count) => Avx2.ShiftRightLogical(value.AsUInt16(), count).AsByte();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> ShuffleInLanes(Vector256<byte> value, Vector256<byte> indices) => Avx2.Shuffle(value, indices);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> UnpackLow16(Vector256<byte> a, Vector256<byte> b) => Avx2.UnpackLow(a.AsUInt16(), b.AsUInt16()).AsByte();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> UnpackHigh16(Vector256<byte> a, Vector256<byte> b) => Avx2.UnpackHigh(a.AsUInt16(), b.AsUInt16()).AsByte();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> UnpackLow32(Vector256<byte> a, Vector256<byte> b) => Avx2.UnpackLow(a.AsUInt32(), b.AsUInt32()).AsByte();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> UnpackHigh32(Vector256<byte> a, Vector256<byte> b) => Avx2.UnpackHigh(a.AsUInt32(), b.AsUInt32()).AsByte();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> UnpackLow64(Vector256<byte> a, Vector256<byte> b) => Avx2.UnpackLow(a.AsUInt64(), b.AsUInt64()).AsByte();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> UnpackHigh64(Vector256<byte> a, Vector256<byte> b) => Avx2.UnpackHigh(a.AsUInt64(), b.AsUInt64()).AsByte();

    // vpshufb zeroes a lane whose index has bit 7 set, so the shuffle path keeps indices to six bits.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> KeyMix(Vector256<byte> eByte, Vector256<byte> key)
        => Avx512Vbmi.VL.IsSupported ? eByte ^ key
            : Avx512F.VL.IsSupported ? Avx512F.VL.TernaryLogic(eByte, key, Vector256.Create((byte)0x3F), 0x28) // (A ^ B) & C
            : (eByte ^ key) & Vector256.Create((byte)0x3F);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> SBoxToken(Vector256<byte> x, int box)
    {
        if (Avx512Vbmi.VL.IsSupported)
        {
            return x;
        }

        ref byte table = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(EFormTables.SBox64), box * 64);
        Vector256<byte> q0 = Avx2.Shuffle(Vector256.Create(Vector128.LoadUnsafe(ref table)), x);
        Vector256<byte> q1 = Avx2.Shuffle(Vector256.Create(Vector128.LoadUnsafe(ref Unsafe.Add(ref table, 16))), x);
        Vector256<byte> q2 = Avx2.Shuffle(Vector256.Create(Vector128.LoadUnsafe(ref Unsafe.Add(ref table, 32))), x);
        Vector256<byte> q3 = Avx2.Shuffle(Vector256.Create(Vector128.LoadUnsafe(ref Unsafe.Add(ref table, 48))), x);

        // Index bit 4 picks within a half, bit 5 between halves; blendv reads bit 7 of the mask.
        Vector256<byte> bit4 = Avx2.ShiftLeftLogical(x.AsUInt16(), 3).AsByte();
        Vector256<byte> bit5 = Avx2.ShiftLeftLogical(x.AsUInt16(), 2).AsByte();
        return Avx2.BlendVariable(Avx2.BlendVariable(q0, q1, bit4), Avx2.BlendVariable(q2, q3, bit4), bit5);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> Contribution(Vector256<byte> token, int pair)
    {
        if (Avx512Vbmi.VL.IsSupported)
        {
            ref byte table = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(EFormTables.Pair64), pair * 64);
            return Avx512Vbmi.VL.PermuteVar32x8x2(Vector256.LoadUnsafe(ref table), token, Vector256.LoadUnsafe(ref Unsafe.Add(ref table, 32)));
        }

        return Avx2.Shuffle(Vector256.Create(Vector128.LoadUnsafe(ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(EFormTables.Pair16), pair * 16))), token);
    }
}
