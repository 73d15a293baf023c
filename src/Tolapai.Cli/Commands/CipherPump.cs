using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography;
using Tolapai.Cli.CommandLine;
using Tolapai.Kernels.Des;

namespace Tolapai.Cli.Commands;

/// <summary>
/// Streams a whole input through <see cref="DesCipher.Transform"/> in fixed-size chunks, with the
/// IV span carried from chunk to chunk (CBC's last ciphertext block, CTR's next counter), so any
/// input size runs in constant memory: two chunk buffers per run, nothing allocated per chunk.
/// </summary>
/// <remarks>
/// Output runs one chunk behind input: a transformed chunk is written only once the next read
/// has shown that the input goes on in whole blocks. So when ECB or CBC input ends in a partial
/// block, the last chunk of output is never written, and an input of up to
/// <see cref="ChunkBytes"/> bytes writes nothing at all. Callers that need all-or-nothing for
/// longer inputs check a known input length first or write to a temporary file.
/// </remarks>
public static class CipherPump
{
    /// <summary>Bytes per chunk: a multiple of the 8-byte block, large enough to amortise a read and a write.</summary>
    public const int ChunkBytes = 64 * 1024;

    /// <summary>
    /// Transforms everything <paramref name="input"/> holds into <paramref name="output"/> and
    /// returns the number of bytes. Throws <see cref="CommandLineException"/> (before writing the
    /// last chunk) when ECB/CBC input is not a whole number of blocks.
    /// </summary>
    public static long Run(
        DesKeySchedule key,
        CipherAlgorithm algorithm,
        CipherDirection direction,
        Span<byte> iv,
        Stream input,
        Stream output)
    {
        byte[] current = GC.AllocateUninitializedArray<byte>(ChunkBytes);
        byte[] held = GC.AllocateUninitializedArray<byte>(ChunkBytes);
        int heldLength = 0;
        long total = 0;
        try
        {
            while (true)
            {
                // The whole buffer unless the input ends first, so every chunk but the last is
                // whole blocks even when a pipe hands data over in odd-sized pieces.
                int length = input.ReadAtLeast(current, current.Length, throwOnEndOfStream: false);
                total += length;
                if (algorithm.NeedsWholeBlocks && (length & 7) != 0)
                {
                    // Only the last read can be short, so this is the end of the input: fail
                    // before the held chunk goes out.
                    ThrowPartialBlock(algorithm, total);
                }

                if (heldLength > 0)
                {
                    output.Write(held, 0, heldLength);
                }

                Span<byte> chunk = current.AsSpan(0, length);
                DesCipher.Transform(key, algorithm.Mode, direction, iv, chunk, chunk);
                (current, held, heldLength) = (held, current, length);
                if (length < ChunkBytes)
                {
                    break;
                }
            }

            output.Write(held, 0, heldLength);
            output.Flush();
            return total;
        }
        finally
        {
            // The buffers held plaintext on one side or the other.
            CryptographicOperations.ZeroMemory(current);
            CryptographicOperations.ZeroMemory(held);
        }
    }

    /// <summary>The error for ECB/CBC input of <paramref name="length"/> bytes that is not whole blocks.</summary>
    [DoesNotReturn]
    public static void ThrowPartialBlock(CipherAlgorithm algorithm, long length) =>
        throw new CommandLineException(
            $"{algorithm.Name} input is {length} bytes, not a whole number of 8-byte blocks (no padding is done; use 3des-ctr for any length)");
}
