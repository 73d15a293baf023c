using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Crypto.Engines;
using Org.BouncyCastle.Crypto.Modes;
using Org.BouncyCastle.Crypto.Parameters;
using Tolapai.Kernels.Des;

namespace Tolapai.Kernels.Tests;

/// <summary>BouncyCastle in the same modes: the independent reference every path is checked against.</summary>
public static class BouncyReference
{
    public static byte[] Transform(byte[] key, CipherMode mode, CipherDirection direction, byte[] iv, byte[] input)
    {
        IBlockCipher engine = key.Length == 8 ? new DesEngine() : new DesEdeEngine();
        bool encrypt = direction == CipherDirection.Encrypt;
        var output = new byte[input.Length];
        if (mode == CipherMode.Ctr)
        {
            var ctr = new SicBlockCipher(engine);
            ctr.Init(true, new ParametersWithIV(new KeyParameter(key), iv));
            var stream = new BufferedBlockCipher(ctr);
            int n = stream.ProcessBytes(input, 0, input.Length, output, 0);
            stream.DoFinal(output, n);
            return output;
        }

        IBlockCipher cipher = mode == CipherMode.Cbc ? new CbcBlockCipher(engine) : engine;
        ICipherParameters parameters = mode == CipherMode.Cbc ? new ParametersWithIV(new KeyParameter(key), iv) : new KeyParameter(key);
        cipher.Init(encrypt, parameters);
        for (int offset = 0; offset < input.Length; offset += 8)
        {
            cipher.ProcessBlock(input, offset, output, offset);
        }

        return output;
    }
}
