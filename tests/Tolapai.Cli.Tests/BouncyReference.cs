using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Crypto.Engines;
using Org.BouncyCastle.Crypto.Modes;
using Org.BouncyCastle.Crypto.Parameters;

namespace Tolapai.Cli.Tests;

/// <summary>BouncyCastle in the CLI's algorithms: the independent reference the CLI is checked against.</summary>
public static class BouncyReference
{
    public static byte[] Transform(string algorithm, byte[] key, byte[]? iv, bool decrypt, byte[] input)
    {
        IBlockCipher engine = algorithm.StartsWith("3des", StringComparison.Ordinal) ? new DesEdeEngine() : new DesEngine();
        var output = new byte[input.Length];
        if (algorithm.EndsWith("-ctr", StringComparison.Ordinal))
        {
            // SIC: the IV is the initial counter block, incremented as a big-endian number.
            var ctr = new BufferedBlockCipher(new SicBlockCipher(engine));
            ctr.Init(true, new ParametersWithIV(new KeyParameter(key), iv));
            int n = ctr.ProcessBytes(input, 0, input.Length, output, 0);
            ctr.DoFinal(output, n);
            return output;
        }

        bool cbc = algorithm.EndsWith("-cbc", StringComparison.Ordinal);
        IBlockCipher cipher = cbc ? new CbcBlockCipher(engine) : engine;
        cipher.Init(!decrypt, cbc ? new ParametersWithIV(new KeyParameter(key), iv) : new KeyParameter(key));
        for (int offset = 0; offset < input.Length; offset += 8)
        {
            cipher.ProcessBlock(input, offset, output, offset);
        }

        return output;
    }
}
