using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Tolapai.Kernels.Des.Vector;

/// <summary>
/// 64 lanes per vector on AVX-512: every S-box contribution is one VBMI <c>vpermb</c> (a 64-entry
/// byte table lookup for 64 lanes at once), and three-way XORs and merges are one ternary-logic
/// instruction each.
/// </summary>
internal struct V512Ops : ILaneOps<Vector512<byte>>
{
    public static bool IsSupported => Avx512Vbmi.IsSupported && Avx512BW.IsSupported && Avx512F.IsSupported;

    public static int Lanes => 64;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<byte> Load(ref byte source) => Vector512.LoadUnsafe(ref source);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(ref byte destination, Vector512<byte> value) => value.StoreUnsafe(ref destination);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<byte> Broadcast(byte value) => Vector512.Create(value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<byte> Xor(Vector512<byte> a, Vector512<byte> b) => a ^ b;

    // 0x96 = A ^ B ^ C.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<byte> Xor3(Vector512<byte> a, Vector512<byte> b, Vector512<byte> c) => Avx512F.TernaryLogic(a, b, c, 0x96);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<byte> And(Vector512<byte> a, Vector512<byte> b) => a & b;

    // 0xE4 = (A & C) | (B & ~C).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<byte> Merge(Vector512<byte> a, Vector512<byte> b, Vector512<byte> mask) => Avx512F.TernaryLogic(a, b, mask, 0xE4);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<byte> ShiftLeft16(Vector512<byte> value, [ConstantExpected] byte count) => Avx512BW.ShiftLeftLogical(value.AsUInt16(), count).AsByte();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<byte> ShiftRight16(Vector512<byte> value, [ConstantExpected] byte count) => Avx512BW.ShiftRightLogical(value.AsUInt16(), count).AsByte();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<byte> ShuffleInLanes(Vector512<byte> value, Vector512<byte> indices) => Avx512BW.Shuffle(value, indices);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<byte> UnpackLow16(Vector512<byte> a, Vector512<byte> b) => Avx512BW.UnpackLow(a.AsUInt16(), b.AsUInt16()).AsByte();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<byte> UnpackHigh16(Vector512<byte> a, Vector512<byte> b) => Avx512BW.UnpackHigh(a.AsUInt16(), b.AsUInt16()).AsByte();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<byte> UnpackLow32(Vector512<byte> a, Vector512<byte> b) => Avx512F.UnpackLow(a.AsUInt32(), b.AsUInt32()).AsByte();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<byte> UnpackHigh32(Vector512<byte> a, Vector512<byte> b) => Avx512F.UnpackHigh(a.AsUInt32(), b.AsUInt32()).AsByte();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<byte> UnpackLow64(Vector512<byte> a, Vector512<byte> b) => Avx512F.UnpackLow(a.AsUInt64(), b.AsUInt64()).AsByte();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<byte> UnpackHigh64(Vector512<byte> a, Vector512<byte> b) => Avx512F.UnpackHigh(a.AsUInt64(), b.AsUInt64()).AsByte();

    // vpermb reads only the low six bits of each index, so the E-byte's spare bits need no masking.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<byte> KeyMix(Vector512<byte> eByte, Vector512<byte> key) => eByte ^ key;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<byte> SBoxToken(Vector512<byte> x, int box) => x;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<byte> Contribution(Vector512<byte> token, int pair)
        => Avx512Vbmi.PermuteVar64x8(
            Vector512.LoadUnsafe(ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(EFormTables.Pair64), pair * 64)),
            token);
}
