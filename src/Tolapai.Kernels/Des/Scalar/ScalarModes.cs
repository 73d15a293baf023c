using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Tolapai.Kernels.Des.Scalar;

/// <summary>The modes of operation on the scalar kernel, one block at a time.</summary>
internal static class ScalarModes
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Load(ref byte p) => BinaryPrimitives.ReverseEndianness(Unsafe.ReadUnaligned<ulong>(ref p));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(ref byte p, ulong v) => Unsafe.WriteUnaligned(ref p, BinaryPrimitives.ReverseEndianness(v));

    public static void Ecb(ReadOnlySpan<uint> keys, bool decrypt, ReadOnlySpan<byte> source, Span<byte> destination)
    {
        ref byte src = ref MemoryMarshal.GetReference(source);
        ref byte dst = ref MemoryMarshal.GetReference(destination);
        for (int offset = 0; offset < source.Length; offset += 8)
        {
            Store(ref Unsafe.Add(ref dst, offset), ScalarDes.CryptBlock(Load(ref Unsafe.Add(ref src, offset)), keys, decrypt));
        }
    }

    /// <summary>CBC encryption: inherently serial. The chaining stays in the IP domain (IP is linear).</summary>
    public static ulong CbcEncrypt(ReadOnlySpan<uint> keys, ulong iv, ReadOnlySpan<byte> source, Span<byte> destination)
    {
        ref byte src = ref MemoryMarshal.GetReference(source);
        ref byte dst = ref MemoryMarshal.GetReference(destination);
        if (source.Length == 0)
        {
            return iv;
        }

        ulong state = ScalarDes.InitialPermutation(iv);
        for (int offset = 0; offset < source.Length; offset += 8)
        {
            // IP(P ^ C) = IP(P) ^ IP(C), and IP(C_prev) is the previous pre-output: no FP/IP round trip on the chain.
            state = ScalarDes.Rounds(ScalarDes.InitialPermutation(Load(ref Unsafe.Add(ref src, offset))) ^ state, keys, false);
            Store(ref Unsafe.Add(ref dst, offset), ScalarDes.FinalPermutation(state));
        }

        return Load(ref Unsafe.Add(ref dst, source.Length - 8));
    }

    public static ulong CbcDecrypt(ReadOnlySpan<uint> keys, ulong iv, ReadOnlySpan<byte> source, Span<byte> destination)
    {
        ref byte src = ref MemoryMarshal.GetReference(source);
        ref byte dst = ref MemoryMarshal.GetReference(destination);
        for (int offset = 0; offset < source.Length; offset += 8)
        {
            ulong c = Load(ref Unsafe.Add(ref src, offset));
            Store(ref Unsafe.Add(ref dst, offset), ScalarDes.CryptBlock(c, keys, true) ^ iv);
            iv = c;
        }

        return iv;
    }

    public static ulong Ctr(ReadOnlySpan<uint> keys, ulong counter, ReadOnlySpan<byte> source, Span<byte> destination)
    {
        ref byte src = ref MemoryMarshal.GetReference(source);
        ref byte dst = ref MemoryMarshal.GetReference(destination);
        int whole = source.Length & ~7;
        for (int offset = 0; offset < whole; offset += 8)
        {
            ulong keystream = ScalarDes.CryptBlock(counter++, keys, false);
            Store(ref Unsafe.Add(ref dst, offset), Load(ref Unsafe.Add(ref src, offset)) ^ keystream);
        }

        if (whole < source.Length)
        {
            Span<byte> block = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64BigEndian(block, ScalarDes.CryptBlock(counter++, keys, false));
            for (int i = whole; i < source.Length; i++)
            {
                destination[i] = (byte)(source[i] ^ block[i - whole]);
            }
        }

        return counter;
    }
}
