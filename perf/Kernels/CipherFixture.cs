using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Crypto.Engines;
using Org.BouncyCastle.Crypto.Modes;
using Org.BouncyCastle.Crypto.Parameters;
using Tolapai.Kernels.Des;
using CipherMode = Tolapai.Kernels.Des.CipherMode;

namespace Tolapai.Perf.Kernels;

/// <summary>
/// Everything one cipher's workloads touch, built once before any timing: keys, pinned buffers
/// (batch jobs point into them), the BouncyCastle and .NET cipher objects and the reference's
/// round keys. Nothing here is created inside a timed call.
/// </summary>
public sealed unsafe class CipherFixture : IDisposable
{
    /// <summary>The most streams any shape (b) workload runs.</summary>
    public const int MaxStreams = 512;

    private readonly List<IDisposable> _owned = [];

    /// <summary>Builds the fixture for an 8-byte (DES) or 24-byte (3-key 3DES) key.</summary>
    public CipherFixture(string name, int keyLength, int size, int streamBytes, int seed)
    {
        Name = name;
        Size = size;
        StreamBytes = streamBytes;
        var random = new Random(seed);
        KeyBytes = RandomBytes(random, keyLength);
        Key = Own(DesKeySchedule.Create(KeyBytes));
        Iv = RandomBytes(random, 8);
        Source = RandomBytes(random, size, pinned: true);
        Destination = GC.AllocateArray<byte>(size, pinned: true);

        IsTripleDes = keyLength != 8;
        BouncyEcb = IsTripleDes ? new DesEdeEngine() : new DesEngine();
        BouncyEcb.Init(true, new KeyParameter(KeyBytes));
        BouncyCbc = new CbcBlockCipher(IsTripleDes ? new DesEdeEngine() : new DesEngine());
        BouncyCbc.Init(true, new ParametersWithIV(new KeyParameter(KeyBytes), Iv));
        DotNet = Own<SymmetricAlgorithm>(IsTripleDes ? TripleDES.Create() : DES.Create());
        DotNet.Key = KeyBytes;

        ReferenceKeys = new ulong[IsTripleDes ? 3 : 1][];
        for (int i = 0; i < ReferenceKeys.Length; i++)
        {
            ReferenceKeys[i] = new ulong[16];
            DesReference.RoundKeys(BinaryPrimitives.ReadUInt64BigEndian(KeyBytes.AsSpan(i * 8, 8)), ReferenceKeys[i]);
        }

        StreamSource = RandomBytes(random, MaxStreams * streamBytes, pinned: true);
        StreamDestination = GC.AllocateArray<byte>(MaxStreams * streamBytes, pinned: true);
        StreamKeys = new DesKeySchedule[MaxStreams];
        for (int i = 0; i < MaxStreams; i++)
        {
            StreamKeys[i] = Own(DesKeySchedule.Create(RandomBytes(random, keyLength)));
        }
    }

    /// <summary><c>des</c> or <c>3des</c>.</summary>
    public string Name { get; }

    /// <summary>Bytes per call in shapes (a) and (c).</summary>
    public int Size { get; }

    /// <summary>Bytes per stream in shape (b).</summary>
    public int StreamBytes { get; }

    /// <summary>True for 3DES.</summary>
    public bool IsTripleDes { get; }

    /// <summary>The raw key.</summary>
    public byte[] KeyBytes { get; }

    /// <summary>Our scheduled key.</summary>
    public DesKeySchedule Key { get; }

    /// <summary>The IV / initial counter.</summary>
    public byte[] Iv { get; }

    /// <summary>Input of shapes (a) and (c) (pinned).</summary>
    public byte[] Source { get; }

    /// <summary>Output of shapes (a) and (c) (pinned).</summary>
    public byte[] Destination { get; }

    /// <summary>BouncyCastle's bare engine, encrypting (ECB).</summary>
    public IBlockCipher BouncyEcb { get; }

    /// <summary>BouncyCastle CBC, encrypting; reset to <see cref="Iv"/> at each call.</summary>
    public CbcBlockCipher BouncyCbc { get; }

    /// <summary>.NET's DES or TripleDES.</summary>
    public SymmetricAlgorithm DotNet { get; }

    /// <summary>The FIPS reference's round keys, one set per DES stage.</summary>
    public ulong[][] ReferenceKeys { get; }

    /// <summary>Input of shape (b): <see cref="MaxStreams"/> streams back to back (pinned).</summary>
    public byte[] StreamSource { get; }

    /// <summary>Output of shape (b) (pinned).</summary>
    public byte[] StreamDestination { get; }

    /// <summary>One key per stream.</summary>
    public DesKeySchedule[] StreamKeys { get; }

    /// <summary>CBC-encrypt jobs for the first <paramref name="streams"/> streams, each with its own key and IV.</summary>
    public DesJob[] CreateJobs(int streams)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(streams, MaxStreams);
        var jobs = new DesJob[streams];
        for (int i = 0; i < streams; i++)
        {
            // The stream buffers live on the pinned object heap, so these addresses stay valid.
            jobs[i] = new DesJob(
                StreamKeys[i],
                CipherMode.Cbc,
                CipherDirection.Encrypt,
                (byte*)Unsafe.AsPointer(ref StreamSource[i * StreamBytes]),
                (byte*)Unsafe.AsPointer(ref StreamDestination[i * StreamBytes]),
                StreamBytes,
                0x0123456789ABCDEFUL ^ (ulong)i);
        }

        return jobs;
    }

    /// <summary>Clears every key and releases the .NET cipher.</summary>
    public void Dispose()
    {
        foreach (IDisposable owned in _owned)
        {
            owned.Dispose();
        }

        _owned.Clear();
        CryptographicOperations.ZeroMemory(KeyBytes);
    }

    private T Own<T>(T disposable)
        where T : IDisposable
    {
        _owned.Add(disposable);
        return disposable;
    }

    private static byte[] RandomBytes(Random random, int length, bool pinned = false)
    {
        byte[] bytes = GC.AllocateArray<byte>(length, pinned);
        random.NextBytes(bytes);
        return bytes;
    }
}
