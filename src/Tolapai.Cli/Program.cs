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
            "dom0" => Dom0Command.Run(args.AsSpan(1)),
            "xl" => XlCommand.Run(args.AsSpan(1)),
            "xenstore" => XenStoreCommand.Run(args.AsSpan(1)),
            "domu" => DomuCommand.Run(args.AsSpan(1)),
            "trace" => TraceCommand.Run(args.AsSpan(1)),
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
          perf [--mode split|native|software] [--guests G] [--alg ALG] [--sizes ...] [--ops N] [--depth Q] [--json FILE]
                 the main job: the CPA cipher sample in guests through the ixp split driver
                 (embedded dom0 and guests), or natively on the emulated device
          cipher [--local | --run-dir DIR] --alg ALG --key HEX [--iv HEX] [--decrypt] [--in FILE] [--out FILE]
                 DES/3DES (ECB, CBC, CTR) over a file or stdin, as 'openssl enc -nopad' does;
                 through the split driver unless --local
          dom0 [--run-dir DIR] [--keep] [--no-accelerator] [--engines E] ...
                 runs a host's dom0 (hypervisor region, xenstored, reaper, accelerator, ixp
                 backend) until SIGINT/SIGTERM
          xl create|list|destroy|device-add ...
                 the toolstack: guest domains on a running dom0
          xenstore read|write|rm|exists|list|ls|chmod|watch ...
                 a XenStore client on the dom0's socket
          domu [idle|perf|cipher]
                 the guest program that 'xl create -- tolapai domu' starts
          trace [--run-dir DIR | --pid PID,...] [--duration S] [--out DIR]
                 EventPipe traces of a host's dom0 and guests; 'trace report FILE...' summarises

        'tolapai <command> --help' describes a command.
        """;
}
