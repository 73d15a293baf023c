using System.Buffers.Binary;

namespace Tolapai.Kernels.Tests.KnownAnswers;

/// <summary>One published DES block: a key (parity bits as published), a plaintext and its ciphertext, all big-endian.</summary>
public readonly record struct KnownAnswer(ulong Key, ulong Plaintext, ulong Ciphertext)
{
    public override string ToString() => $"key {Key:x16} pt {Plaintext:x16} ct {Ciphertext:x16}";
}

/// <summary>
/// How a single DES key is handed to the cipher. 3DES with K1 = K2 = K3 is single DES (the
/// middle decryption undoes the first encryption), which is how SP 800-20 and the CAVP TDES
/// known-answer files test 3DES with the DES tables.
/// </summary>
public enum KeyForm
{
    /// <summary>The 8-byte DES key K.</summary>
    Des,

    /// <summary>A 16-byte 2-key 3DES key K‖K (runs K, K, K).</summary>
    TwoKeyTripleDes,

    /// <summary>A 24-byte 3-key 3DES key K‖K‖K.</summary>
    ThreeKeyTripleDes,
}

public static class KeyForms
{
    public static KeyForm[] All { get; } = Enum.GetValues<KeyForm>();

    public static byte[] Expand(ulong key, KeyForm form)
    {
        int copies = form switch
        {
            KeyForm.Des => 1,
            KeyForm.TwoKeyTripleDes => 2,
            _ => 3,
        };
        byte[] bytes = new byte[copies * 8];
        for (int i = 0; i < copies; i++)
        {
            BinaryPrimitives.WriteUInt64BigEndian(bytes.AsSpan(i * 8, 8), key);
        }

        return bytes;
    }
}
