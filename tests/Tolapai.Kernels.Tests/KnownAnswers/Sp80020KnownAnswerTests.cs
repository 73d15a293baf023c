using Tolapai.Kernels.Des;

namespace Tolapai.Kernels.Tests.KnownAnswers;

/// <summary>
/// NIST SP 800-20 known-answer tests (Tables 1-5, 235 vectors), each run encrypting and
/// decrypting through the bit-level reference and through every supported kernel, with the
/// DES key K and with the 3DES keys K‖K and K‖K‖K.
/// </summary>
public class Sp80020KnownAnswerTests
{
    // Longer than the widest kernel's 64 lanes and not a multiple of any vector width, so a
    // vector kernel runs full vectors and a tail.
    private const int LongMessageBlocks = 67;

    public static TheoryData<Sp80020Table> Tables => [.. Sp80020Tables.All];

    public static TheoryData<Sp80020Table, KeyForm> TablesAndKeyForms
    {
        get
        {
            var data = new TheoryData<Sp80020Table, KeyForm>();
            foreach (Sp80020Table table in Sp80020Tables.All)
            {
                foreach (KeyForm form in KeyForms.All)
                {
                    data.Add(table, form);
                }
            }

            return data;
        }
    }

    public static TheoryData<Sp80020Table, KeyForm, DesKernel> TablesKeyFormsAndKernels
    {
        get
        {
            var data = new TheoryData<Sp80020Table, KeyForm, DesKernel>();
            foreach (Sp80020Table table in Sp80020Tables.All)
            {
                foreach (KeyForm form in KeyForms.All)
                {
                    foreach (DesKernel kernel in SupportedKernels.All)
                    {
                        data.Add(table, form, kernel);
                    }
                }
            }

            return data;
        }
    }

    [Theory]
    [InlineData(Sp80020Table.VariablePlaintext, 64)]
    [InlineData(Sp80020Table.InversePermutation, 64)]
    [InlineData(Sp80020Table.VariableKey, 56)]
    [InlineData(Sp80020Table.PermutationOperation, 32)]
    [InlineData(Sp80020Table.SubstitutionTable, 19)]
    public void Table_has_its_published_number_of_entries(Sp80020Table table, int entries) =>
        Assert.Equal(entries, Sp80020Tables.Get(table).Length);

    [Fact]
    public void Variable_key_table_sets_each_of_the_56_key_bits_once()
    {
        // A transcription slip in a key would show as a missing or doubled key bit.
        ulong seen = 0;
        foreach (KnownAnswer vector in Sp80020Tables.Get(Sp80020Table.VariableKey))
        {
            ulong keyBits = vector.Key & 0xFEFEFEFEFEFEFEFE;
            Assert.Equal(1UL, ulong.PopCount(keyBits));
            Assert.Equal(0UL, seen & keyBits);
            seen |= keyBits;
        }

        Assert.Equal(0xFEFEFEFEFEFEFEFEUL, seen);
    }

    [Theory]
    [MemberData(nameof(Tables))]
    public void Every_published_key_has_odd_parity(Sp80020Table table)
    {
        // The cipher ignores parity bits, so a slip in one would pass every other test; the
        // published keys all carry odd parity, so check that instead.
        foreach (KnownAnswer vector in Sp80020Tables.Get(table))
        {
            for (int shift = 0; shift < 64; shift += 8)
            {
                Assert.True(byte.PopCount((byte)(vector.Key >> shift)) % 2 == 1, $"{table}: {vector} has an even-parity byte");
            }
        }
    }

    [Theory]
    [MemberData(nameof(TablesAndKeyForms))]
    public void Reference_encrypts_and_decrypts_every_vector(Sp80020Table table, KeyForm form)
    {
        KnownAnswer[] vectors = Sp80020Tables.Get(table);
        for (int i = 0; i < vectors.Length; i++)
        {
            KnownAnswer v = vectors[i];
            byte[] key = KeyForms.Expand(v.Key, form);
            Blocks.Equal(v.Ciphertext, DesReference.CryptBlock(key, v.Plaintext, decrypt: false), $"{table} #{i} ({v}) encrypt");
            Blocks.Equal(v.Plaintext, DesReference.CryptBlock(key, v.Ciphertext, decrypt: true), $"{table} #{i} ({v}) decrypt");
        }
    }

    [Theory]
    [MemberData(nameof(Tables))]
    public void Reference_round_keys_encrypt_and_decrypt_every_vector(Sp80020Table table)
    {
        Span<ulong> roundKeys = stackalloc ulong[16];
        KnownAnswer[] vectors = Sp80020Tables.Get(table);
        for (int i = 0; i < vectors.Length; i++)
        {
            KnownAnswer v = vectors[i];
            DesReference.RoundKeys(v.Key, roundKeys);
            Blocks.Equal(v.Ciphertext, DesReference.Crypt(v.Plaintext, roundKeys, decrypt: false), $"{table} #{i} ({v}) encrypt");
            Blocks.Equal(v.Plaintext, DesReference.Crypt(v.Ciphertext, roundKeys, decrypt: true), $"{table} #{i} ({v}) decrypt");
        }
    }

    [Theory]
    [MemberData(nameof(TablesKeyFormsAndKernels))]
    public void Kernel_encrypts_and_decrypts_every_vector_as_a_single_block(Sp80020Table table, KeyForm form, DesKernel kernel)
    {
        KnownAnswer[] vectors = Sp80020Tables.Get(table);
        for (int i = 0; i < vectors.Length; i++)
        {
            KnownAnswer v = vectors[i];
            byte[] key = KeyForms.Expand(v.Key, form);
            byte[] ciphertext = Blocks.Ecb(key, CipherDirection.Encrypt, Blocks.ToBytes([v.Plaintext]), kernel);
            Blocks.Equal(v.Ciphertext, Blocks.At(ciphertext, 0), $"{table} #{i} ({v}) encrypt");
            byte[] plaintext = Blocks.Ecb(key, CipherDirection.Decrypt, Blocks.ToBytes([v.Ciphertext]), kernel);
            Blocks.Equal(v.Plaintext, Blocks.At(plaintext, 0), $"{table} #{i} ({v}) decrypt");
        }
    }

    [Theory]
    [MemberData(nameof(TablesKeyFormsAndKernels))]
    public void Kernel_runs_all_vectors_sharing_a_key_in_one_call(Sp80020Table table, KeyForm form, DesKernel kernel)
    {
        // Tables 1 and 2 share one key, so all 64 vectors go through in one call and every
        // prefix length is tried (vector kernels see every tail length); the other tables have a
        // key per vector and this degenerates to single blocks.
        KnownAnswer[] vectors = Sp80020Tables.Get(table);
        foreach (IGrouping<ulong, (KnownAnswer Vector, int Index)> group in vectors.Select((v, i) => (v, i)).GroupBy(e => e.v.Key))
        {
            (KnownAnswer Vector, int Index)[] entries = [.. group];
            using var schedule = DesKeySchedule.Create(KeyForms.Expand(group.Key, form));
            for (int count = 1; count <= entries.Length; count++)
            {
                ulong[] plaintexts = [.. entries.Take(count).Select(e => e.Vector.Plaintext)];
                ulong[] ciphertexts = [.. entries.Take(count).Select(e => e.Vector.Ciphertext)];
                string What(int block) => $"{table} {count}-block call, block {block} = #{entries[block].Index} ({entries[block].Vector})";

                byte[] buffer = Blocks.ToBytes(plaintexts);
                byte[] output = new byte[buffer.Length];
                DesCipher.Transform(schedule, CipherMode.Ecb, CipherDirection.Encrypt, [], buffer, output, kernel);
                Blocks.Equal(ciphertexts, output, block => What(block) + " encrypt");

                // Decrypt in place: source and destination the same memory.
                DesCipher.Transform(schedule, CipherMode.Ecb, CipherDirection.Decrypt, [], output, output, kernel);
                Blocks.Equal(plaintexts, output, block => What(block) + " decrypt in place");
            }
        }
    }

    [Theory]
    [MemberData(nameof(TablesKeyFormsAndKernels))]
    public void Kernel_gives_every_vector_in_every_block_of_a_long_message(Sp80020Table table, KeyForm form, DesKernel kernel)
    {
        KnownAnswer[] vectors = Sp80020Tables.Get(table);
        for (int i = 0; i < vectors.Length; i++)
        {
            KnownAnswer v = vectors[i];
            byte[] key = KeyForms.Expand(v.Key, form);
            byte[] ciphertext = Blocks.Ecb(key, CipherDirection.Encrypt, Blocks.ToBytes(Enumerable.Repeat(v.Plaintext, LongMessageBlocks)), kernel);
            Blocks.Equal([.. Enumerable.Repeat(v.Ciphertext, LongMessageBlocks)], ciphertext, block => $"{table} #{i} ({v}) encrypt, block {block}");
            byte[] plaintext = Blocks.Ecb(key, CipherDirection.Decrypt, ciphertext, kernel);
            Blocks.Equal([.. Enumerable.Repeat(v.Plaintext, LongMessageBlocks)], plaintext, block => $"{table} #{i} ({v}) decrypt, block {block}");
        }
    }
}
