using Tolapai.Perf.Gate;
using Tolapai.Perf.Kernels;
using Tolapai.Perf.Report;
using Tolapai.Perf.Ring;

namespace Tolapai.Perf.Cli;

/// <summary>The harness's commands. A new command is a class implementing <see cref="IPerfCommand"/> in its own folder and one line here.</summary>
public static class PerfCommands
{
    /// <summary>A dispatcher that knows every command.</summary>
    public static CommandDispatcher CreateDispatcher() => new(
    [
        new KernelsCommand(),
        new RingPerfCommand(),
        new GateCommand(),
        new BaselineCommand(),
        new ReportCommand(),
    ]);
}
