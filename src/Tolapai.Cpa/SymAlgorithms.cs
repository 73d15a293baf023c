using Tolapai.Kernels.Des;

namespace Tolapai.Cpa;

/// <summary>Maps the CPA algorithm names onto the kernels' mode and key family.</summary>
public static class SymAlgorithms
{
    /// <summary>The kernels' mode of an algorithm.</summary>
    public static CipherMode Mode(SymCipherAlgorithm algorithm) => algorithm switch
    {
        SymCipherAlgorithm.DesEcb or SymCipherAlgorithm.TripleDesEcb => CipherMode.Ecb,
        SymCipherAlgorithm.DesCbc or SymCipherAlgorithm.TripleDesCbc => CipherMode.Cbc,
        SymCipherAlgorithm.TripleDesCtr => CipherMode.Ctr,
        _ => throw new ArgumentOutOfRangeException(nameof(algorithm), algorithm, "unknown algorithm"),
    };

    /// <summary>The kernels' direction.</summary>
    public static Kernels.Des.CipherDirection Direction(SymCipherDirection direction) =>
        direction == SymCipherDirection.Encrypt ? Kernels.Des.CipherDirection.Encrypt : Kernels.Des.CipherDirection.Decrypt;

    /// <summary>True for the 3DES algorithms.</summary>
    public static bool IsTripleDes(SymCipherAlgorithm algorithm) =>
        algorithm is SymCipherAlgorithm.TripleDesEcb or SymCipherAlgorithm.TripleDesCbc or SymCipherAlgorithm.TripleDesCtr;

    /// <summary>Parses the CLI names: des-ecb, des-cbc, 3des-ecb, 3des-cbc, 3des-ctr.</summary>
    public static bool TryParse(string name, out SymCipherAlgorithm algorithm)
    {
        ArgumentNullException.ThrowIfNull(name);
        algorithm = name switch
        {
            "des-ecb" => SymCipherAlgorithm.DesEcb,
            "des-cbc" => SymCipherAlgorithm.DesCbc,
            "3des-ecb" => SymCipherAlgorithm.TripleDesEcb,
            "3des-cbc" => SymCipherAlgorithm.TripleDesCbc,
            "3des-ctr" => SymCipherAlgorithm.TripleDesCtr,
            _ => 0,
        };
        return algorithm != 0;
    }

    /// <summary>The CLI name of an algorithm.</summary>
    public static string Name(SymCipherAlgorithm algorithm) => algorithm switch
    {
        SymCipherAlgorithm.DesEcb => "des-ecb",
        SymCipherAlgorithm.DesCbc => "des-cbc",
        SymCipherAlgorithm.TripleDesEcb => "3des-ecb",
        SymCipherAlgorithm.TripleDesCbc => "3des-cbc",
        SymCipherAlgorithm.TripleDesCtr => "3des-ctr",
        _ => algorithm.ToString(),
    };
}
