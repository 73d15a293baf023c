using Tolapai.Cli.CommandLine;
using Tolapai.Cli.Commands;

namespace Tolapai.Cli;

/// <summary>Entry point of the <c>tolapai</c> command.</summary>
public static class Program
{
    /// <summary>Runs one command and returns its exit code (see <see cref="ExitCodes"/>).</summary>
    public static int Main(string[] args)
    {
        try
        {
            return Dispatch(args);
        }
        catch (CommandLineException ex)
        {
            return Fail(ExitCodes.Usage, ex.Message);
        }
        catch (IOException ex)
        {
            return Fail(ExitCodes.Failure, ex.Message);
        }
        catch (UnauthorizedAccessException ex)
        {
            return Fail(ExitCodes.Failure, ex.Message);
        }
#pragma warning disable CA1031 // The last line of defence: a bug is reported in one line, not a crash dump.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            return Fail(ExitCodes.Failure, $"internal error: {ex.GetType().Name}: {ex.Message}");
        }
    }

    private static int Dispatch(string[] args)
    {
        if (args.Length == 0)
        {
            Console.Error.WriteLine(Usage);
            return ExitCodes.Usage;
        }

        return args[0] switch
        {
            "-h" or "--help" or "help" => PrintUsage(),
            "cipher" => CipherCommand.Run(args.AsSpan(1)),
            "perf" => PerfCommand.Run(args.AsSpan(1)),
            _ => throw new CommandLineException($"unknown command '{args[0]}' (try 'tolapai --help')"),
        };
    }

    private static int PrintUsage()
    {
        Console.Out.WriteLine(Usage);
        return ExitCodes.Success;
    }

    // One line, whatever the message holds, so scripts can rely on it.
    private static int Fail(int exitCode, string message)
    {
        Console.Error.WriteLine($"tolapai: {message.ReplaceLineEndings(" ").TrimEnd()}");
        return exitCode;
    }

    internal const string Usage = """
        usage: tolapai <command> [options]

        commands:
          cipher --local --alg ALG --key HEX [--iv HEX] [--decrypt] [--in FILE] [--out FILE]
                 DES/3DES (ECB, CBC, CTR) over a file or stdin, as 'openssl enc -nopad' does
          perf --mode native [--alg ALG] [--sizes ...] [--ops N] [--depth Q] [--json FILE]
                 the CPA cipher sample on the emulated device, with the kernel's own figure beside it

        'tolapai <command> --help' describes a command.
        """;
}
