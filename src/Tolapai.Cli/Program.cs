namespace Tolapai.Cli;

/// <summary>Entry point of the <c>tolapai</c> command.</summary>
public static class Program
{
    /// <summary>Runs one command and returns its exit code: 0 success, 1 failure, 2 bad usage.</summary>
    public static int Main(string[] args)
    {
        if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
        {
            Console.Out.WriteLine(Usage);
            return args.Length == 0 ? 2 : 0;
        }

        Console.Error.WriteLine($"tolapai: unknown command '{args[0]}' (try 'tolapai --help').");
        return 2;
    }

    internal const string Usage = """
        usage: tolapai <command> [options]

        commands:
          cipher --local --alg ALG --key HEX [--iv HEX] [--decrypt] [--in FILE] [--out FILE]
        """;
}
