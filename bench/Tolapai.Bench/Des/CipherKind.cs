using System.Security.Cryptography;
using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Crypto.Engines;
using Tolapai.Kernels.Des;

namespace Tolapai.Bench.Des;

/// <summary>The three key shapes every DES benchmark runs with.</summary>
public enum CipherKind
{
    /// <summary>Single DES, 8-byte key.</summary>
    Des,

    /// <summary>2-key 3DES (K1K2K1), 16-byte key.</summary>
    TripleDes2Key,

    /// <summary>3-key 3DES (K1K2K3), 24-byte key.</summary>
    TripleDes3Key,
}

/// <summary>Keys, kernels and the competitors' cipher objects, built once per benchmark setup.</summary>
internal static class BenchCiphers
{
    /// <summary>The fixed seed of every buffer and key in the benchmarks, so runs compare like with like.</summary>
    public const int Seed = 0x7011A9A1;

    /// <summary>Every kernel this CPU runs (Auto left out: it is one of the others). Vector kernels appear here once they report supported.</summary>
    public static IEnumerable<DesKernel> SupportedKernels() =>
        Enum.GetValues<DesKernel>().Where(k => k != DesKernel.Auto && DesCipher.IsSupported(k));

    public static int KeyLength(CipherKind kind) => kind switch
    {
        CipherKind.Des => 8,
        CipherKind.TripleDes2Key => 16,
        _ => 24,
    };

    public static byte[] RandomKey(CipherKind kind, Random random)
    {
        var key = new byte[KeyLength(kind)];
        random.NextBytes(key);
        return key;
    }

    public static byte[] RandomBytes(int length, Random random, bool pinned = false)
    {
        byte[] bytes = GC.AllocateArray<byte>(length, pinned);
        random.NextBytes(bytes);
        return bytes;
    }

    public static IBlockCipher BouncyEngine(CipherKind kind) => kind == CipherKind.Des ? new DesEngine() : new DesEdeEngine();

    /// <summary>
    /// .NET's built-in cipher for the key. A 2-key 3DES key is handed over as K1K2K1 (24 bytes):
    /// the same cipher, and OpenSSL 3 on Linux rejects 16-byte TripleDES keys.
    /// </summary>
    public static SymmetricAlgorithm DotNet(CipherKind kind, byte[] key)
    {
        if (kind == CipherKind.Des)
        {
            var des = DES.Create();
            des.Key = key;
            return des;
        }

        var tripleDes = TripleDES.Create();
        tripleDes.Key = kind == CipherKind.TripleDes2Key ? [.. key, .. key.AsSpan(0, 8)] : key;
        return tripleDes;
    }
}
