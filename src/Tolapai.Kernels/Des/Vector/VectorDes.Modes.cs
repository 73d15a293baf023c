using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Tolapai.Kernels.Des.Vector;

internal static partial class VectorDes<TOps, TVec>
{
    /// <summary>Shape (a): ECB over any number of whole blocks, a group of Lanes blocks at a time.</summary>
    public static void Ecb(DesKeySchedule key, bool decrypt, ReadOnlySpan<byte> source, Span<byte> destination)
    {
        Span<TVec> state = stackalloc TVec[16];
        ref TVec s = ref MemoryMarshal.GetReference(state);
        ref byte src = ref MemoryMarshal.GetReference(source);
        ref byte dst = ref MemoryMarshal.GetReference(destination);
        int group = GroupBytes;
        int whole = source.Length - (source.Length % group);
        for (int offset = 0; offset < whole; offset += group)
        {
            CryptGroup(key, decrypt, ref Unsafe.Add(ref src, offset), ref Unsafe.Add(ref dst, offset), ref s);
        }

        if (whole < source.Length)
        {
            Span<byte> staging = stackalloc byte[64 * 8];
            ref byte stage = ref MemoryMarshal.GetReference(staging);
            source[whole..].CopyTo(staging);
            CryptGroup(key, decrypt, ref stage, ref stage, ref s);
            staging[..(source.Length - whole)].CopyTo(destination[whole..]);
        }
    }

    /// <summary>
    /// One group with a single key, <paramref name="source"/> to <paramref name="destination"/>
    /// (which may be the same). Kept out of the callers' loops on purpose: a loop method starts
    /// in tier 0 and is moved to optimised code by on-stack replacement, and the group's work
    /// compiled that way ran at half speed or less in some processes; as a loop-free method of
    /// its own it is compiled normally.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void CryptGroup(DesKeySchedule key, bool decrypt, ref byte source, ref byte destination, ref TVec state)
    {
        LoadGroup(ref source, ref state);
        RunSingleKey(key, decrypt, ref state);
        StoreGroup(ref state, ref destination);
    }

    /// <summary>Shape (a): CBC decryption; every block deciphers independently, then XORs the ciphertext before it.</summary>
    public static ulong CbcDecrypt(DesKeySchedule key, ulong iv, ReadOnlySpan<byte> source, Span<byte> destination)
    {
        Span<TVec> state = stackalloc TVec[16];
        Span<byte> staging = stackalloc byte[64 * 8];
        ref TVec s = ref MemoryMarshal.GetReference(state);
        ref byte stage = ref MemoryMarshal.GetReference(staging);
        int group = GroupBytes;
        ulong chain = BinaryPrimitives.ReverseEndianness(iv);
        for (int offset = 0; offset < source.Length; offset += group)
        {
            int length = Math.Min(group, source.Length - offset);
            ReadOnlySpan<byte> input = source.Slice(offset, length);
            if (length == group)
            {
                CryptGroup(key, true, ref MemoryMarshal.GetReference(input), ref stage, ref s);
            }
            else
            {
                input.CopyTo(staging);
                CryptGroup(key, true, ref stage, ref stage, ref s);
            }

            // Plaintext i = D(C_i) ^ C_(i-1). Written back to front, every ciphertext block is
            // read before its own plaintext overwrites it: in-place safe.
            ulong last = Unsafe.ReadUnaligned<ulong>(ref Unsafe.AsRef(in input[length - 8]));
            ref byte src = ref MemoryMarshal.GetReference(input);
            ref byte dst = ref MemoryMarshal.GetReference(destination.Slice(offset, length));
            int w = TOps.Lanes;
            int i = length - w;
            for (; i >= 8; i -= w)
            {
                TOps.Store(ref Unsafe.Add(ref dst, i), TOps.Xor(TOps.Load(ref Unsafe.Add(ref stage, i)), TOps.Load(ref Unsafe.Add(ref src, i - 8))));
            }

            for (i += w - 8; i >= 8; i -= 8)
            {
                Unsafe.WriteUnaligned(ref Unsafe.Add(ref dst, i), Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref stage, i)) ^ Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref src, i - 8)));
            }

            Unsafe.WriteUnaligned(ref dst, Unsafe.ReadUnaligned<ulong>(ref stage) ^ chain);
            chain = last;
        }

        return BinaryPrimitives.ReverseEndianness(chain);
    }

    /// <summary>Shape (a): CTR; the counter is a 64-bit big-endian block incremented per block.</summary>
    public static ulong Ctr(DesKeySchedule key, ulong counter, ReadOnlySpan<byte> source, Span<byte> destination)
    {
        Span<TVec> state = stackalloc TVec[16];
        Span<byte> staging = stackalloc byte[64 * 8];
        ref TVec s = ref MemoryMarshal.GetReference(state);
        ref byte stage = ref MemoryMarshal.GetReference(staging);
        int group = GroupBytes;
        for (int offset = 0; offset < source.Length; offset += group)
        {
            int length = Math.Min(group, source.Length - offset);
            int blocks = (length + 7) / 8;
            for (int b = 0; b < blocks; b++)
            {
                Unsafe.WriteUnaligned(ref Unsafe.Add(ref stage, b * 8), BinaryPrimitives.ReverseEndianness(counter + (ulong)b));
            }

            counter += (ulong)blocks;
            CryptGroup(key, false, ref stage, ref stage, ref s);
            XorInto(destination.Slice(offset, length), source.Slice(offset, length), staging);
        }

        return counter;
    }

    /// <summary>destination = source ^ keystream, vector-wide where possible (destination may be source).</summary>
    private static void XorInto(Span<byte> destination, ReadOnlySpan<byte> source, ReadOnlySpan<byte> keystream)
    {
        ref byte d = ref MemoryMarshal.GetReference(destination);
        ref byte o = ref MemoryMarshal.GetReference(source);
        ref byte k = ref MemoryMarshal.GetReference(keystream);
        int i = 0;
        int w = TOps.Lanes;
        for (; i + w <= destination.Length; i += w)
        {
            TOps.Store(ref Unsafe.Add(ref d, i), TOps.Xor(TOps.Load(ref Unsafe.Add(ref o, i)), TOps.Load(ref Unsafe.Add(ref k, i))));
        }

        for (; i < destination.Length; i++)
        {
            Unsafe.Add(ref d, i) = (byte)(Unsafe.Add(ref o, i) ^ Unsafe.Add(ref k, i));
        }
    }
}
