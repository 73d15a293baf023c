using Xunit.Abstractions;

namespace Tolapai.Cli.Tests;

/// <summary>
/// The CLI against the real <c>openssl enc -nopad</c>, byte for byte. Skipped, with the reason,
/// where openssl or its legacy provider (single DES) is missing. openssl has no DES CTR, so
/// 3des-ctr is covered by the BouncyCastle tests only.
/// </summary>
[Collection(MultiProcessCollection.Name)]
public sealed class CipherOpenSslTests(ITestOutputHelper output)
{
    public static TheoryData<string, int, bool> SingleDes() => Cases(("des-ecb", 8), ("des-cbc", 8));

    public static TheoryData<string, int, bool> TripleDes() => Cases(("3des-ecb", 16), ("3des-ecb", 24), ("3des-cbc", 16), ("3des-cbc", 24));

    [OpenSslTheory(NeedsLegacyProvider = true)]
    [MemberData(nameof(SingleDes))]
    public void Single_DES_matches_openssl(string algorithm, int keyLength, bool decrypt) => Compare(algorithm, keyLength, decrypt);

    [OpenSslTheory]
    [MemberData(nameof(TripleDes))]
    public void Triple_DES_matches_openssl(string algorithm, int keyLength, bool decrypt) => Compare(algorithm, keyLength, decrypt);

    private void Compare(string algorithm, int keyLength, bool decrypt)
    {
        int seed = Check.Seed("openssl", algorithm, keyLength, decrypt);
        string context = $"{algorithm} key {keyLength} bytes {(decrypt ? "decrypt" : "encrypt")}, seed {seed}";
        output.WriteLine(context);
        var random = new Random(seed);
        byte[] key = new byte[keyLength];
        random.NextBytes(key);
        byte[]? iv = algorithm.EndsWith("-cbc", StringComparison.Ordinal) ? new byte[8] : null;
        if (iv is not null)
        {
            random.NextBytes(iv);
        }

        byte[] input = new byte[(1 << 20) + 8];
        random.NextBytes(input);

        byte[] expected = OpenSsl.Enc(OpenSsl.CipherName(algorithm, keyLength), key, iv, decrypt, input);
        byte[] actual = CipherRun.Piped(CipherRun.Args(algorithm, key, iv, decrypt), input, context);
        Check.SameBytes(expected, actual, context);
    }

    private static TheoryData<string, int, bool> Cases(params (string Algorithm, int KeyLength)[] ciphers)
    {
        var data = new TheoryData<string, int, bool>();
        foreach ((string algorithm, int keyLength) in ciphers)
        {
            data.Add(algorithm, keyLength, false);
            data.Add(algorithm, keyLength, true);
        }

        return data;
    }
}
