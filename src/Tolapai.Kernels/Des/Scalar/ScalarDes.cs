using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Tolapai.Kernels.Des.Scalar;

/// <summary>
/// The fast one-block-at-a-time DES: S-box and P combined into eight 64-entry word tables, E
/// folded into two rotations of R, IP and FP as delta swaps. This is the path for
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

    /// <summary>
    /// IP as five delta swaps on the two halves (the classic Outerbridge sequence): no memory
    /// touched. Returns L0 in the high word and R0 in the low word.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static ulong InitialPermutation(ulong block)
    {
        uint l = (uint)(block >> 32);
        uint r = (uint)block;
        uint w = ((l >> 4) ^ r) & 0x0F0F0F0F;
        r ^= w;
        l ^= w << 4;
        w = ((l >> 16) ^ r) & 0x0000FFFF;
        r ^= w;
        l ^= w << 16;
        w = ((r >> 2) ^ l) & 0x33333333;
        l ^= w;
        r ^= w << 2;
        w = ((r >> 8) ^ l) & 0x00FF00FF;
        l ^= w;
        r ^= w << 8;
        r = BitOperations.RotateLeft(r, 1);
        w = (l ^ r) & 0xAAAAAAAA;
        l ^= w;
        r = BitOperations.RotateRight(r ^ w, 1);
        return ((ulong)l << 32) | r;
    }

    /// <summary>FP = IP⁻¹: the same swaps in reverse order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static ulong FinalPermutation(ulong block)
    {
        uint l = (uint)(block >> 32);
        uint r = BitOperations.RotateLeft((uint)block, 1);
        uint w = (l ^ r) & 0xAAAAAAAA;
        l ^= w;
        r = BitOperations.RotateRight(r ^ w, 1);
        w = ((r >> 8) ^ l) & 0x00FF00FF;
        l ^= w;
        r ^= w << 8;
        w = ((r >> 2) ^ l) & 0x33333333;
        l ^= w;
        r ^= w << 2;
        w = ((l >> 16) ^ r) & 0x0000FFFF;
        r ^= w;
        l ^= w << 16;
        w = ((l >> 4) ^ r) & 0x0F0F0F0F;
        r ^= w;
        l ^= w << 4;
        return ((ulong)l << 32) | r;
    }

    /// <summary>
    /// f(R, K) as eight table lookups. A single CBC stream is latency-bound (each round needs the
    /// last), so the lookups are combined as a balanced XOR tree: depth 3 after the loads, not 7.
    /// Indices are unsigned and each S-box's table offset is a constant, so every lookup is one
    /// shift, one mask and one load with the offset folded into the address.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint F(uint r, uint ka, uint kb, ref uint sp)
    {
        uint a = BitOperations.RotateRight(r, 1) ^ ka;
        uint b = BitOperations.RotateRight(r, 5) ^ kb;
        uint s1 = Unsafe.Add(ref sp, (nuint)(a >> 26));
        uint s3 = Unsafe.Add(ref Unsafe.Add(ref sp, 128), (nuint)((a >> 18) & 0x3F));
        uint s5 = Unsafe.Add(ref Unsafe.Add(ref sp, 256), (nuint)((a >> 10) & 0x3F));
        uint s7 = Unsafe.Add(ref Unsafe.Add(ref sp, 384), (nuint)((a >> 2) & 0x3F));
        uint s8 = Unsafe.Add(ref Unsafe.Add(ref sp, 448), (nuint)(b >> 26));
        uint s2 = Unsafe.Add(ref Unsafe.Add(ref sp, 64), (nuint)((b >> 18) & 0x3F));
        uint s4 = Unsafe.Add(ref Unsafe.Add(ref sp, 192), (nuint)((b >> 10) & 0x3F));
        uint s6 = Unsafe.Add(ref Unsafe.Add(ref sp, 320), (nuint)((b >> 2) & 0x3F));
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
