namespace Tolapai.Cli.CommandLine;

/// <summary>
/// A problem the user can fix: bad usage or bad input. <see cref="Program"/> prints it as one
/// line prefixed <c>tolapai: </c> on stderr and exits with <see cref="ExitCodes.Usage"/>.
/// </summary>
public sealed class CommandLineException : Exception
{
    public CommandLineException()
    {
    }

    public CommandLineException(string message)
        : base(message)
    {
    }

    public CommandLineException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>The exit codes of every <c>tolapai</c> command.</summary>
public static class ExitCodes
{
    /// <summary>Done.</summary>
    public const int Success = 0;

    /// <summary>The work failed at run time (an I/O error such as a full disk or a closed pipe).</summary>
    public const int Failure = 1;

    /// <summary>Bad usage or bad input: unknown option, bad key, missing file, partial block.</summary>
    public const int Usage = 2;
}
