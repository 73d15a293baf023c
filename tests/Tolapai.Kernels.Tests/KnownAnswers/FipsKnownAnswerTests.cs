using System.Text;
using Tolapai.Kernels.Des;

namespace Tolapai.Kernels.Tests.KnownAnswers;

/// <summary>
/// The worked examples of FIPS PUB 81 (DES Modes of Operation): "Now is the time for all "
/// under key 0123456789abcdef, in ECB and in CBC with IV 1234567890abcdef. The values are
/// those BouncyCastle's DesTest (bc-csharp), Botan's DES self-test and dotnet/runtime's DES
/// tests carry as the FIPS 81 examples; all three agree.
/// </summary>
public class FipsKnownAnswerTests
{
    private const ulong Key = 0x0123456789abcdef;
    private const ulong Iv = 0x1234567890abcdef;

    // "Now is t", "he time ", "for all ".
    private static readonly ulong[] Plaintext = [0x4e6f772069732074, 0x68652074696d6520, 0x666f7220616c6c20];
    private static readonly ulong[] EcbCiphertext = [0x3fa40e8a984d4815, 0x6a271787ab8883f9, 0x893d51ec4b563b53];
    private static readonly ulong[] CbcCiphertext = [0xe5c7cdde872bf27c, 0x43e934008c389c0f, 0x683788499a7c05f6];

    public static TheoryData<KeyForm> Forms => [.. KeyForms.All];

    public static TheoryData<KeyForm, DesKernel> FormsAndKernels
    {
        get
        {
            var data = new TheoryData<KeyForm, DesKernel>();
            foreach (KeyForm form in KeyForms.All)
            {
                foreach (DesKernel kernel in SupportedKernels.All)
                {
                    data.Add(form, kernel);
                }
            }

            return data;
        }
    }

    [Fact]
    public void Plaintext_is_the_published_ascii_text() =>
        Assert.Equal(Encoding.ASCII.GetBytes("Now is the time for all "), Blocks.ToBytes(Plaintext));

    [Theory]
    [MemberData(nameof(Forms))]
    public void Reference_gives_the_ecb_example(KeyForm form)
    {
        byte[] key = KeyForms.Expand(Key, form);
        for (int i = 0; i < Plaintext.Length; i++)
        {
            Blocks.Equal(EcbCiphertext[i], DesReference.CryptBlock(key, Plaintext[i], decrypt: false), $"block {i} encrypt");
            Blocks.Equal(Plaintext[i], DesReference.CryptBlock(key, EcbCiphertext[i], decrypt: true), $"block {i} decrypt");
        }
    }

    [Theory]
    [MemberData(nameof(Forms))]
    public void Reference_chained_by_hand_gives_the_cbc_example(KeyForm form)
    {
        byte[] key = KeyForms.Expand(Key, form);
        ulong chain = Iv;
        for (int i = 0; i < Plaintext.Length; i++)
        {
            chain = DesReference.CryptBlock(key, Plaintext[i] ^ chain, decrypt: false);
            Blocks.Equal(CbcCiphertext[i], chain, $"block {i} encrypt");
            ulong previous = i == 0 ? Iv : CbcCiphertext[i - 1];
            Blocks.Equal(Plaintext[i], DesReference.CryptBlock(key, CbcCiphertext[i], decrypt: true) ^ previous, $"block {i} decrypt");
        }
    }

    [Theory]
    [MemberData(nameof(FormsAndKernels))]
    public void Kernel_gives_the_ecb_example(KeyForm form, DesKernel kernel)
    {
        byte[] key = KeyForms.Expand(Key, form);
        byte[] ciphertext = Blocks.Ecb(key, CipherDirection.Encrypt, Blocks.ToBytes(Plaintext), kernel);
        Blocks.Equal(EcbCiphertext, ciphertext, block => $"ECB block {block} encrypt");
        byte[] plaintext = Blocks.Ecb(key, CipherDirection.Decrypt, ciphertext, kernel);
        Blocks.Equal(Plaintext, plaintext, block => $"ECB block {block} decrypt");
    }

    [Theory]
    [MemberData(nameof(FormsAndKernels))]
    public void Kernel_gives_the_cbc_example_and_leaves_the_last_ciphertext_block_as_iv(KeyForm form, DesKernel kernel)
    {
        using var schedule = DesKeySchedule.Create(KeyForms.Expand(Key, form));
        byte[] buffer = Blocks.ToBytes(Plaintext);
        byte[] iv = Blocks.ToBytes([Iv]);
        DesCipher.Transform(schedule, CipherMode.Cbc, CipherDirection.Encrypt, iv, buffer, buffer, kernel);
        Blocks.Equal(CbcCiphertext, buffer, block => $"CBC block {block} encrypt");
        Blocks.Equal(CbcCiphertext[^1], Blocks.At(iv, 0), "IV after encrypt");

        iv = Blocks.ToBytes([Iv]);
        DesCipher.Transform(schedule, CipherMode.Cbc, CipherDirection.Decrypt, iv, buffer, buffer, kernel);
        Blocks.Equal(Plaintext, buffer, block => $"CBC block {block} decrypt");
        Blocks.Equal(CbcCiphertext[^1], Blocks.At(iv, 0), "IV after decrypt");
    }

    [Theory]
    [MemberData(nameof(FormsAndKernels))]
    public void Kernel_gives_the_cbc_example_one_block_per_call(KeyForm form, DesKernel kernel)
    {
        // The IV Transform hands back carries the chain into the next call.
        using var schedule = DesKeySchedule.Create(KeyForms.Expand(Key, form));
        byte[] encryptIv = Blocks.ToBytes([Iv]);
        byte[] decryptIv = Blocks.ToBytes([Iv]);
        byte[] block = new byte[8];
        for (int i = 0; i < Plaintext.Length; i++)
        {
            DesCipher.Transform(schedule, CipherMode.Cbc, CipherDirection.Encrypt, encryptIv, Blocks.ToBytes([Plaintext[i]]), block, kernel);
            Blocks.Equal(CbcCiphertext[i], Blocks.At(block, 0), $"CBC block {i} encrypt");
            DesCipher.Transform(schedule, CipherMode.Cbc, CipherDirection.Decrypt, decryptIv, block, block, kernel);
            Blocks.Equal(Plaintext[i], Blocks.At(block, 0), $"CBC block {i} decrypt");
        }
    }
}
