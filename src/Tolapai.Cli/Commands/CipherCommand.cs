using System.Security.Cryptography;
using Tolapai.Cli.CommandLine;
using Tolapai.Kernels.Des;

namespace Tolapai.Cli.Commands;

/// <summary>
/// <c>tolapai cipher</c>: DES/3DES over a file or stdin. With <c>--local</c> the kernels run in
/// this process; without it the bytes go through the split driver: a guest process ciphers them
/// through its ixp frontend, the backend in dom0 and the accelerator (<see cref="Split.SplitCipher"/>).
/// </summary>
public static class CipherCommand
{
    /// <summary>The usage text of <c>tolapai cipher</c>.</summary>
    public const string Usage = """
        usage: tolapai cipher [--local | --run-dir DIR] --alg ALG --key HEX [--iv HEX] [--decrypt] [--in FILE] [--out FILE] [--verbose]

        Encrypts (or with --decrypt decrypts) FILE or stdin to FILE or stdout, byte for byte as
        'openssl enc -nopad' does. '-' for FILE means stdin or stdout.

          (default)    through the split driver: an embedded dom0 (xenstored, accelerator, ixp
                       backend) and a guest process that ciphers the bytes in its own granted
                       pages through its ixp frontend; the same bytes as --local
          --run-dir DIR  the same on the dom0 running on DIR ('tolapai dom0') instead
          --local      run the DES kernels in this process
          --alg ALG    des-ecb, des-cbc      8-byte key
                       3des-ecb, 3des-cbc    16-byte key (K1K2K1, openssl des-ede*) or
                       3des-ctr              24-byte key (K1K2K3, openssl des-ede3*)
          --key HEX    the key in hex. Note that a command line is visible to other local users.
          --iv HEX     8 bytes in hex; required for CBC and CTR, refused for ECB. For CTR it is the
                       initial 64-bit big-endian counter block (as BouncyCastle's SIC mode).
          --decrypt    decrypt instead of encrypt (CTR is the same both ways)
          --in FILE    read FILE instead of stdin
          --out FILE   write FILE instead of stdout
          --verbose    one line on stderr at the end: the bytes, and through the split driver
                       every payload copy counted where it happens: the staging copies around
                       the data plane (input into the run directory, into the guest's granted
                       pages, out of them, to the output) and the data plane's own (backend,
                       device bounce; DMA segments outside the guest's grants), which are 0

        ECB and CBC do no padding: their input must be a whole number of 8-byte blocks; CTR
        takes any length. A partial last block is an error that leaves no partial output:
          - --out FILE is written to a temporary file beside it and renamed over FILE only on
            success; on any error, Ctrl-C or SIGTERM FILE is left as it was (or absent);
          - --in FILE (a regular file) is checked by its length before anything is written;
          - for a pipe into stdout, output runs 64 KiB behind input, so piped input of up to
            64 KiB writes nothing on error; longer piped input may already have written its
            leading whole blocks when the end turns out short: the exit code says so, and --out
            gives all-or-nothing.

        Exit codes: 0 done, 1 I/O failure while running (full disk, closed pipe), 2 bad usage or
        bad input (one line on stderr, prefixed 'tolapai: ').

        example:
          printf 'Now is the time for all ' | tolapai cipher --local --alg des-ecb --key 0123456789abcdef | xxd
        """;

    private static readonly OptionParser Parser = new(
        flags: ["local", "decrypt", "verbose"],
        valued: ["alg", "key", "iv", "in", "out", "run-dir"]);

    /// <summary>Runs the command on <paramref name="args"/> (the words after <c>cipher</c>) and returns its exit code.</summary>
    public static int Run(ReadOnlySpan<string> args)
    {
        if (OptionParser.WantsHelp(args))
        {
            Console.Out.WriteLine(Usage);
            return ExitCodes.Success;
        }

        ParsedOptions options = Parser.Parse(args);
        if (options.Has("local") && options.Get("run-dir") is not null)
        {
            throw new CommandLineException("--local and --run-dir contradict each other: --local uses no dom0");
        }

        CipherAlgorithm algorithm = CipherAlgorithm.Parse(options.Require("alg"));
        byte[] key = ParseHex("key", options.Require("key"));
        try
        {
            algorithm.CheckKeyLength(key.Length);
            byte[] iv = ReadIv(algorithm, options.Get("iv"));
            CipherDirection direction = options.Has("decrypt") ? CipherDirection.Decrypt : CipherDirection.Encrypt;

            using CipherInput input = CipherInput.Open(options.Get("in"));
            if (algorithm.NeedsWholeBlocks && input.KnownLength is long length && (length & 7) != 0)
            {
                CipherPump.ThrowPartialBlock(algorithm, length);
            }

            if (!options.Has("local"))
            {
                string? runDir = options.Get("run-dir") is { } d ? Xen.Toolstack.RunDirectories.Resolve(d) : null;
                return Split.SplitCipher.Run(algorithm, key, iv, direction, input, options.Get("in"), options.Get("out"), runDir, options.Has("verbose"));
            }

            using DesKeySchedule schedule = DesKeySchedule.Create(key);
            using CipherOutput output = CipherOutput.Open(options.Get("out"));
            long bytes = CipherPump.Run(schedule, algorithm, direction, iv, input.Stream, output.Stream);
            output.Commit();
            if (options.Has("verbose"))
            {
                Console.Error.WriteLine(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"tolapai: cipher: {bytes} bytes ciphered in this process ({algorithm.Name}, --local: no split driver, no staging)"));
            }

            return ExitCodes.Success;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(key);
        }
    }

    private static byte[] ReadIv(CipherAlgorithm algorithm, string? hex)
    {
        if (!algorithm.NeedsIv)
        {
            // Accepting and ignoring an IV would let someone believe it was used.
            return hex is null ? [] : throw new CommandLineException($"{algorithm.Name} takes no IV; drop --iv");
        }

        if (hex is null)
        {
            throw new CommandLineException($"{algorithm.Name} needs --iv (8 bytes in hex)");
        }

        byte[] iv = ParseHex("iv", hex);
        return iv.Length == 8 ? iv : throw new CommandLineException($"--iv must be 8 bytes, not {iv.Length}");
    }

    // The value itself is never echoed: it may be a key.
    private static byte[] ParseHex(string option, string hex)
    {
        try
        {
            return Convert.FromHexString(hex);
        }
        catch (FormatException ex)
        {
            throw new CommandLineException($"--{option} must be an even number of hex digits", ex);
        }
    }
}
