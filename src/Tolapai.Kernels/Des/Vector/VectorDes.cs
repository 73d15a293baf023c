using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

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
    /// <summary>IP output byte j is bit IpColumn[j] of every input byte.</summary>
    private static ReadOnlySpan<byte> IpColumn => [6, 4, 2, 0, 7, 5, 3, 1];

    /// <summary>Inverse of <see cref="IpColumn"/>: transposed plane b is IP byte FpRow[b].</summary>
    private static ReadOnlySpan<byte> FpRow => [3, 7, 2, 6, 1, 5, 0, 4];

    /// <summary>Within each 16-byte lane (two blocks), gathers byte k of both blocks into word k; its own inverse is <see cref="UngroupIndices"/>.</summary>
    private static ReadOnlySpan<byte> GroupIndices => [0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15];

    private static ReadOnlySpan<byte> UngroupIndices => [0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15];

    /// <summary>True where the 64-lane merge round runs: E-bytes then keep the colouring's bit order.</summary>
    private static bool Sliced => typeof(TOps) == typeof(V512Ops) && MergeRounds.IsSupported;

    /// <summary>Bytes in one group of blocks.</summary>
    public static int GroupBytes => TOps.Lanes * 8;

    /// <summary>BlockToLane[b]: the lane that block b of a group lands in after <see cref="LoadGroup"/>.</summary>
    internal static readonly byte[] BlockToLane = ComputeBlockToLane();

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

    /// <summary>Byte transpose: Lanes blocks (8·Lanes bytes) → 8 planes, plane k = byte k of every block.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void LoadBytePlanes(ref byte blocks, ref TVec planes)
    {
        TVec group = Indices(GroupIndices);
        int w = TOps.Lanes;
        TVec y0 = TOps.ShuffleInLanes(TOps.Load(ref blocks), group);
        TVec y1 = TOps.ShuffleInLanes(TOps.Load(ref Unsafe.Add(ref blocks, w)), group);
        TVec y2 = TOps.ShuffleInLanes(TOps.Load(ref Unsafe.Add(ref blocks, 2 * w)), group);
        TVec y3 = TOps.ShuffleInLanes(TOps.Load(ref Unsafe.Add(ref blocks, 3 * w)), group);
        TVec y4 = TOps.ShuffleInLanes(TOps.Load(ref Unsafe.Add(ref blocks, 4 * w)), group);
        TVec y5 = TOps.ShuffleInLanes(TOps.Load(ref Unsafe.Add(ref blocks, 5 * w)), group);
        TVec y6 = TOps.ShuffleInLanes(TOps.Load(ref Unsafe.Add(ref blocks, 6 * w)), group);
        TVec y7 = TOps.ShuffleInLanes(TOps.Load(ref Unsafe.Add(ref blocks, 7 * w)), group);
        TransposeWords(ref planes, y0, y1, y2, y3, y4, y5, y6, y7);
    }

    /// <summary>Inverse of <see cref="LoadBytePlanes"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreBytePlanes(ref TVec planes, ref byte blocks)
    {
        Span<TVec> words = stackalloc TVec[8];
        ref TVec t = ref MemoryMarshal.GetReference(words);
        TransposeWords(ref t, planes, Unsafe.Add(ref planes, 1), Unsafe.Add(ref planes, 2), Unsafe.Add(ref planes, 3), Unsafe.Add(ref planes, 4), Unsafe.Add(ref planes, 5), Unsafe.Add(ref planes, 6), Unsafe.Add(ref planes, 7));
        TVec ungroup = Indices(UngroupIndices);
        int w = TOps.Lanes;
        for (int i = 0; i < 8; i++)
        {
            TOps.Store(ref Unsafe.Add(ref blocks, i * w), TOps.ShuffleInLanes(Unsafe.Add(ref t, i), ungroup));
        }
    }

    /// <summary>8×8 transpose of 16-bit words within each 128-bit lane; it is its own inverse.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void TransposeWords(ref TVec output, TVec y0, TVec y1, TVec y2, TVec y3, TVec y4, TVec y5, TVec y6, TVec y7)
    {
        TVec a0 = TOps.UnpackLow16(y0, y1), a1 = TOps.UnpackHigh16(y0, y1);
        TVec a2 = TOps.UnpackLow16(y2, y3), a3 = TOps.UnpackHigh16(y2, y3);
        TVec a4 = TOps.UnpackLow16(y4, y5), a5 = TOps.UnpackHigh16(y4, y5);
        TVec a6 = TOps.UnpackLow16(y6, y7), a7 = TOps.UnpackHigh16(y6, y7);
        TVec b0 = TOps.UnpackLow32(a0, a2), b1 = TOps.UnpackHigh32(a0, a2);
        TVec b2 = TOps.UnpackLow32(a1, a3), b3 = TOps.UnpackHigh32(a1, a3);
        TVec b4 = TOps.UnpackLow32(a4, a6), b5 = TOps.UnpackHigh32(a4, a6);
        TVec b6 = TOps.UnpackLow32(a5, a7), b7 = TOps.UnpackHigh32(a5, a7);
        output = TOps.UnpackLow64(b0, b4);
        Unsafe.Add(ref output, 1) = TOps.UnpackHigh64(b0, b4);
        Unsafe.Add(ref output, 2) = TOps.UnpackLow64(b1, b5);
        Unsafe.Add(ref output, 3) = TOps.UnpackHigh64(b1, b5);
        Unsafe.Add(ref output, 4) = TOps.UnpackLow64(b2, b6);
        Unsafe.Add(ref output, 5) = TOps.UnpackHigh64(b2, b6);
        Unsafe.Add(ref output, 6) = TOps.UnpackLow64(b3, b7);
        Unsafe.Add(ref output, 7) = TOps.UnpackHigh64(b3, b7);
    }

    /// <summary>Swaps bits between two planes: the bits of <paramref name="a"/> at mask·2^shift with those of <paramref name="b"/> at mask.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void DeltaSwap(ref TVec a, ref TVec b, [ConstantExpected] byte shift, TVec mask)
    {
        TVec t = TOps.And(TOps.Xor(TOps.ShiftRight16(a, shift), b), mask);
        b = TOps.Xor(b, t);
        a = TOps.Xor(a, TOps.ShiftLeft16(t, shift));
    }

    /// <summary>8×8 bit transpose across planes: afterwards plane b bit u = old plane u bit b. Its own inverse.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void TransposeBits(ref TVec p)
    {
        TVec m4 = TOps.Broadcast(0x0F), m2 = TOps.Broadcast(0x33), m1 = TOps.Broadcast(0x55);
        for (int u = 0; u < 4; u++)
        {
            DeltaSwap(ref Unsafe.Add(ref p, u), ref Unsafe.Add(ref p, u + 4), 4, m4);
        }

        DeltaSwap(ref p, ref Unsafe.Add(ref p, 2), 2, m2);
        DeltaSwap(ref Unsafe.Add(ref p, 1), ref Unsafe.Add(ref p, 3), 2, m2);
        DeltaSwap(ref Unsafe.Add(ref p, 4), ref Unsafe.Add(ref p, 6), 2, m2);
        DeltaSwap(ref Unsafe.Add(ref p, 5), ref Unsafe.Add(ref p, 7), 2, m2);
        for (int u = 0; u < 8; u += 2)
        {
            DeltaSwap(ref Unsafe.Add(ref p, u), ref Unsafe.Add(ref p, u + 1), 1, m1);
        }
    }

    /// <summary>Loads a group of blocks into E-form: state[0..7] = E-bytes of L0, state[8..15] = those of R0.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void LoadGroup(ref byte blocks, ref TVec state)
    {
        Span<TVec> raw = stackalloc TVec[8];
        ref TVec x = ref MemoryMarshal.GetReference(raw);
        LoadBytePlanes(ref blocks, ref x);
        TransposeBits(ref x);
        TVec low5 = TOps.Broadcast(0x1F), mid5 = TOps.Broadcast(0x3E);
        for (int half = 0; half < 2; half++)
        {
            // IP byte 4·half + m is transposed plane IpColumn[4·half + m].
            ref TVec e = ref Unsafe.Add(ref state, half * 8);
            for (int m = 0; m < 4; m++)
            {
                TVec cur = Unsafe.Add(ref x, IpColumn[(half * 4) + m]);
                TVec prev = Unsafe.Add(ref x, IpColumn[(half * 4) + ((m + 3) & 3)]);
                TVec next = Unsafe.Add(ref x, IpColumn[(half * 4) + ((m + 1) & 3)]);

                // E-byte 2m: b1 = last bit of the previous byte, b2..b6 = this byte's top five bits.
                Unsafe.Add(ref e, 2 * m) = TOps.Merge(TOps.ShiftRight16(cur, 3), TOps.ShiftLeft16(prev, 5), low5);

                // E-byte 2m+1: b1..b5 = this byte's low five bits, b6 = first bit of the next byte.
                Unsafe.Add(ref e, (2 * m) + 1) = TOps.Merge(TOps.ShiftLeft16(cur, 1), TOps.ShiftRight16(next, 7), mid5);
            }
        }

        if (Sliced)
        {
            MergeRounds.Convert(ref Unsafe.As<TVec, Vector512<byte>>(ref state), MergeRounds.ToStored);
        }
    }

    /// <summary>Stores E-form pre-output (state[0..7] = R16, state[8..15] = L16) through FP as a group of blocks. The state is consumed.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void StoreGroup(ref TVec state, ref byte blocks)
    {
        if (Sliced)
        {
            MergeRounds.Convert(ref Unsafe.As<TVec, Vector512<byte>>(ref state), MergeRounds.ToNatural);
        }

        Span<TVec> raw = stackalloc TVec[8];
        ref TVec x = ref MemoryMarshal.GetReference(raw);
        TVec high4 = TOps.Broadcast(0xF0);
        for (int b = 0; b < 8; b++)
        {
            // Pre-output byte n is nibbles 2n and 2n+1, the middle four bits of two E-bytes.
            int n = FpRow[b];
            ref TVec e = ref Unsafe.Add(ref state, 2 * n);
            Unsafe.Add(ref x, b) = TOps.Merge(TOps.ShiftLeft16(e, 3), TOps.ShiftRight16(Unsafe.Add(ref e, 1), 1), high4);
        }

        TransposeBits(ref x);
        StoreBytePlanes(ref x, ref blocks);
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
