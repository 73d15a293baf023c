using Tolapai.Cli.CommandLine;
using Tolapai.Kernels.Des;

namespace Tolapai.Cli.Commands;

/// <summary>
/// An algorithm name as the CLI spells it (<c>des-ecb</c>, <c>3des-cbc</c>, ...): the cipher
/// (single DES or EDE 3DES) and its mode, with the key and IV rules that go with them.
/// </summary>
public readonly record struct CipherAlgorithm(string Name, bool IsTripleDes, CipherMode Mode)
{
    /// <summary>Every name <see cref="Parse"/> accepts.</summary>
    public static IReadOnlyList<string> Names { get; } = ["des-ecb", "des-cbc", "3des-ecb", "3des-cbc", "3des-ctr"];

    /// <summary>True for modes that chain through an IV (CBC, CTR); ECB takes none.</summary>
    public bool NeedsIv => Mode != CipherMode.Ecb;

    /// <summary>True for modes that only take whole 8-byte blocks (ECB, CBC).</summary>
    public bool NeedsWholeBlocks => Mode != CipherMode.Ctr;

    /// <summary>Reads an algorithm name; a <see cref="CommandLineException"/> for anything else.</summary>
    public static CipherAlgorithm Parse(string name) => name switch
    {
        "des-ecb" => new(name, false, CipherMode.Ecb),
        "des-cbc" => new(name, false, CipherMode.Cbc),
        "3des-ecb" => new(name, true, CipherMode.Ecb),
        "3des-cbc" => new(name, true, CipherMode.Cbc),
        "3des-ctr" => new(name, true, CipherMode.Ctr),
        _ => throw new CommandLineException($"unknown algorithm '{name}' (one of: {string.Join(", ", Names)})"),
    };

    /// <summary>Throws a <see cref="CommandLineException"/> unless <paramref name="keyLength"/> bytes fit this algorithm.</summary>
    public void CheckKeyLength(int keyLength)
    {
        bool fits = IsTripleDes ? keyLength is 16 or 24 : keyLength == 8;
        if (!fits)
        {
            string wanted = IsTripleDes ? "16 bytes (K1K2K1) or 24 bytes (K1K2K3)" : "8 bytes";
            throw new CommandLineException($"{Name} needs a key of {wanted}, not {keyLength}");
        }
    }
}
