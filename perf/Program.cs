namespace Tolapai.Perf;

/// <summary>The multi-process performance harness.</summary>
public static class Program
{
    /// <summary>Runs one harness command.</summary>
    public static int Main(string[] args)
    {
        Console.Error.WriteLine(args.Length == 0 ? "usage: perf <kernels> [--json FILE]" : $"perf: unknown command '{args[0]}'.");
        return 2;
    }
}
