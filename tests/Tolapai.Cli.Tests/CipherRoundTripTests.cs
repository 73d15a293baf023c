using Xunit.Abstractions;

namespace Tolapai.Cli.Tests;

/// <summary>
/// Every algorithm and key length, both directions, both ways of passing data, against
/// BouncyCastle. 1 MiB + 8 crosses the CLI's 64 KiB chunks many times with CBC and CTR state
/// carried over; 128 KiB ends exactly on a chunk, so the last read is empty.
/// </summary>
[Collection(MultiProcessCollection.Name)]
public sealed class CipherRoundTripTests(ITestOutputHelper output) : IDisposable
{
    private const int OneMiBPlus8 = (1 << 20) + 8;

    private readonly TempDirectory _directory = new();

    public static TheoryData<string, int, int, bool> Cases()
    {
        var data = new TheoryData<string, int, int, bool>();
        (string Algorithm, int KeyLength)[] ciphers =
        [
            ("des-ecb", 8), ("des-cbc", 8), ("3des-ecb", 16), ("3des-ecb", 24),
            ("3des-cbc", 16), ("3des-cbc", 24), ("3des-ctr", 16), ("3des-ctr", 24),
        ];
        foreach ((string algorithm, int keyLength) in ciphers)
        {
            foreach (int size in new[] { 0, 8, OneMiBPlus8 })
            {
                data.Add(algorithm, keyLength, size, false);
                data.Add(algorithm, keyLength, size, true);
            }
        }

        // CTR takes any length; the last block is partial.
        foreach (int size in new[] { 13, (1 << 20) + 5 })
        {
            data.Add("3des-ctr", 24, size, false);
            data.Add("3des-ctr", 16, size, true);
        }

        data.Add("des-cbc", 8, 128 * 1024, false);
        data.Add("3des-ctr", 24, 128 * 1024, true);
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Encrypts_and_decrypts_like_BouncyCastle(string algorithm, int keyLength, int size, bool viaFiles)
    {
        int seed = Check.Seed(algorithm, keyLength, size, viaFiles);
        string context = $"{algorithm} key {keyLength} bytes, {size} bytes {(viaFiles ? "via files" : "piped")}, seed {seed}";
        output.WriteLine(context);
        var random = new Random(seed);
        byte[] key = Bytes(random, keyLength);
        byte[]? iv = algorithm.EndsWith("-ecb", StringComparison.Ordinal) ? null : Bytes(random, 8);
        byte[] plain = Bytes(random, size);

        byte[] cipher = Run(CipherRun.Args(algorithm, key, iv, decrypt: false), plain, viaFiles, context);
        Check.SameBytes(BouncyReference.Transform(algorithm, key, iv, false, plain), cipher, $"encrypt, {context}");

        // The CLI's ciphertext is BouncyCastle's, so getting the plaintext back is matching its decryption.
        byte[] back = Run(CipherRun.Args(algorithm, key, iv, decrypt: true), cipher, viaFiles, context);
        Check.SameBytes(plain, back, $"decrypt, {context}");
    }

    [Fact]
    public void File_to_stdout_and_stdin_to_file_give_the_same_bytes()
    {
        int seed = Check.Seed(nameof(File_to_stdout_and_stdin_to_file_give_the_same_bytes));
        output.WriteLine($"seed {seed}");
        var random = new Random(seed);
        byte[] key = Bytes(random, 24);
        byte[] iv = Bytes(random, 8);
        byte[] plain = Bytes(random, OneMiBPlus8);
        string[] args = CipherRun.Args("3des-cbc", key, iv, decrypt: false);
        byte[] expected = BouncyReference.Transform("3des-cbc", key, iv, false, plain);

        string inPath = _directory.File("plain.bin");
        File.WriteAllBytes(inPath, plain);
        CliResult fileToStdout = CliProcess.Run(null, [.. args, "--in", inPath]);
        Assert.True(fileToStdout.ExitCode == 0, $"seed {seed}: {fileToStdout}");
        Check.SameBytes(expected, fileToStdout.Stdout, $"--in FILE to stdout, seed {seed}");

        string outPath = _directory.File("cipher.bin");
        CliResult stdinToFile = CliProcess.Run(plain, [.. args, "--out", outPath]);
        Assert.True(stdinToFile.ExitCode == 0 && stdinToFile.Stdout.Length == 0, $"seed {seed}: {stdinToFile}");
        Check.SameBytes(expected, File.ReadAllBytes(outPath), $"stdin to --out FILE, seed {seed}");
    }

    [Fact]
    public void Dash_means_stdin_and_stdout_and_equals_form_is_accepted()
    {
        int seed = Check.Seed(nameof(Dash_means_stdin_and_stdout_and_equals_form_is_accepted));
        var random = new Random(seed);
        byte[] key = Bytes(random, 16);
        byte[] plain = Bytes(random, 4096);
        CliResult result = CliProcess.Run(plain, "cipher", "--local", "--alg=3des-ecb", $"--key={Convert.ToHexString(key)}", "--in", "-", "--out=-");
        Assert.True(result.ExitCode == 0, $"seed {seed}: {result}");
        Check.SameBytes(BouncyReference.Transform("3des-ecb", key, null, false, plain), result.Stdout, $"seed {seed}");
    }

    [Fact]
    public void Output_may_replace_the_input_file_and_keeps_its_mode()
    {
        int seed = Check.Seed(nameof(Output_may_replace_the_input_file_and_keeps_its_mode));
        var random = new Random(seed);
        byte[] key = Bytes(random, 8);
        byte[] iv = Bytes(random, 8);
        byte[] plain = Bytes(random, 200_000);
        string path = _directory.File("data.bin");
        File.WriteAllBytes(path, plain);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }

        CliResult result = CliProcess.Run(null, [.. CipherRun.Args("des-cbc", key, iv, false), "--in", path, "--out", path]);
        Assert.True(result.ExitCode == 0, $"seed {seed}: {result}");
        Check.SameBytes(BouncyReference.Transform("des-cbc", key, iv, false, plain), File.ReadAllBytes(path), $"seed {seed}");
        Assert.Equal(["data.bin"], _directory.Names());
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        }
    }

    public void Dispose() => _directory.Dispose();

    private byte[] Run(string[] args, byte[] input, bool viaFiles, string context) =>
        viaFiles ? CipherRun.ViaFiles(args, input, _directory, context) : CipherRun.Piped(args, input, context);

    private static byte[] Bytes(Random random, int length)
    {
        var bytes = new byte[length];
        random.NextBytes(bytes);
        return bytes;
    }
}
