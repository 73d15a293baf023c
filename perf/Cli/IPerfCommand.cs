namespace Tolapai.Perf.Cli;

/// <summary>One harness command (<c>kernels</c>, later <c>ring</c>, <c>gate</c>, <c>baseline</c>, <c>report</c>).</summary>
public interface IPerfCommand
{
    /// <summary>The word on the command line.</summary>
    string Name { get; }

    /// <summary>The synopsis after the name, e.g. <c>[--json FILE] [--seconds S]</c>.</summary>
    string Synopsis { get; }

    /// <summary>One line on what the command does.</summary>
    string Summary { get; }

    /// <summary>
    /// Runs with the arguments after the command name. Results go to <paramref name="output"/>,
    /// diagnostics to <paramref name="error"/>. A bad argument is a <see cref="UsageException"/>,
    /// which the dispatcher turns into one line on stderr and exit code <see cref="ExitCodes.Usage"/>.
    /// </summary>
    int Run(IReadOnlyList<string> args, TextWriter output, TextWriter error);
}
