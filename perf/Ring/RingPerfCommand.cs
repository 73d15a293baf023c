using Tolapai.Perf.Cli;

namespace Tolapai.Perf.Ring;

/// <summary>
/// <c>perf ring</c> in the dispatcher. The measurement re-runs this executable as
/// <c>ring --child ...</c> for its backend process, which lands here too.
/// </summary>
public sealed class RingPerfCommand : IPerfCommand
{
    /// <inheritdoc/>
    public string Name => "ring";

    /// <inheritdoc/>
    public string Synopsis => "[--json FILE] [--quick] [--gate]";

    /// <inheritdoc/>
    public string Summary => "raw ping-pong vs Xen ring round trip and throughput between two processes";

    /// <inheritdoc/>
    public int Run(IReadOnlyList<string> args, TextWriter output, TextWriter error) => RingCommand.Run([.. args]);
}
