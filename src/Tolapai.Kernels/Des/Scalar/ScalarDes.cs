using System.Diagnostics.CodeAnalysis;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;

namespace Tolapai.Kernels.Des.Scalar;

/// <summary>
/// The fast one-block-at-a-time DES: S-box and P combined into eight 64-entry word tables, E
/// folded into two rotations of R, IP and FP as nibble-indexed table sums. This is the path for
/// a single CBC-encrypt stream, which no amount of SIMD can parallelise.
/// </summary>
/// <remarks>
/// R is kept as a natural big-endian word (FIPS bit d at bit 32 − d). After <c>a = rotr(R, 1)</c>
/// the inputs of S1, S3, S5, S7 sit at bits 26, 18, 10, 2; after <c>b = rotr(R, 5)</c> those of
/// S8, S2, S4, S6 do. <see cref="DesKeySchedule"/> cooks round keys into the same two words.
/// </remarks>
internal static class ScalarDes
{
    // Sp[box * 64 + six] = P(S_box(six) placed at nibble box), as a natural big-endian word.
    private static readonly uint[] Sp = BuildSp();

    // IpTable[nibble * 16 + value]: contribution of one input nibble to IP(block); FpTable likewise.
    private static readonly ulong[] IpTable = BuildPermutationTable(DesTables.Ip);
    private static readonly ulong[] FpTable = BuildPermutationTable(DesTables.Fp);

    private static uint[] BuildSp()
    {
        var sp = GC.AllocateArray<uint>(8 * 64, pinned: true);
        for (int box = 0; box < 8; box++)
        {
            for (int six = 0; six < 64; six++)
            {
                uint s = (uint)DesTables.SBox(box, six) << (28 - (4 * box));
                sp[(box * 64) + six] = (uint)DesReference.Permute(s, 32, DesTables.P);
            }
        }

        return sp;
    }

    private static ulong[] BuildPermutationTable(ReadOnlySpan<byte> table)
    {
        var result = GC.AllocateArray<ulong>(16 * 16, pinned: true);
        for (int nibble = 0; nibble < 16; nibble++)
        {
            for (int value = 0; value < 16; value++)
            {
                ulong input = (ulong)value << (60 - (4 * nibble));
                result[(nibble * 16) + value] = DesReference.Permute(input, 64, table);
            }
        }

        return result;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static ulong Permute(ulong block, ulong[] table)
    {
        ref ulong t = ref MemoryMarshal.GetArrayDataReference(table);
        ulong result = 0;
        for (int nibble = 0; nibble < 16; nibble++)
        {
            result |= Unsafe.Add(ref t, (nibble * 16) + (int)((block >> (60 - (4 * nibble))) & 0xF));
        }

        return result;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static ulong InitialPermutation(ulong block) => Permute(block, IpTable);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static ulong FinalPermutation(ulong block) => Permute(block, FpTable);

    /// <summary>Bits [start, start + 6) of <paramref name="value"/>: one <c>bextr</c> where BMI1 exists.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Six(uint value, [ConstantExpected] byte start)
        => Bmi1.IsSupported ? (int)Bmi1.BitFieldExtract(value, start, 6) : (int)((value >> start) & 0x3F);

    /// <summary>
    /// f(R, K) as eight table lookups. A single CBC stream is latency-bound (each round needs the
    /// last), so the lookups are combined as a balanced XOR tree: depth 3 after the loads, not 7.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint F(uint r, uint ka, uint kb, ref uint sp)
    {
        uint a = BitOperations.RotateRight(r, 1) ^ ka;
        uint b = BitOperations.RotateRight(r, 5) ^ kb;
        uint s1 = Unsafe.Add(ref sp, (int)(a >> 26));
        uint s3 = Unsafe.Add(ref sp, 128 + Six(a, 18));
        uint s5 = Unsafe.Add(ref sp, 256 + Six(a, 10));
        uint s7 = Unsafe.Add(ref sp, 384 + Six(a, 2));
        uint s8 = Unsafe.Add(ref sp, 448 + (int)(b >> 26));
        uint s2 = Unsafe.Add(ref sp, 64 + Six(b, 18));
        uint s4 = Unsafe.Add(ref sp, 192 + Six(b, 10));
        uint s6 = Unsafe.Add(ref sp, 320 + Six(b, 2));
        return ((s1 ^ s3) ^ (s5 ^ s7)) ^ ((s8 ^ s2) ^ (s4 ^ s6));
    }

    /// <summary>
    /// Runs the whole round sequence on a block that has been through IP; returns the pre-output
    /// R‖L ready for FP. 3DES is three 16-round stages with the IP/FP between them cancelled.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static ulong Rounds(ulong ip, ReadOnlySpan<uint> cooked, bool decrypt)
    {
        ref uint sp = ref MemoryMarshal.GetArrayDataReference(Sp);
        ref uint k = ref MemoryMarshal.GetReference(cooked);
        uint l = (uint)(ip >> 32);
        uint r = (uint)ip;
        int stages = cooked.Length / 32;
        if (!decrypt)
        {
            for (int stage = 0; stage < stages; stage++)
            {
                for (int i = 0; i < 8; i++)
                {
                    l ^= F(r, k, Unsafe.Add(ref k, 1), ref sp);
                    r ^= F(l, Unsafe.Add(ref k, 2), Unsafe.Add(ref k, 3), ref sp);
                    k = ref Unsafe.Add(ref k, 4);
                }

                (l, r) = (r, l);
            }
        }
        else
        {
            k = ref Unsafe.Add(ref k, cooked.Length - 2);
            for (int stage = 0; stage < stages; stage++)
            {
                for (int i = 0; i < 8; i++)
                {
                    l ^= F(r, k, Unsafe.Add(ref k, 1), ref sp);
                    r ^= F(l, Unsafe.Subtract(ref k, 2), Unsafe.Subtract(ref k, 1), ref sp);
                    k = ref Unsafe.Subtract(ref k, 4);
                }

                (l, r) = (r, l);
            }
        }

        // The loop's final swap already put R16 in l's place: pre-output is R16‖L16.
        return ((ulong)l << 32) | r;
    }

    /// <summary>One block through DES or 3DES.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static ulong CryptBlock(ulong block, ReadOnlySpan<uint> cooked, bool decrypt)
        => FinalPermutation(Rounds(InitialPermutation(block), cooked, decrypt));
}
