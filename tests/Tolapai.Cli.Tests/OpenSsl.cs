using System.Diagnostics;

namespace Tolapai.Cli.Tests;

/// <summary>
/// The real <c>openssl enc</c>, when this machine has it. Single DES lives in OpenSSL 3's legacy
/// provider, which some installations lack, so that is probed on its own.
/// </summary>
public static class OpenSsl
{
    private static readonly Lazy<string?> Path = new(FindOnPath);
    private static readonly Lazy<string?> WhyNoDefault = new(() => Probe("des-ede3-cbc", 24));
    private static readonly Lazy<string?> WhyNoLegacy = new(() => Probe("des-cbc", 8));

    /// <summary>Null when openssl can run the cipher family; otherwise why not (the skip reason).</summary>
    public static string? WhyUnavailable(bool legacy) => legacy ? WhyNoLegacy.Value : WhyNoDefault.Value;

    /// <summary>openssl's cipher name for a CLI algorithm and key length.</summary>
    public static string CipherName(string algorithm, int keyLength) => (algorithm, keyLength) switch
    {
        ("des-ecb", 8) => "des-ecb",
        ("des-cbc", 8) => "des-cbc",
        ("3des-ecb", 16) => "des-ede",
        ("3des-ecb", 24) => "des-ede3",
        ("3des-cbc", 16) => "des-ede-cbc",
        ("3des-cbc", 24) => "des-ede3-cbc",
        _ => throw new ArgumentException($"openssl has no {algorithm} with a {keyLength}-byte key"),
    };

    /// <summary>Runs <c>openssl enc -nopad</c>; asserts that it succeeded.</summary>
    public static byte[] Enc(string cipher, byte[] key, byte[]? iv, bool decrypt, byte[] input)
    {
        var args = new List<string> { "enc", $"-{cipher}", "-nopad", "-K", Convert.ToHexString(key) };
        if (iv is not null)
        {
            args.AddRange(["-iv", Convert.ToHexString(iv)]);
        }

        if (decrypt)
        {
            args.Add("-d");
        }

        args.AddRange(["-provider", "legacy", "-provider", "default"]);
        (int exit, byte[] output, string error) = Run(Path.Value ?? "openssl", args, input);
        Assert.True(exit == 0, $"openssl {string.Join(' ', args)} failed ({exit}): {error}");
        return output;
    }

    private static string? Probe(string cipher, int keyLength)
    {
        if (Path.Value is null)
        {
            return "openssl is not on PATH";
        }

        try
        {
            string[] args = ["enc", $"-{cipher}", "-nopad", "-K", new string('0', keyLength * 2), "-iv", "0000000000000000", "-provider", "legacy", "-provider", "default"];
            (int exit, byte[] output, string error) = Run(Path.Value, args, new byte[8]);
            return exit == 0 && output.Length == 8 ? null : $"openssl cannot run {cipher} (legacy provider missing?): {error.Trim()}";
        }
        catch (Exception ex)
        {
            return $"openssl did not run: {ex.Message}";
        }
    }

    private static string? FindOnPath()
    {
        foreach (string directory in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(System.IO.Path.PathSeparator))
        {
            string candidate = System.IO.Path.Combine(directory, "openssl");
            if (directory.Length > 0 && File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }

    private static (int Exit, byte[] Output, string Error) Run(string program, IEnumerable<string> args, byte[] input)
    {
        var start = new ProcessStartInfo(program)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        var stdout = new MemoryStream();
        Task readOut = process.StandardOutput.BaseStream.CopyToAsync(stdout);
        Task<string> readErr = process.StandardError.ReadToEndAsync();
        Task writeIn = Task.Run(() =>
        {
            try
            {
                process.StandardInput.BaseStream.Write(input);
                process.StandardInput.Close();
            }
            catch (IOException)
            {
                // openssl stopped reading; its exit code and stderr say why.
            }
        });
        process.WaitForExit();
        Task.WaitAll(readOut, readErr, writeIn);
        return (process.ExitCode, stdout.ToArray(), readErr.Result);
    }
}

/// <summary>
/// A theory that is skipped, with the reason shown, when openssl (or its legacy provider, for
/// single DES) is not there: xunit v2 has no skipping from inside a running test.
/// </summary>
public sealed class OpenSslTheoryAttribute : TheoryAttribute
{
    public bool NeedsLegacyProvider { get; set; }

    public override string Skip
    {
        get => base.Skip ?? OpenSsl.WhyUnavailable(NeedsLegacyProvider)!;
        set => base.Skip = value;
    }
}
