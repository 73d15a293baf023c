namespace Tolapai.Cli.Tests;

/// <summary>A fresh directory per test, deleted afterwards.</summary>
public sealed class TempDirectory : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("tolapai-cli-test-").FullName;

    public string File(string name) => System.IO.Path.Combine(Path, name);

    /// <summary>The names in the directory, sorted: shows a leftover temporary or partial file.</summary>
    public string[] Names() => Directory.GetFileSystemEntries(Path).Select(System.IO.Path.GetFileName).Order(StringComparer.Ordinal).ToArray()!;

    public void Dispose() => Directory.Delete(Path, recursive: true);
}

/// <summary>Seeds and byte comparisons that say enough to reproduce a failure.</summary>
public static class Check
{
    /// <summary>A seed that depends only on the case (string.GetHashCode is randomised per process).</summary>
    public static int Seed(params object[] parts)
    {
        int seed = 17;
        foreach (char c in string.Join('|', parts))
        {
            seed = unchecked((seed * 31) + c);
        }

        return seed & 0x7FFFFFFF;
    }

    public static void SameBytes(byte[] expected, byte[] actual, string context)
    {
        if (expected.AsSpan().SequenceEqual(actual))
        {
            return;
        }

        int first = expected.AsSpan().CommonPrefixLength(actual);
        Assert.Fail($"{context}: expected {expected.Length} bytes, got {actual.Length}; first difference at offset {first}");
    }
}

/// <summary>Runs <c>tolapai cipher --local</c> the way a test needs and checks it succeeded cleanly.</summary>
public static class CipherRun
{
    public static string[] Args(string algorithm, byte[] key, byte[]? iv, bool decrypt)
    {
        var args = new List<string> { "cipher", "--local", "--alg", algorithm, "--key", Convert.ToHexString(key).ToLowerInvariant() };
        if (iv is not null)
        {
            args.AddRange(["--iv", Convert.ToHexString(iv)]);
        }

        if (decrypt)
        {
            args.Add("--decrypt");
        }

        return [.. args];
    }

    /// <summary>Through stdin and stdout.</summary>
    public static byte[] Piped(string[] args, byte[] input, string context)
    {
        CliResult result = CliProcess.Run(input, args);
        Assert.True(result.ExitCode == 0 && result.Stderr.Length == 0, $"{context}: {result}");
        return result.Stdout;
    }

    /// <summary>Through --in and --out files in <paramref name="directory"/>; nothing else may be left there.</summary>
    public static byte[] ViaFiles(string[] args, byte[] input, TempDirectory directory, string context)
    {
        string inPath = directory.File("in.bin");
        string outPath = directory.File("out.bin");
        File.WriteAllBytes(inPath, input);
        File.Delete(outPath);
        CliResult result = CliProcess.RunIn(directory.Path, null, [.. args, "--in", inPath, "--out", outPath]);
        Assert.True(result.ExitCode == 0 && result.Stderr.Length == 0 && result.Stdout.Length == 0, $"{context}: {result}");
        Assert.Equal(["in.bin", "out.bin"], directory.Names());
        return File.ReadAllBytes(outPath);
    }
}
