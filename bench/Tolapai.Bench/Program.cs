using BenchmarkDotNet.Running;

namespace Tolapai.Bench;

/// <summary>BenchmarkDotNet entry: pass BenchmarkDotNet's own filters (--filter, --list flat).</summary>
public static class Program
{
    /// <summary>Runs the benchmarks chosen on the command line.</summary>
    public static void Main(string[] args) => BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
}
