using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Tolapai.Kernels.Des.Vector;

/// <summary>
/// The byte-sliced DES/3DES pipeline for one vector width. A group of <c>Lanes</c> blocks is
/// turned into sixteen E-form planes (eight E-bytes per half, one byte per lane), run through
/// the generated rounds, and turned back. IP and FP are 8×8 bit transposes across byte planes;
/// E is folded into the representation; S and P are table lookups that give each lane its own
/// S-box input, so lanes may carry different keys.
/// </summary>
internal static partial class VectorDes<TOps, TVec>
    where TOps : struct, ILaneOps<TVec>
    where TVec : unmanaged
{
    /// <summary>Within each 16-byte lane (two blocks), gathers byte k of both blocks into word k; its own inverse is <see cref="UngroupIndices"/>.</summary>
    private static ReadOnlySpan<byte> GroupIndices => [0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15];

    private static ReadOnlySpan<byte> UngroupIndices => [0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15];

    /// <summary>True where the 64-lane merge round runs: E-bytes then keep the colouring's bit order.</summary>
    private static bool Sliced => typeof(TOps) == typeof(V512Ops) && MergeRounds.IsSupported;

    /// <summary>Bytes in one group of blocks.</summary>
    public static int GroupBytes => TOps.Lanes * 8;

    private static byte[] ComputeBlockToLane()
    {
        if (!TOps.IsSupported)
        {
            return [];
        }

        Span<byte> pattern = stackalloc byte[64 * 8];
        for (int block = 0; block < TOps.Lanes; block++)
        {
            pattern.Slice(block * 8, 8).Fill((byte)block);
        }

        Span<TVec> planes = stackalloc TVec[8];
        LoadBytePlanes(ref MemoryMarshal.GetReference(pattern), ref MemoryMarshal.GetReference(planes));
        Span<byte> lanes = stackalloc byte[64];
        TOps.Store(ref MemoryMarshal.GetReference(lanes), planes[0]);
        var map = new byte[TOps.Lanes];
        for (int lane = 0; lane < TOps.Lanes; lane++)
        {
            map[lanes[lane]] = (byte)lane;
        }

        return map;
    }

    private static TVec Indices(ReadOnlySpan<byte> sixteen)
    {
        Span<byte> full = stackalloc byte[64];
        for (int i = 0; i < 64; i += 16)
        {
            sixteen.CopyTo(full[i..]);
        }

        return TOps.Load(ref MemoryMarshal.GetReference(full));
    }

    // Shuffle controls and masks, made once; the JIT folds static readonly vectors into constants.
    private static readonly TVec GroupControl = Indices(GroupIndices);
    private static readonly TVec UngroupControl = Indices(UngroupIndices);
    private static readonly TVec Low5 = TOps.Broadcast(0x1F);
    private static readonly TVec Mid5 = TOps.Broadcast(0x3E);
    private static readonly TVec High4 = TOps.Broadcast(0xF0);
    private static readonly TVec Swap4 = TOps.Broadcast(0x0F);
    private static readonly TVec Swap2 = TOps.Broadcast(0x33);
    private static readonly TVec Swap1 = TOps.Broadcast(0x55);

    /// <summary>BlockToLane[b]: the lane that block b of a group lands in after <see cref="LoadGroup"/>.</summary>
    /// <remarks>Declared after the shuffle controls: static initialisers run in textual order.</remarks>
    internal static readonly byte[] BlockToLane = ComputeBlockToLane();

    /// <summary>Byte transpose of the raw blocks, for <see cref="ComputeBlockToLane"/>: plane k = byte k of every block.</summary>
    private static void LoadBytePlanes(ref byte blocks, ref TVec planes)
    {
        int w = TOps.Lanes;
        TransposeWords(
            TOps.ShuffleInLanes(TOps.Load(ref blocks), GroupControl),
            TOps.ShuffleInLanes(TOps.Load(ref Unsafe.Add(ref blocks, w)), GroupControl),
            TOps.ShuffleInLanes(TOps.Load(ref Unsafe.Add(ref blocks, 2 * w)), GroupControl),
            TOps.ShuffleInLanes(TOps.Load(ref Unsafe.Add(ref blocks, 3 * w)), GroupControl),
            TOps.ShuffleInLanes(TOps.Load(ref Unsafe.Add(ref blocks, 4 * w)), GroupControl),
            TOps.ShuffleInLanes(TOps.Load(ref Unsafe.Add(ref blocks, 5 * w)), GroupControl),
            TOps.ShuffleInLanes(TOps.Load(ref Unsafe.Add(ref blocks, 6 * w)), GroupControl),
            TOps.ShuffleInLanes(TOps.Load(ref Unsafe.Add(ref blocks, 7 * w)), GroupControl),
            out planes,
            out Unsafe.Add(ref planes, 1),
            out Unsafe.Add(ref planes, 2),
            out Unsafe.Add(ref planes, 3),
            out Unsafe.Add(ref planes, 4),
            out Unsafe.Add(ref planes, 5),
            out Unsafe.Add(ref planes, 6),
            out Unsafe.Add(ref planes, 7));
    }

    /// <summary>8×8 transpose of 16-bit words within each 128-bit lane; it is its own inverse.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void TransposeWords(
        TVec y0, TVec y1, TVec y2, TVec y3, TVec y4, TVec y5, TVec y6, TVec y7,
        out TVec x0, out TVec x1, out TVec x2, out TVec x3, out TVec x4, out TVec x5, out TVec x6, out TVec x7)
    {
        TVec a0 = TOps.UnpackLow16(y0, y1), a1 = TOps.UnpackHigh16(y0, y1);
        TVec a2 = TOps.UnpackLow16(y2, y3), a3 = TOps.UnpackHigh16(y2, y3);
        TVec a4 = TOps.UnpackLow16(y4, y5), a5 = TOps.UnpackHigh16(y4, y5);
        TVec a6 = TOps.UnpackLow16(y6, y7), a7 = TOps.UnpackHigh16(y6, y7);
        TVec b0 = TOps.UnpackLow32(a0, a2), b1 = TOps.UnpackHigh32(a0, a2);
        TVec b2 = TOps.UnpackLow32(a1, a3), b3 = TOps.UnpackHigh32(a1, a3);
        TVec b4 = TOps.UnpackLow32(a4, a6), b5 = TOps.UnpackHigh32(a4, a6);
        TVec b6 = TOps.UnpackLow32(a5, a7), b7 = TOps.UnpackHigh32(a5, a7);
        x0 = TOps.UnpackLow64(b0, b4);
        x1 = TOps.UnpackHigh64(b0, b4);
        x2 = TOps.UnpackLow64(b1, b5);
        x3 = TOps.UnpackHigh64(b1, b5);
        x4 = TOps.UnpackLow64(b2, b6);
        x5 = TOps.UnpackHigh64(b2, b6);
        x6 = TOps.UnpackLow64(b3, b7);
        x7 = TOps.UnpackHigh64(b3, b7);
    }

    /// <summary>Swaps the bits of <paramref name="a"/> at mask·2^shift with those of <paramref name="b"/> at mask.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void DeltaSwap(ref TVec a, ref TVec b, [ConstantExpected] byte shift, TVec mask)
    {
        TVec t = TOps.And(TOps.Xor(TOps.ShiftRight16(a, shift), b), mask);
        b = TOps.Xor(b, t);
        a = TOps.Xor(a, TOps.ShiftLeft16(t, shift));
    }

    /// <summary>8×8 bit transpose across planes: afterwards plane b bit u = old plane u bit b. Its own inverse.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void TransposeBits(ref TVec x0, ref TVec x1, ref TVec x2, ref TVec x3, ref TVec x4, ref TVec x5, ref TVec x6, ref TVec x7)
    {
        DeltaSwap(ref x0, ref x4, 4, Swap4);
        DeltaSwap(ref x1, ref x5, 4, Swap4);
        DeltaSwap(ref x2, ref x6, 4, Swap4);
        DeltaSwap(ref x3, ref x7, 4, Swap4);
        DeltaSwap(ref x0, ref x2, 2, Swap2);
        DeltaSwap(ref x1, ref x3, 2, Swap2);
        DeltaSwap(ref x4, ref x6, 2, Swap2);
        DeltaSwap(ref x5, ref x7, 2, Swap2);
        DeltaSwap(ref x0, ref x1, 1, Swap1);
        DeltaSwap(ref x2, ref x3, 1, Swap1);
        DeltaSwap(ref x4, ref x5, 1, Swap1);
        DeltaSwap(ref x6, ref x7, 1, Swap1);
    }

    /// <summary>The eight E-bytes of a half from its four bytes (after IP), into state; in stored bit order where <see cref="Sliced"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void ExpandHalf(TVec b0, TVec b1, TVec b2, TVec b3, ref TVec e)
    {
        // E-byte 2m: b1 = last bit of byte m − 1, b2..b6 = the top five bits of byte m;
        // E-byte 2m+1: b1..b5 = the low five bits of byte m, b6 = the first bit of byte m + 1.
        e = Expanded(TOps.Merge(TOps.ShiftRight16(b0, 3), TOps.ShiftLeft16(b3, 5), Low5), 0);
        Unsafe.Add(ref e, 1) = Expanded(TOps.Merge(TOps.ShiftLeft16(b0, 1), TOps.ShiftRight16(b1, 7), Mid5), 1);
        Unsafe.Add(ref e, 2) = Expanded(TOps.Merge(TOps.ShiftRight16(b1, 3), TOps.ShiftLeft16(b0, 5), Low5), 2);
        Unsafe.Add(ref e, 3) = Expanded(TOps.Merge(TOps.ShiftLeft16(b1, 1), TOps.ShiftRight16(b2, 7), Mid5), 3);
        Unsafe.Add(ref e, 4) = Expanded(TOps.Merge(TOps.ShiftRight16(b2, 3), TOps.ShiftLeft16(b1, 5), Low5), 4);
        Unsafe.Add(ref e, 5) = Expanded(TOps.Merge(TOps.ShiftLeft16(b2, 1), TOps.ShiftRight16(b3, 7), Mid5), 5);
        Unsafe.Add(ref e, 6) = Expanded(TOps.Merge(TOps.ShiftRight16(b3, 3), TOps.ShiftLeft16(b2, 5), Low5), 6);
        Unsafe.Add(ref e, 7) = Expanded(TOps.Merge(TOps.ShiftLeft16(b3, 1), TOps.ShiftRight16(b0, 7), Mid5), 7);
    }

    /// <summary>A natural E-byte, re-ordered into the merge round's stored bit order where it runs.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TVec Expanded(TVec natural, int box)
    {
        if (!Sliced)
        {
            return natural;
        }

        Vector512<byte> stored = Gfni.V512.GaloisFieldAffineTransform(
            Unsafe.As<TVec, Vector512<byte>>(ref natural),
            Vector512.LoadUnsafe(ref MemoryMarshal.GetArrayDataReference(MergeRounds.ToStored), (nuint)(box * 64)),
            0);
        return Unsafe.As<Vector512<byte>, TVec>(ref stored);
    }

    /// <summary>One pre-output byte from the middle four bits of two E-bytes (natural order restored first where <see cref="Sliced"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TVec Contracted(ref TVec state, int n)
    {
        TVec high = Unsafe.Add(ref state, 2 * n);
        TVec low = Unsafe.Add(ref state, (2 * n) + 1);
        if (Sliced)
        {
            ref byte matrices = ref MemoryMarshal.GetArrayDataReference(MergeRounds.ToNatural);
            Vector512<byte> h = Gfni.V512.GaloisFieldAffineTransform(Unsafe.As<TVec, Vector512<byte>>(ref high), Vector512.LoadUnsafe(ref matrices, (nuint)(((2 * n) & 7) * 64)), 0);
            Vector512<byte> l = Gfni.V512.GaloisFieldAffineTransform(Unsafe.As<TVec, Vector512<byte>>(ref low), Vector512.LoadUnsafe(ref matrices, (nuint)((((2 * n) + 1) & 7) * 64)), 0);
            high = Unsafe.As<Vector512<byte>, TVec>(ref h);
            low = Unsafe.As<Vector512<byte>, TVec>(ref l);
        }

        return TOps.Merge(TOps.ShiftLeft16(high, 3), TOps.ShiftRight16(low, 1), High4);
    }

    /// <summary>Loads a group of blocks into E-form: state[0..7] = E-bytes of L0, state[8..15] = those of R0.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void LoadGroup(ref byte blocks, ref TVec state) => LoadGroupCore(ref blocks, ref blocks, false, ref state);

    /// <summary>Loads a group of blocks XORed with <paramref name="chain"/> (CBC: the previous ciphertext) into E-form.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void LoadGroupChained(ref byte blocks, ref byte chain, ref TVec state) => LoadGroupCore(ref blocks, ref chain, true, ref state);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TVec LoadBlocks(ref byte blocks, ref byte chain, bool chained, int offset)
    {
        TVec v = TOps.Load(ref Unsafe.Add(ref blocks, offset));
        return TOps.ShuffleInLanes(chained ? TOps.Xor(v, TOps.Load(ref Unsafe.Add(ref chain, offset))) : v, GroupControl);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void LoadGroupCore(ref byte blocks, ref byte chain, bool chained, ref TVec state)
    {
        int w = TOps.Lanes;
        TransposeWords(
            LoadBlocks(ref blocks, ref chain, chained, 0),
            LoadBlocks(ref blocks, ref chain, chained, w),
            LoadBlocks(ref blocks, ref chain, chained, 2 * w),
            LoadBlocks(ref blocks, ref chain, chained, 3 * w),
            LoadBlocks(ref blocks, ref chain, chained, 4 * w),
            LoadBlocks(ref blocks, ref chain, chained, 5 * w),
            LoadBlocks(ref blocks, ref chain, chained, 6 * w),
            LoadBlocks(ref blocks, ref chain, chained, 7 * w),
            out TVec x0,
            out TVec x1,
            out TVec x2,
            out TVec x3,
            out TVec x4,
            out TVec x5,
            out TVec x6,
            out TVec x7);
        TransposeBits(ref x0, ref x1, ref x2, ref x3, ref x4, ref x5, ref x6, ref x7);

        // IP byte j is bit c_j of every input byte, c = 6, 4, 2, 0 (L) and 7, 5, 3, 1 (R): transposed plane c_j.
        ExpandHalf(x6, x4, x2, x0, ref state);
        ExpandHalf(x7, x5, x3, x1, ref Unsafe.Add(ref state, 8));
    }

    /// <summary>Stores E-form pre-output (state[0..7] = R16, state[8..15] = L16) through FP as a group of blocks.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void StoreGroup(ref TVec state, ref byte blocks)
    {
        // FP is the inverse: transposed plane b is pre-output byte c⁻¹(b) = 3, 7, 2, 6, 1, 5, 0, 4.
        TVec x0 = Contracted(ref state, 3), x1 = Contracted(ref state, 7), x2 = Contracted(ref state, 2), x3 = Contracted(ref state, 6);
        TVec x4 = Contracted(ref state, 1), x5 = Contracted(ref state, 5), x6 = Contracted(ref state, 0), x7 = Contracted(ref state, 4);
        TransposeBits(ref x0, ref x1, ref x2, ref x3, ref x4, ref x5, ref x6, ref x7);
        TransposeWords(x0, x1, x2, x3, x4, x5, x6, x7, out TVec y0, out TVec y1, out TVec y2, out TVec y3, out TVec y4, out TVec y5, out TVec y6, out TVec y7);
        int w = TOps.Lanes;
        TOps.Store(ref blocks, TOps.ShuffleInLanes(y0, UngroupControl));
        TOps.Store(ref Unsafe.Add(ref blocks, w), TOps.ShuffleInLanes(y1, UngroupControl));
        TOps.Store(ref Unsafe.Add(ref blocks, 2 * w), TOps.ShuffleInLanes(y2, UngroupControl));
        TOps.Store(ref Unsafe.Add(ref blocks, 3 * w), TOps.ShuffleInLanes(y3, UngroupControl));
        TOps.Store(ref Unsafe.Add(ref blocks, 4 * w), TOps.ShuffleInLanes(y4, UngroupControl));
        TOps.Store(ref Unsafe.Add(ref blocks, 5 * w), TOps.ShuffleInLanes(y5, UngroupControl));
        TOps.Store(ref Unsafe.Add(ref blocks, 6 * w), TOps.ShuffleInLanes(y6, UngroupControl));
        TOps.Store(ref Unsafe.Add(ref blocks, 7 * w), TOps.ShuffleInLanes(y7, UngroupControl));
    }

    /// <summary>Encrypts or decrypts one group in place in <paramref name="state"/> with a single key.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void RunSingleKey(DesKeySchedule key, bool decrypt, ref TVec state)
    {
        int stages = key.Rounds / 16;
        if (Sliced)
        {
            // One key for all lanes: it is folded into the S-box tables, so rounds skip the key XOR.
            ref byte tables = ref MemoryMarshal.GetReference(key.KeyedTables);
            ref Vector512<byte> s = ref Unsafe.As<TVec, Vector512<byte>>(ref state);
            if (decrypt)
            {
                MergeRounds.RunKeyed(ref s, ref Unsafe.Add(ref tables, (key.Rounds - 1) * 8 * 64), -8 * 64, stages);
            }
            else
            {
                MergeRounds.RunKeyed(ref s, ref tables, 8 * 64, stages);
            }

            return;
        }

        // Broadcast planes are 64 bytes per entry whatever the width: step 8 entries per round.
        ref byte keys = ref MemoryMarshal.GetReference(key.BroadcastPlanes);
        if (decrypt)
        {
            Rounds<WideKeys>(ref state, ref Unsafe.Add(ref keys, (key.Rounds - 1) * 8 * 64), -8 * 64, stages);
        }
        else
        {
            Rounds<WideKeys>(ref state, ref keys, 8 * 64, stages);
        }
    }

    /// <summary>The merge round on 64 lanes where the CPU has it, else the generated contribution round.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void RunRounds<TKeys>(ref TVec state, ref byte keys, nint stride, int stages)
        where TKeys : struct, IKeySource
    {
        // On 64 lanes both key sources hold 64 bytes per entry, the layout MergeRounds reads.
        if (Sliced)
        {
            MergeRounds.Run(ref Unsafe.As<TVec, Vector512<byte>>(ref state), ref keys, stride, stages);
        }
        else
        {
            Rounds<TKeys>(ref state, ref keys, stride, stages);
        }
    }
}
