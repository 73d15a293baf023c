using BenchmarkDotNet.Running;

namespace Tolapai.Bench;

/// <summary>
/// BenchmarkDotNet entry: pass BenchmarkDotNet's own filters, e.g.
/// <c>dotnet run -c Release --project bench/Tolapai.Bench -- --filter *DesMode* --anyCategories CTR</c>
/// or <c>--filter *DesBatch*</c>; <c>--list flat</c> lists them. The full DES set is a few hundred
/// cases: run a slice, or <c>--job short</c> for a quick look.
/// </summary>
public static class Program
{
    /// <summary>Runs the benchmarks chosen on the command line.</summary>
    public static void Main(string[] args) => BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
}
