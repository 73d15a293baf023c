using System.Security.Cryptography;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Crypto.Modes;
using Org.BouncyCastle.Crypto.Parameters;
using Tolapai.Kernels.Des;
using CipherMode = Tolapai.Kernels.Des.CipherMode;

namespace Tolapai.Bench.Des;

/// <summary>
/// One stream, one key, one buffer per call: shape (a) (ECB, CTR, CBC decryption: independent
/// blocks the SIMD kernels spread over lanes) and shape (c) (CBC encryption: serial, scalar).
/// Each mode is a category whose baseline is BouncyCastle in the same mode; .NET's built-in
/// DES/TripleDES (OpenSSL on Linux) sits in the same table where it has the mode. Every cipher
/// object and buffer is made once in <see cref="Setup"/>; the Tolapai rows must show 0 B allocated.
/// </summary>
/// <remarks>
/// The BouncyCastle and .NET rows repeat for every <see cref="Kernel"/> value because
/// BenchmarkDotNet groups baselines by parameters; each row's ratio is then against a baseline
/// measured next to it. Run a slice with e.g. <c>--filter *DesMode* --anyCategories CTR</c>.
/// </remarks>
[MemoryDiagnoser]
[CategoriesColumn]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
public class DesModeBenchmarks
{
    private const string Ecb = "ECB";
    private const string CbcEncrypt = "CBC-encrypt";
    private const string CbcDecrypt = "CBC-decrypt";
    private const string Ctr = "CTR";

    private byte[] _source = [];
    private byte[] _destination = [];
    private byte[] _iv = [];
    private readonly byte[] _chain = new byte[8];
    private DesKeySchedule? _key;
    private IBlockCipher? _bcEcbEncrypt;
    private CbcBlockCipher? _bcCbcEncrypt;
    private CbcBlockCipher? _bcCbcDecrypt;
    private SicBlockCipher? _bcCtr;
    private SymmetricAlgorithm? _dotNet;

    /// <summary>Bytes per call.</summary>
    [Params(64, 1024, 16384, 1048576)]
    public int Size { get; set; }

    /// <summary>DES, 2-key or 3-key 3DES.</summary>
    [Params(CipherKind.Des, CipherKind.TripleDes2Key, CipherKind.TripleDes3Key)]
    public CipherKind Cipher { get; set; }

    /// <summary>Our kernel under test (every one the CPU supports).</summary>
    [ParamsSource(nameof(Kernels))]
    public DesKernel Kernel { get; set; }

    /// <summary>The supported kernels.</summary>
    public static IEnumerable<DesKernel> Kernels => BenchCiphers.SupportedKernels();

    /// <summary>Builds keys, buffers and the competitors' cipher objects once.</summary>
    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(BenchCiphers.Seed);
        byte[] key = BenchCiphers.RandomKey(Cipher, random);
        _iv = BenchCiphers.RandomBytes(8, random);
        _source = BenchCiphers.RandomBytes(Size, random);
        _destination = new byte[Size];
        _key = DesKeySchedule.Create(key);

        _bcEcbEncrypt = BenchCiphers.BouncyEngine(Cipher);
        _bcEcbEncrypt.Init(true, new KeyParameter(key));
        _bcCbcEncrypt = new CbcBlockCipher(BenchCiphers.BouncyEngine(Cipher));
        _bcCbcEncrypt.Init(true, new ParametersWithIV(new KeyParameter(key), _iv));
        _bcCbcDecrypt = new CbcBlockCipher(BenchCiphers.BouncyEngine(Cipher));
        _bcCbcDecrypt.Init(false, new ParametersWithIV(new KeyParameter(key), _iv));
        _bcCtr = new SicBlockCipher(BenchCiphers.BouncyEngine(Cipher));
        _bcCtr.Init(true, new ParametersWithIV(new KeyParameter(key), _iv));

        _dotNet = BenchCiphers.DotNet(Cipher, key);
    }

    /// <summary>Clears the key and releases the .NET cipher.</summary>
    [GlobalCleanup]
    public void Cleanup()
    {
        _key?.Dispose();
        _dotNet?.Dispose();
    }

    // ---- ECB (shape a) ----

    /// <summary>BouncyCastle DesEngine/DesEdeEngine, block by block.</summary>
    [Benchmark(Baseline = true), BenchmarkCategory(Ecb)]
    public void BouncyCastle_Ecb() => Blocks(_bcEcbEncrypt!);

    /// <summary>.NET DES/TripleDES EncryptEcb, no padding, into the preallocated destination.</summary>
    [Benchmark, BenchmarkCategory(Ecb)]
    public bool DotNet_Ecb() => _dotNet!.TryEncryptEcb(_source, _destination, PaddingMode.None, out _);

    /// <summary>Tolapai, ECB encryption on the kernel under test.</summary>
    [Benchmark, BenchmarkCategory(Ecb)]
    public void Tolapai_Ecb() => DesCipher.Transform(_key!, CipherMode.Ecb, CipherDirection.Encrypt, _chain, _source, _destination, Kernel);

    // ---- CBC encryption (shape c) ----

    /// <summary>BouncyCastle CbcBlockCipher, reset to the IV each call.</summary>
    [Benchmark(Baseline = true), BenchmarkCategory(CbcEncrypt)]
    public void BouncyCastle_CbcEncrypt()
    {
        _bcCbcEncrypt!.Reset();
        Blocks(_bcCbcEncrypt);
    }

    /// <summary>.NET EncryptCbc, no padding.</summary>
    [Benchmark, BenchmarkCategory(CbcEncrypt)]
    public bool DotNet_CbcEncrypt() => _dotNet!.TryEncryptCbc(_source, _iv, _destination, out _, PaddingMode.None);

    /// <summary>Tolapai CBC encryption (serial: scalar whatever the kernel).</summary>
    [Benchmark, BenchmarkCategory(CbcEncrypt)]
    public void Tolapai_CbcEncrypt()
    {
        _iv.CopyTo(_chain, 0);
        DesCipher.Transform(_key!, CipherMode.Cbc, CipherDirection.Encrypt, _chain, _source, _destination, Kernel);
    }

    // ---- CBC decryption (shape a) ----

    /// <summary>BouncyCastle CbcBlockCipher decrypting, reset to the IV each call.</summary>
    [Benchmark(Baseline = true), BenchmarkCategory(CbcDecrypt)]
    public void BouncyCastle_CbcDecrypt()
    {
        _bcCbcDecrypt!.Reset();
        Blocks(_bcCbcDecrypt);
    }

    /// <summary>.NET DecryptCbc, no padding.</summary>
    [Benchmark, BenchmarkCategory(CbcDecrypt)]
    public bool DotNet_CbcDecrypt() => _dotNet!.TryDecryptCbc(_source, _iv, _destination, out _, PaddingMode.None);

    /// <summary>Tolapai CBC decryption on the kernel under test.</summary>
    [Benchmark, BenchmarkCategory(CbcDecrypt)]
    public void Tolapai_CbcDecrypt()
    {
        _iv.CopyTo(_chain, 0);
        DesCipher.Transform(_key!, CipherMode.Cbc, CipherDirection.Decrypt, _chain, _source, _destination, Kernel);
    }

    // ---- CTR (shape a; .NET has no CTR) ----

    /// <summary>BouncyCastle SicBlockCipher, reset to the initial counter each call.</summary>
    [Benchmark(Baseline = true), BenchmarkCategory(Ctr)]
    public void BouncyCastle_Ctr()
    {
        _bcCtr!.Reset();
        Blocks(_bcCtr);
    }

    /// <summary>Tolapai CTR on the kernel under test.</summary>
    [Benchmark, BenchmarkCategory(Ctr)]
    public void Tolapai_Ctr()
    {
        _iv.CopyTo(_chain, 0);
        DesCipher.Transform(_key!, CipherMode.Ctr, CipherDirection.Encrypt, _chain, _source, _destination, Kernel);
    }

    private void Blocks(IBlockCipher cipher)
    {
        ReadOnlySpan<byte> source = _source;
        Span<byte> destination = _destination;
        for (int offset = 0; offset < source.Length; offset += 8)
        {
            cipher.ProcessBlock(source.Slice(offset, 8), destination.Slice(offset, 8));
        }
    }
}
