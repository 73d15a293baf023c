using Tolapai.Perf.Cli;

namespace Tolapai.Perf;

/// <summary>The performance harness: <c>perf &lt;command&gt; [options]</c>; see <see cref="PerfCommands"/>.</summary>
public static class Program
{
    /// <summary>Runs one harness command and returns its exit code (2 for a usage error).</summary>
    public static int Main(string[] args) => PerfCommands.CreateDispatcher().Run(args, Console.Out, Console.Error);
}
