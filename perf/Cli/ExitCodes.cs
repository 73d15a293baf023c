namespace Tolapai.Perf.Cli;

/// <summary>The harness's exit codes.</summary>
public static class ExitCodes
{
    /// <summary>The command ran (a measurement command exits 0 even when a target is missed).</summary>
    public const int Ok = 0;

    /// <summary>A gate failed, or the run could not complete.</summary>
    public const int Failed = 1;

    /// <summary>The command line was wrong: unknown command, unknown flag, bad value.</summary>
    public const int Usage = 2;
}
