using System.Buffers.Binary;
using System.Security.Cryptography;
using Tolapai.Kernels.Des;
using CipherMode = Tolapai.Kernels.Des.CipherMode;

namespace Tolapai.Perf.Kernels;

/// <summary>
/// The workloads of one cipher: the yardsticks (BouncyCastle CBC and ECB, .NET CBC, the FIPS
/// reference) and every supported kernel in every shape: (a) ECB, CTR and CBC decryption on one
/// buffer, (b) <see cref="DesCipher.RunBatch"/> over 64 and 512 CBC-encrypt streams, (c) one
/// CBC-encrypt stream.
/// </summary>
public static class KernelWorkloads
{
    /// <summary>The stream counts of shape (b).</summary>
    public static IReadOnlyList<int> BatchStreams { get; } = [64, 512];

    /// <summary>
    /// Bytes per call of the FIPS reference. It is about 100 times slower than the kernels, so its
    /// calls are kept small enough to make hundreds of them even in its short budget (tier-up
    /// counts calls); it has no per-call setup, its round keys being made once.
    /// </summary>
    public const int ReferenceBytes = 64;

    /// <summary>The reference's share of the time budget.</summary>
    public const double ReferenceBudgetScale = 0.25;

    /// <summary>Id of the BouncyCastle CBC-encrypt row every ratio is taken against.</summary>
    public static string BouncyCbcId(string cipher) => $"{cipher}.bouncycastle.cbc-encrypt";

    /// <summary>Id of the FIPS reference row.</summary>
    public static string ReferenceId(string cipher) => $"{cipher}.reference.ecb";

    /// <summary>Id of one of our rows.</summary>
    public static string OursId(string cipher, DesKernel kernel, string shapeWork) => $"{cipher}.{kernel.ToString().ToLowerInvariant()}.{shapeWork}";

    /// <summary>Every kernel this CPU runs (Auto is one of them, so it is left out). New kernels appear as soon as they report supported.</summary>
    public static IReadOnlyList<DesKernel> SupportedKernels() =>
        Enum.GetValues<DesKernel>().Where(k => k != DesKernel.Auto && DesCipher.IsSupported(k)).ToArray();

    /// <summary>The workloads over <paramref name="f"/> for <paramref name="kernels"/>.</summary>
    public static IEnumerable<Workload> For(CipherFixture f, IReadOnlyList<DesKernel> kernels)
    {
        ArgumentNullException.ThrowIfNull(f);
        ArgumentNullException.ThrowIfNull(kernels);
        string c = f.Name;
        yield return new Workload(BouncyCbcId(c), c, Implementations.BouncyCastle, "", "BouncyCastle CBC-encrypt", null, f.Size, 1, () =>
        {
            f.BouncyCbc.Reset();
            ReadOnlySpan<byte> source = f.Source;
            Span<byte> destination = f.Destination;
            for (int offset = 0; offset < source.Length; offset += 8)
            {
                f.BouncyCbc.ProcessBlock(source.Slice(offset, 8), destination.Slice(offset, 8));
            }
        });

        yield return new Workload($"{c}.bouncycastle.ecb", c, Implementations.BouncyCastle, "", "BouncyCastle ECB", null, f.Size, 1, () =>
        {
            ReadOnlySpan<byte> source = f.Source;
            Span<byte> destination = f.Destination;
            for (int offset = 0; offset < source.Length; offset += 8)
            {
                f.BouncyEcb.ProcessBlock(source.Slice(offset, 8), destination.Slice(offset, 8));
            }
        });

        yield return new Workload($"{c}.dotnet.cbc-encrypt", c, Implementations.DotNet, "", ".NET CBC-encrypt", null, f.Size, 1,
            () => f.DotNet.TryEncryptCbc(f.Source, f.Iv, f.Destination, out _, PaddingMode.None));

        int referenceBytes = Math.Min(f.Size, ReferenceBytes);
        yield return new Workload(ReferenceId(c), c, Implementations.Reference, "", "FIPS reference ECB", null, referenceBytes, ReferenceBudgetScale, () =>
        {
            ReadOnlySpan<byte> source = f.Source.AsSpan(0, referenceBytes);
            Span<byte> destination = f.Destination;
            ulong[][] keys = f.ReferenceKeys;
            for (int offset = 0; offset < source.Length; offset += 8)
            {
                ulong block = BinaryPrimitives.ReadUInt64BigEndian(source[offset..]);
                block = keys.Length == 1
                    ? DesReference.Crypt(block, keys[0], false)
                    : DesReference.Crypt(DesReference.Crypt(DesReference.Crypt(block, keys[0], false), keys[1], true), keys[2], false);
                BinaryPrimitives.WriteUInt64BigEndian(destination[offset..], block);
            }
        });

        byte[] chain = new byte[8];
        foreach (DesKernel kernel in kernels)
        {
            yield return Ours(f, kernel, "a-ecb", "(a) ECB", f.Size,
                () => DesCipher.Transform(f.Key, CipherMode.Ecb, CipherDirection.Encrypt, chain, f.Source, f.Destination, kernel));
            yield return Ours(f, kernel, "a-ctr", "(a) CTR", f.Size,
                () => DesCipher.Transform(f.Key, CipherMode.Ctr, CipherDirection.Encrypt, chain, f.Source, f.Destination, kernel));
            yield return Ours(f, kernel, "a-cbc-decrypt", "(a) CBC-decrypt", f.Size,
                () => DesCipher.Transform(f.Key, CipherMode.Cbc, CipherDirection.Decrypt, chain, f.Source, f.Destination, kernel));
            foreach (int streams in BatchStreams)
            {
                DesJob[] jobs = f.CreateJobs(streams);
                yield return Ours(f, kernel, $"b-batch-{streams}", $"(b) RunBatch {streams}x{f.StreamBytes} B", (long)streams * f.StreamBytes,
                    () => DesCipher.RunBatch(jobs, kernel));
            }

            yield return Ours(f, kernel, "c-cbc-encrypt", "(c) CBC-encrypt", f.Size,
                () => DesCipher.Transform(f.Key, CipherMode.Cbc, CipherDirection.Encrypt, chain, f.Source, f.Destination, kernel));
        }
    }

    private static Workload Ours(CipherFixture f, DesKernel kernel, string shapeWork, string label, long bytes, Action op) =>
        new(OursId(f.Name, kernel, shapeWork), f.Name, Implementations.Tolapai, shapeWork[..1], label, kernel.ToString(), bytes, 1, op);
}
