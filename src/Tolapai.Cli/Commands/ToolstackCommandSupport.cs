using System.Runtime.InteropServices;
using Tolapai.Cli.CommandLine;
using Tolapai.Xen.Toolstack;

namespace Tolapai.Cli.Commands;

/// <summary>What the dom0, xl, xenstore and domu commands share: the run directory option, errors, signals.</summary>
internal static class ToolstackCommandSupport
{
    public const string RunDirHelp = """
          --run-dir DIR   the host's run directory (default: $TOLAPAI_RUN_DIR, else /dev/shm/tolapai/host0)
        """;

    /// <summary>Runs an async command body, turning toolstack errors into the CLI's exit codes.</summary>
    public static int Run(Func<Task<int>> body)
    {
        try
        {
            return body().GetAwaiter().GetResult();
        }
        catch (ToolstackException e) when (e.IsUsageError)
        {
            throw new CommandLineException(e.Message, e);
        }
        catch (TimeoutException e)
        {
            // A toolstack lock held too long: another xl, or a dom0 busy tearing guests down.
            Console.Error.WriteLine($"tolapai: {e.Message.ReplaceLineEndings(" ")}");
            return ExitCodes.Failure;
        }
        catch (ToolstackException e)
        {
            Console.Error.WriteLine($"tolapai: {e.Message.ReplaceLineEndings(" ")}");
            return ExitCodes.Failure;
        }
    }

    public static string RunDirectory(ParsedOptions options) => RunDirectories.Resolve(options.Get("run-dir"));

    /// <summary>A token cancelled by SIGINT or SIGTERM (the default action — dying — is suppressed).</summary>
    public sealed class SignalScope : IDisposable
    {
        private readonly CancellationTokenSource _cts = new();
        private readonly PosixSignalRegistration _int;
        private readonly PosixSignalRegistration _term;

        public SignalScope()
        {
            _int = PosixSignalRegistration.Create(PosixSignal.SIGINT, Handle);
            _term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Handle);
        }

        public CancellationToken Token => _cts.Token;

        /// <summary>The signal that arrived first, if any.</summary>
        public PosixSignal? Signal { get; private set; }

        private void Handle(PosixSignalContext context)
        {
            context.Cancel = true;
            Signal ??= context.Signal;
            _cts.Cancel();
        }

        public void Dispose()
        {
            _int.Dispose();
            _term.Dispose();
            _cts.Dispose();
        }
    }
}
