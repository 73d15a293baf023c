using System.Buffers.Binary;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using Tolapai.Faults;
using Tolapai.Kernels.Des.Scalar;

namespace Tolapai.Kernels.Des;

/// <summary>
/// DES and 3DES in ECB, CBC and CTR, span-based and allocation-free. Parallel work (ECB, CTR,
/// CBC decryption) runs on the widest SIMD pipeline; a single CBC-encrypt stream runs on the
/// scalar kernel; many CBC-encrypt streams go through <see cref="RunBatch"/>, which gives each
/// stream its own SIMD lane.
/// </summary>
public static partial class DesCipher
{
    /// <summary>The kernel <see cref="DesKernel.Auto"/> resolves to on this CPU.</summary>
    public static DesKernel Best { get; } = ResolveBest();

    private static DesKernel ResolveBest()
    {
        if (IsSupported(DesKernel.Vector512))
        {
            return DesKernel.Vector512;
        }

        if (IsSupported(DesKernel.Vector256))
        {
            return DesKernel.Vector256;
        }

        return IsSupported(DesKernel.Vector128) ? DesKernel.Vector128 : DesKernel.Scalar;
    }

    /// <summary>True when <paramref name="kernel"/> can run on this CPU (with the current DOTNET_Enable* settings).</summary>
    public static bool IsSupported(DesKernel kernel) => kernel switch
    {
        DesKernel.Auto or DesKernel.Scalar => true,
        DesKernel.Vector128 => Vector.V128Ops.IsSupported,
        DesKernel.Vector256 => Vector.V256Ops.IsSupported,
        DesKernel.Vector512 => Vector.V512Ops.IsSupported,
        _ => false,
    };

    /// <summary>
    /// Encrypts or decrypts <paramref name="source"/> into <paramref name="destination"/> (same
    /// length; the same memory for in-place). <paramref name="iv"/> (8 bytes; ignored for ECB) is
    /// updated to the chaining value, so a stream can be processed in pieces: for CBC the last
    /// ciphertext block, for CTR the next counter block. ECB and CBC need whole 8-byte blocks; CTR
    /// takes any length (a partial last block uses the front of its keystream block).
    /// </summary>
    public static void Transform(
        DesKeySchedule key,
        CipherMode mode,
        CipherDirection direction,
        Span<byte> iv,
        ReadOnlySpan<byte> source,
        Span<byte> destination,
        DesKernel kernel = DesKernel.Auto)
    {
        ArgumentNullException.ThrowIfNull(key);
        ObjectDisposedException.ThrowIf(key.IsDisposed, key);
        Validate(mode, iv, source, destination);
        kernel = Resolve(kernel);
        if (mode == CipherMode.Ecb)
        {
            TransformCore(key, mode, direction, 0, source, destination, kernel);
        }
        else
        {
            BinaryPrimitives.WriteUInt64BigEndian(iv, TransformCore(key, mode, direction, BinaryPrimitives.ReadUInt64BigEndian(iv), source, destination, kernel));
        }
    }

    /// <summary>
    /// The work of <see cref="Transform"/> on arguments already validated and a resolved kernel,
    /// with the chaining value as a big-endian 64-bit value; returns the next one (ECB: unchanged).
    /// </summary>
    internal static ulong TransformCore(DesKeySchedule key, CipherMode mode, CipherDirection direction, ulong iv, ReadOnlySpan<byte> source, Span<byte> destination, DesKernel kernel) =>
        TestFaults.Any
            ? TransformFaulted(key, mode, direction, iv, source, destination, kernel)
            : TransformWork(key, mode, direction, iv, source, destination, kernel);

    // Test-only (TOLAPAI_TEST_FAULTS): the same work, then the time a slower kernel would have
    // taken. A single CBC-encrypt stream always runs on the scalar kernel, whatever was asked.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static ulong TransformFaulted(DesKeySchedule key, CipherMode mode, CipherDirection direction, ulong iv, ReadOnlySpan<byte> source, Span<byte> destination, DesKernel kernel)
    {
        bool scalar = kernel == DesKernel.Scalar || (mode == CipherMode.Cbc && direction == CipherDirection.Encrypt);
        long start = Stopwatch.GetTimestamp();
        ulong next = TransformWork(key, mode, direction, iv, source, destination, kernel);
        TestFaults.Burn(start, scalar ? TestFaults.SlowScalarKernel : TestFaults.SlowSimdKernel);
        return next;
    }

    private static ulong TransformWork(DesKeySchedule key, CipherMode mode, CipherDirection direction, ulong iv, ReadOnlySpan<byte> source, Span<byte> destination, DesKernel kernel)
    {
        bool decrypt = direction == CipherDirection.Decrypt;
        switch (mode)
        {
            case CipherMode.Ecb:
                Ecb(kernel, key, decrypt, source, destination);
                return iv;
            case CipherMode.Cbc when !decrypt:
                return ScalarModes.CbcEncrypt(key.Cooked, iv, source, destination);
            case CipherMode.Cbc:
                return CbcDecrypt(kernel, key, iv, source, destination);
            default:
                // CTR is the same keystream both ways.
                return Ctr(kernel, key, iv, source, destination);
        }
    }

    internal static DesKernel Resolve(DesKernel kernel)
    {
        if (kernel == DesKernel.Auto)
        {
            return Best;
        }

        if (!IsSupported(kernel))
        {
            ThrowHelper.ThrowNotSupported($"The {kernel} DES kernel is not supported on this CPU.");
        }

        return kernel;
    }

    private static void Validate(CipherMode mode, ReadOnlySpan<byte> iv, ReadOnlySpan<byte> source, Span<byte> destination)
    {
        if (mode is not (CipherMode.Ecb or CipherMode.Cbc or CipherMode.Ctr))
        {
            ThrowHelper.ThrowArgument(nameof(mode), $"Unknown cipher mode {(int)mode}.");
        }

        if (mode != CipherMode.Ecb && iv.Length != 8)
        {
            ThrowHelper.ThrowArgument(nameof(iv), $"The IV must be 8 bytes, not {iv.Length}.");
        }

        if (mode != CipherMode.Ctr && (source.Length & 7) != 0)
        {
            ThrowHelper.ThrowArgument(nameof(source), $"{mode} needs whole 8-byte blocks; {source.Length} bytes is not a multiple of 8.");
        }

        if (destination.Length != source.Length)
        {
            ThrowHelper.ThrowArgument(nameof(destination), $"The destination holds {destination.Length} bytes; the source has {source.Length}.");
        }

        if (source.Overlaps(destination, out int elementOffset) && elementOffset != 0)
        {
            ThrowHelper.ThrowArgument(nameof(destination), "Source and destination overlap without being the same memory.");
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Ecb(DesKernel kernel, DesKeySchedule key, bool decrypt, ReadOnlySpan<byte> source, Span<byte> destination)
    {
        switch (kernel)
        {
            case DesKernel.Vector512:
                Vector.VectorDes<Vector.V512Ops, Vector512<byte>>.Ecb(key, decrypt, source, destination);
                break;
            case DesKernel.Vector256:
                Vector.VectorDes<Vector.V256Ops, Vector256<byte>>.Ecb(key, decrypt, source, destination);
                break;
            case DesKernel.Vector128:
                Vector.VectorDes<Vector.V128Ops, Vector128<byte>>.Ecb(key, decrypt, source, destination);
                break;
            default:
                ScalarModes.Ecb(key.Cooked, decrypt, source, destination);
                break;
        }
    }

    private static ulong CbcDecrypt(DesKernel kernel, DesKeySchedule key, ulong iv, ReadOnlySpan<byte> source, Span<byte> destination) => kernel switch
    {
        DesKernel.Vector512 => Vector.VectorDes<Vector.V512Ops, Vector512<byte>>.CbcDecrypt(key, iv, source, destination),
        DesKernel.Vector256 => Vector.VectorDes<Vector.V256Ops, Vector256<byte>>.CbcDecrypt(key, iv, source, destination),
        DesKernel.Vector128 => Vector.VectorDes<Vector.V128Ops, Vector128<byte>>.CbcDecrypt(key, iv, source, destination),
        _ => ScalarModes.CbcDecrypt(key.Cooked, iv, source, destination),
    };

    private static ulong Ctr(DesKernel kernel, DesKeySchedule key, ulong counter, ReadOnlySpan<byte> source, Span<byte> destination) => kernel switch
    {
        DesKernel.Vector512 => Vector.VectorDes<Vector.V512Ops, Vector512<byte>>.Ctr(key, counter, source, destination),
        DesKernel.Vector256 => Vector.VectorDes<Vector.V256Ops, Vector256<byte>>.Ctr(key, counter, source, destination),
        DesKernel.Vector128 => Vector.VectorDes<Vector.V128Ops, Vector128<byte>>.Ctr(key, counter, source, destination),
        _ => ScalarModes.Ctr(key.Cooked, counter, source, destination),
    };
}
