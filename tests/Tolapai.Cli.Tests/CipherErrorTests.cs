using System.Text;
using Xunit.Abstractions;

namespace Tolapai.Cli.Tests;

/// <summary>
/// Every way to get <c>tolapai cipher</c> wrong: exit code 2, exactly one stderr line prefixed
/// <c>tolapai: </c>, nothing on stdout, no output or temporary file left, and an existing
/// output file untouched.
/// </summary>
[Collection(MultiProcessCollection.Name)]
public sealed class CipherErrorTests(ITestOutputHelper output) : IDisposable
{
    private const string Key8 = "0123456789abcdef";
    private const string Key16 = "0123456789abcdeffedcba9876543210";
    private const string Key24 = "0123456789abcdeffedcba987654321089abcdef01234567";
    private const string Iv = "0001020304050607";
    private const string Kept = "precious bytes that must survive";

    private readonly TempDirectory _directory = new();

    public static TheoryData<string, string[], int> Cases() => new()
    {
        { "unknown command", ["frobnicate"], 0 },
        { "--local with --run-dir", ["cipher", "--local", "--run-dir", "/tmp", "--alg", "des-ecb", "--key", Key8], 0 },
        { "unknown algorithm", ["cipher", "--local", "--alg", "aes-128-cbc", "--key", Key8, "--iv", Iv], 0 },
        { "missing --alg", ["cipher", "--local", "--key", Key8], 0 },
        { "missing --key", ["cipher", "--local", "--alg", "des-ecb"], 0 },
        { "key not hex", ["cipher", "--local", "--alg", "des-ecb", "--key", "0123456789abcdeg"], 0 },
        { "key odd digit count", ["cipher", "--local", "--alg", "des-ecb", "--key", "0123456789abcde"], 0 },
        { "empty key", ["cipher", "--local", "--alg", "des-ecb", "--key="], 0 },
        { "DES with a 3DES key", ["cipher", "--local", "--alg", "des-cbc", "--key", Key16, "--iv", Iv], 0 },
        { "3DES with a DES key", ["cipher", "--local", "--alg", "3des-ecb", "--key", Key8], 0 },
        { "3DES with a 20-byte key", ["cipher", "--local", "--alg", "3des-cbc", "--key", Key16 + "00112233", "--iv", Iv], 0 },
        { "CBC without IV", ["cipher", "--local", "--alg", "des-cbc", "--key", Key8], 0 },
        { "CTR without IV", ["cipher", "--local", "--alg", "3des-ctr", "--key", Key24], 0 },
        { "IV of 7 bytes", ["cipher", "--local", "--alg", "3des-cbc", "--key", Key24, "--iv", "00010203040506"], 0 },
        { "IV of 9 bytes", ["cipher", "--local", "--alg", "3des-ctr", "--key", Key24, "--iv", Iv + "08"], 0 },
        { "IV not hex", ["cipher", "--local", "--alg", "des-cbc", "--key", Key8, "--iv", "000102030405060z"], 0 },
        { "ECB with IV", ["cipher", "--local", "--alg", "des-ecb", "--key", Key8, "--iv", Iv], 0 },
        { "unknown option", ["cipher", "--local", "--alg", "des-ecb", "--key", Key8, "--pad"], 0 },
        { "single-dash option", ["cipher", "--local", "--alg", "des-ecb", "--key", Key8, "-d"], 0 },
        { "option without its value", ["cipher", "--local", "--alg", "des-ecb", "--key"], 0 },
        { "value swallowing the next option", ["cipher", "--local", "--alg", "des-ecb", "--key", "--decrypt"], 0 },
        { "option twice", ["cipher", "--local", "--alg", "des-ecb", "--key", Key8, "--decrypt", "--decrypt"], 0 },
        { "flag with a value", ["cipher", "--local=yes", "--alg", "des-ecb", "--key", Key8], 0 },
        { "stray argument", ["cipher", "--local", "--alg", "des-ecb", "--key", Key8, "{in}"], 0 },
        { "missing input file", ["cipher", "--local", "--alg", "des-ecb", "--key", Key8, "--in", "{missing}", "--out", "{out}"], 0 },
        { "input is a directory", ["cipher", "--local", "--alg", "des-ecb", "--key", Key8, "--in", "{dir}", "--out", "{out}"], 0 },
        { "output directory missing", ["cipher", "--local", "--alg", "des-ecb", "--key", Key8, "--in", "{in}", "--out", "{dir}/no/such/out.bin"], 0 },
        { "output is a directory", ["cipher", "--local", "--alg", "des-ecb", "--key", Key8, "--in", "{in}", "--out", "{dir}"], 0 },
        { "bad key leaves existing output", ["cipher", "--local", "--alg", "des-ecb", "--key", "xyz", "--in", "{in}", "--out", "{kept}"], 0 },
        { "ECB partial block piped", ["cipher", "--local", "--alg", "des-ecb", "--key", Key8], 13 },
        { "ECB partial block piped, 60 KB", ["cipher", "--local", "--alg", "3des-ecb", "--key", Key16], 60_003 },
        { "CBC partial block piped to file", ["cipher", "--local", "--alg", "des-cbc", "--key", Key8, "--iv", Iv, "--out", "{out}"], 13 },
        { "CBC partial block piped to file, 1 MiB", ["cipher", "--local", "--alg", "3des-cbc", "--key", Key24, "--iv", Iv, "--out", "{out}"], (1 << 20) + 3 },
        { "CBC partial block file to file", ["cipher", "--local", "--alg", "3des-cbc", "--key", Key24, "--iv", Iv, "--in", "{odd}", "--out", "{out}"], 0 },
        { "CBC partial block leaves existing output", ["cipher", "--local", "--alg", "3des-cbc", "--decrypt", "--key", Key16, "--iv", Iv, "--in", "{bigodd}", "--out", "{kept}"], 0 },
        { "CBC partial block file to stdout, 1 MiB", ["cipher", "--local", "--alg", "des-cbc", "--key", Key8, "--iv", Iv, "--in", "{bigodd}"], 0 },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Fails_with_exit_code_2_one_line_and_no_output(string name, string[] template, int stdinLength)
    {
        int seed = Check.Seed(name);
        output.WriteLine($"{name}, seed {seed}");
        var random = new Random(seed);
        File.WriteAllBytes(_directory.File("in.bin"), Bytes(random, 16));
        File.WriteAllBytes(_directory.File("odd.bin"), Bytes(random, 13));
        File.WriteAllBytes(_directory.File("bigodd.bin"), Bytes(random, (1 << 20) + 3));
        File.WriteAllText(_directory.File("kept.bin"), Kept);
        string[] before = _directory.Names();

        string[] args = template.Select(Expand).ToArray();
        CliResult result = CliProcess.RunIn(_directory.Path, stdinLength > 0 ? Bytes(random, stdinLength) : null, args);

        output.WriteLine(result.ToString());
        Assert.Equal(2, result.ExitCode);
        Assert.Empty(result.Stdout);
        string line = Assert.Single(result.StderrLines);
        Assert.StartsWith("tolapai: ", line, StringComparison.Ordinal);
        Assert.Equal(before, _directory.Names());
        Assert.Equal(Kept, File.ReadAllText(_directory.File("kept.bin")));
    }

    [Fact]
    public void Error_messages_never_echo_the_key()
    {
        const string Secret = "00112233445566778899aabbccddeeffgg";
        CliResult result = CliProcess.Run(null, "cipher", "--local", "--alg", "3des-ecb", "--key", Secret);
        Assert.Equal(2, result.ExitCode);
        Assert.DoesNotContain(Secret, result.Stderr, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void No_arguments_prints_usage_to_stderr_with_exit_code_2()
    {
        CliResult result = CliProcess.Run(null);
        Assert.Equal(2, result.ExitCode);
        Assert.Empty(result.Stdout);
        Assert.Contains("usage: tolapai", result.Stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--help")]
    [InlineData("-h")]
    [InlineData("help")]
    [InlineData("cipher", "--help")]
    [InlineData("cipher", "--local", "--alg", "nonsense", "-h")]
    public void Help_prints_usage_with_exit_code_0(params string[] args)
    {
        CliResult result = CliProcess.Run(null, args);
        Assert.Equal(0, result.ExitCode);
        Assert.Empty(result.Stderr);
        string usage = Encoding.UTF8.GetString(result.Stdout);
        Assert.StartsWith(args[0] == "cipher" ? "usage: tolapai cipher" : "usage: tolapai <command>", usage, StringComparison.Ordinal);
        Assert.Contains("cipher [--local | --run-dir DIR]", usage, StringComparison.Ordinal);
    }

    public void Dispose() => _directory.Dispose();

    private string Expand(string arg) => arg
        .Replace("{dir}", _directory.Path, StringComparison.Ordinal)
        .Replace("{in}", _directory.File("in.bin"), StringComparison.Ordinal)
        .Replace("{odd}", _directory.File("odd.bin"), StringComparison.Ordinal)
        .Replace("{bigodd}", _directory.File("bigodd.bin"), StringComparison.Ordinal)
        .Replace("{kept}", _directory.File("kept.bin"), StringComparison.Ordinal)
        .Replace("{missing}", _directory.File("missing.bin"), StringComparison.Ordinal)
        .Replace("{out}", _directory.File("out.bin"), StringComparison.Ordinal);

    private static byte[] Bytes(Random random, int length)
    {
        var bytes = new byte[length];
        random.NextBytes(bytes);
        return bytes;
    }
}
