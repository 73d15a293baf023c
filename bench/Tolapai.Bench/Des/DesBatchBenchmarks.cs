using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using Org.BouncyCastle.Crypto.Modes;
using Org.BouncyCastle.Crypto.Parameters;
using Tolapai.Kernels.Des;
using CipherMode = Tolapai.Kernels.Des.CipherMode;

namespace Tolapai.Bench.Des;

/// <summary>
/// Shape (b): many independent CBC-encrypt streams, each with its own key and IV, 4 KiB each, as
/// a backend sees them from many guests. Each stream is serial, so the only parallelism is across
/// streams: <see cref="DesCipher.RunBatch"/> gives every stream a SIMD lane. The baseline is
/// BouncyCastle encrypting the streams one after another; .NET and our own one-stream-at-a-time
/// <see cref="DesCipher.Transform"/> are in the same table.
/// </summary>
[MemoryDiagnoser]
[CategoriesColumn]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
public unsafe class DesBatchBenchmarks
{
    /// <summary>Bytes per stream.</summary>
    public const int StreamBytes = 4096;

    private const string Batch = "CBC-encrypt streams";

    private byte[] _source = [];
    private byte[] _destination = [];
    private byte[][] _ivs = [];
    private readonly byte[] _chain = new byte[8];
    private DesKeySchedule[] _keys = [];
    private DesJob[] _jobs = [];
    private CbcBlockCipher[] _bouncy = [];
    private SymmetricAlgorithm[] _dotNet = [];

    /// <summary>Independent streams per call.</summary>
    [Params(64, 512)]
    public int Streams { get; set; }

    /// <summary>DES, 2-key or 3-key 3DES.</summary>
    [Params(CipherKind.Des, CipherKind.TripleDes2Key, CipherKind.TripleDes3Key)]
    public CipherKind Cipher { get; set; }

    /// <summary>Our kernel under test (every one the CPU supports).</summary>
    [ParamsSource(nameof(Kernels))]
    public DesKernel Kernel { get; set; }

    /// <summary>The supported kernels.</summary>
    public static IEnumerable<DesKernel> Kernels => BenchCiphers.SupportedKernels();

    /// <summary>Builds per-stream keys, IVs, jobs and cipher objects once; buffers are pinned so jobs can point into them.</summary>
    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(BenchCiphers.Seed);
        _source = BenchCiphers.RandomBytes(Streams * StreamBytes, random, pinned: true);
        _destination = GC.AllocateArray<byte>(Streams * StreamBytes, pinned: true);
        _ivs = new byte[Streams][];
        _keys = new DesKeySchedule[Streams];
        _jobs = new DesJob[Streams];
        _bouncy = new CbcBlockCipher[Streams];
        _dotNet = new SymmetricAlgorithm[Streams];
        for (int i = 0; i < Streams; i++)
        {
            byte[] key = BenchCiphers.RandomKey(Cipher, random);
            _ivs[i] = BenchCiphers.RandomBytes(8, random);
            _keys[i] = DesKeySchedule.Create(key);
            _bouncy[i] = new CbcBlockCipher(BenchCiphers.BouncyEngine(Cipher));
            _bouncy[i].Init(true, new ParametersWithIV(new KeyParameter(key), _ivs[i]));
            _dotNet[i] = BenchCiphers.DotNet(Cipher, key);
            _jobs[i] = new DesJob(
                _keys[i],
                CipherMode.Cbc,
                CipherDirection.Encrypt,
                (byte*)Unsafe.AsPointer(ref _source[i * StreamBytes]),
                (byte*)Unsafe.AsPointer(ref _destination[i * StreamBytes]),
                StreamBytes,
                BinaryPrimitives.ReadUInt64BigEndian(_ivs[i]));
        }
    }

    /// <summary>Clears the keys and releases the .NET ciphers.</summary>
    [GlobalCleanup]
    public void Cleanup()
    {
        foreach (DesKeySchedule key in _keys)
        {
            key.Dispose();
        }

        foreach (SymmetricAlgorithm cipher in _dotNet)
        {
            cipher.Dispose();
        }
    }

    /// <summary>BouncyCastle CbcBlockCipher per stream, streams one after another.</summary>
    [Benchmark(Baseline = true), BenchmarkCategory(Batch)]
    public void BouncyCastle_Streams()
    {
        for (int i = 0; i < _bouncy.Length; i++)
        {
            CbcBlockCipher cipher = _bouncy[i];
            cipher.Reset();
            ReadOnlySpan<byte> source = _source.AsSpan(i * StreamBytes, StreamBytes);
            Span<byte> destination = _destination.AsSpan(i * StreamBytes, StreamBytes);
            for (int offset = 0; offset < StreamBytes; offset += 8)
            {
                cipher.ProcessBlock(source.Slice(offset, 8), destination.Slice(offset, 8));
            }
        }
    }

    /// <summary>.NET EncryptCbc per stream.</summary>
    [Benchmark, BenchmarkCategory(Batch)]
    public void DotNet_Streams()
    {
        for (int i = 0; i < _dotNet.Length; i++)
        {
            _dotNet[i].TryEncryptCbc(_source.AsSpan(i * StreamBytes, StreamBytes), _ivs[i], _destination.AsSpan(i * StreamBytes, StreamBytes), out _, PaddingMode.None);
        }
    }

    /// <summary>Tolapai, one <see cref="DesCipher.Transform"/> per stream (what a caller without the batch API gets).</summary>
    [Benchmark, BenchmarkCategory(Batch)]
    public void Tolapai_TransformPerStream()
    {
        for (int i = 0; i < _keys.Length; i++)
        {
            _ivs[i].CopyTo(_chain, 0);
            DesCipher.Transform(_keys[i], CipherMode.Cbc, CipherDirection.Encrypt, _chain, _source.AsSpan(i * StreamBytes, StreamBytes), _destination.AsSpan(i * StreamBytes, StreamBytes), Kernel);
        }
    }

    /// <summary>Tolapai <see cref="DesCipher.RunBatch"/>: all streams in one call, a lane each.</summary>
    [Benchmark, BenchmarkCategory(Batch)]
    public void Tolapai_RunBatch() => DesCipher.RunBatch(_jobs, Kernel);
}
