using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Tolapai.Kernels.Des.Vector;

/// <summary>
/// 16 lanes per vector on SSSE3/SSE4.1: the S-box output comes from four <c>pshufb</c> quarter
/// lookups and two blends, and each contribution from one 16-entry <c>pshufb</c>.
/// </summary>
internal struct V128Ops : ILaneOps<Vector128<byte>>
{
    public static bool IsSupported => Sse41.IsSupported && Ssse3.IsSupported;

    public static int Lanes => 16;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<byte> Load(ref byte source) => Vector128.LoadUnsafe(ref source);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(ref byte destination, Vector128<byte> value) => value.StoreUnsafe(ref destination);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<byte> Broadcast(byte value) => Vector128.Create(value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<byte> Xor(Vector128<byte> a, Vector128<byte> b) => a ^ b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<byte> Xor3(Vector128<byte> a, Vector128<byte> b, Vector128<byte> c) => a ^ b ^ c;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<byte> And(Vector128<byte> a, Vector128<byte> b) => a & b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<byte> Merge(Vector128<byte> a, Vector128<byte> b, Vector128<byte> mask) => (a & mask) | Vector128.AndNot(b, mask);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<byte> ShiftLeft16(Vector128<byte> value, [ConstantExpected] byte count) => Sse2.ShiftLeftLogical(value.AsUInt16(), count).AsByte();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<byte> ShiftRight16(Vector128<byte> value, [ConstantExpected] byte count) => Sse2.ShiftRightLogical(value.AsUInt16(), count).AsByte();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<byte> ShuffleInLanes(Vector128<byte> value, Vector128<byte> indices) => Ssse3.Shuffle(value, indices);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<byte> UnpackLow16(Vector128<byte> a, Vector128<byte> b) => Sse2.UnpackLow(a.AsUInt16(), b.AsUInt16()).AsByte();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<byte> UnpackHigh16(Vector128<byte> a, Vector128<byte> b) => Sse2.UnpackHigh(a.AsUInt16(), b.AsUInt16()).AsByte();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<byte> UnpackLow32(Vector128<byte> a, Vector128<byte> b) => Sse2.UnpackLow(a.AsUInt32(), b.AsUInt32()).AsByte();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<byte> UnpackHigh32(Vector128<byte> a, Vector128<byte> b) => Sse2.UnpackHigh(a.AsUInt32(), b.AsUInt32()).AsByte();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<byte> UnpackLow64(Vector128<byte> a, Vector128<byte> b) => Sse2.UnpackLow(a.AsUInt64(), b.AsUInt64()).AsByte();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<byte> UnpackHigh64(Vector128<byte> a, Vector128<byte> b) => Sse2.UnpackHigh(a.AsUInt64(), b.AsUInt64()).AsByte();

    // pshufb zeroes a lane whose index has bit 7 set: keep indices to six bits.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<byte> KeyMix(Vector128<byte> eByte, Vector128<byte> key) => (eByte ^ key) & Vector128.Create((byte)0x3F);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<byte> SBoxToken(Vector128<byte> x, int box)
    {
        ref byte table = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(EFormTables.SBox64), box * 64);
        Vector128<byte> q0 = Ssse3.Shuffle(Vector128.LoadUnsafe(ref table), x);
        Vector128<byte> q1 = Ssse3.Shuffle(Vector128.LoadUnsafe(ref Unsafe.Add(ref table, 16)), x);
        Vector128<byte> q2 = Ssse3.Shuffle(Vector128.LoadUnsafe(ref Unsafe.Add(ref table, 32)), x);
        Vector128<byte> q3 = Ssse3.Shuffle(Vector128.LoadUnsafe(ref Unsafe.Add(ref table, 48)), x);
        Vector128<byte> bit4 = Sse2.ShiftLeftLogical(x.AsUInt16(), 3).AsByte();
        Vector128<byte> bit5 = Sse2.ShiftLeftLogical(x.AsUInt16(), 2).AsByte();
        return Sse41.BlendVariable(Sse41.BlendVariable(q0, q1, bit4), Sse41.BlendVariable(q2, q3, bit4), bit5);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<byte> Contribution(Vector128<byte> token, int pair)
        => Ssse3.Shuffle(Vector128.LoadUnsafe(ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(EFormTables.Pair16), pair * 16)), token);
}
