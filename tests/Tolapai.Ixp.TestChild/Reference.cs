using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Crypto.Engines;
using Org.BouncyCastle.Crypto.Modes;
using Org.BouncyCastle.Crypto.Parameters;
using Tolapai.Cpa;

namespace Tolapai.Ixp.TestChild;

/// <summary>What BouncyCastle computes for the same algorithm, key, IV and message.</summary>
internal static class Reference
{
    public static byte[] Cipher(SymCipherAlgorithm alg, SymCipherDirection dir, byte[] key, byte[] iv, byte[] input)
    {
        bool encrypt = dir == SymCipherDirection.Encrypt;
        IBlockCipher engine = alg is SymCipherAlgorithm.DesEcb or SymCipherAlgorithm.DesCbc ? new DesEngine() : new DesEdeEngine();
        IBlockCipher mode = alg switch
        {
            SymCipherAlgorithm.DesCbc or SymCipherAlgorithm.TripleDesCbc => new CbcBlockCipher(engine),
            SymCipherAlgorithm.TripleDesCtr => new SicBlockCipher(engine),
            _ => engine,
        };
        ICipherParameters p = new KeyParameter(key);
        if (alg is SymCipherAlgorithm.DesCbc or SymCipherAlgorithm.TripleDesCbc or SymCipherAlgorithm.TripleDesCtr)
        {
            p = new ParametersWithIV(p, iv);
        }

        if (alg == SymCipherAlgorithm.TripleDesCtr)
        {
            BufferedBlockCipher ctr = new(mode);
            ctr.Init(true, p);
            return ctr.DoFinal(input);
        }

        mode.Init(encrypt, p);
        byte[] output = new byte[input.Length];
        for (int i = 0; i < input.Length; i += 8)
        {
            mode.ProcessBlock(input, i, output, i);
        }

        return output;
    }
}
