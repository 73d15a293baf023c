using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Crypto.Engines;
using Org.BouncyCastle.Crypto.Modes;
using Org.BouncyCastle.Crypto.Parameters;

namespace Tolapai.Cpa.Tests;

/// <summary>BouncyCastle in the CPA algorithms: the independent reference.</summary>
public static class BouncyReference
{
    public static byte[] Transform(SymCipherAlgorithm algorithm, SymCipherDirection direction, byte[] key, byte[] iv, ReadOnlySpan<byte> inputSpan)
    {
        byte[] input = inputSpan.ToArray();
        IBlockCipher engine = key.Length == 8 ? new DesEngine() : new DesEdeEngine();
        var output = new byte[input.Length];
        if (algorithm == SymCipherAlgorithm.TripleDesCtr)
        {
            var ctr = new SicBlockCipher(engine);
            ctr.Init(true, new ParametersWithIV(new KeyParameter(key), iv));
            var stream = new BufferedBlockCipher(ctr);
            int n = stream.ProcessBytes(input, 0, input.Length, output, 0);
            stream.DoFinal(output, n);
            return output;
        }

        bool cbc = algorithm is SymCipherAlgorithm.DesCbc or SymCipherAlgorithm.TripleDesCbc;
        IBlockCipher cipher = cbc ? new CbcBlockCipher(engine) : engine;
        ICipherParameters parameters = cbc ? new ParametersWithIV(new KeyParameter(key), iv) : new KeyParameter(key);
        cipher.Init(direction == SymCipherDirection.Encrypt, parameters);
        for (int offset = 0; offset < input.Length; offset += 8)
        {
            cipher.ProcessBlock(input, offset, output, offset);
        }

        return output;
    }
}

/// <summary>Seeded randomness; the seed is in every failure message.</summary>
public static class TestRandom
{
    public static int Seed { get; } = Environment.GetEnvironmentVariable("TOLAPAI_SEED") is { } s && int.TryParse(s, out int v) ? v : Random.Shared.Next();

    public static Random Create(int salt = 0) => new(Seed + salt);
}
