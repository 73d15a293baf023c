namespace Tolapai.Perf.Cli;

/// <summary>Picks the command named by the first argument and runs it with the rest.</summary>
public sealed class CommandDispatcher
{
    private readonly IReadOnlyList<IPerfCommand> _commands;

    /// <summary>Creates a dispatcher over <paramref name="commands"/> (names must be unique).</summary>
    public CommandDispatcher(IReadOnlyList<IPerfCommand> commands)
    {
        ArgumentNullException.ThrowIfNull(commands);
        if (commands.Select(c => c.Name).Distinct(StringComparer.Ordinal).Count() != commands.Count)
        {
            throw new ArgumentException("Two commands share a name.", nameof(commands));
        }

        _commands = commands;
    }

    /// <summary>The commands, in the order the usage text lists them.</summary>
    public IReadOnlyList<IPerfCommand> Commands => _commands;

    /// <summary>
    /// Runs the command and returns its exit code. No command, an unknown one, or a bad flag
    /// prints one line on <paramref name="error"/> and returns <see cref="ExitCodes.Usage"/>;
    /// <c>help</c> prints the usage on <paramref name="output"/>.
    /// </summary>
    public int Run(IReadOnlyList<string> args, TextWriter output, TextWriter error)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(error);
        if (args.Count == 0)
        {
            error.WriteLine($"perf: no command; one of: {string.Join(", ", _commands.Select(c => c.Name))} (perf help for more).");
            return ExitCodes.Usage;
        }

        string name = args[0];
        if (name is "help" or "--help" or "-h")
        {
            WriteUsage(output);
            return ExitCodes.Ok;
        }

        IPerfCommand? command = _commands.FirstOrDefault(c => string.Equals(c.Name, name, StringComparison.Ordinal));
        if (command is null)
        {
            error.WriteLine($"perf: unknown command '{name}'; one of: {string.Join(", ", _commands.Select(c => c.Name))}.");
            return ExitCodes.Usage;
        }

        try
        {
            return command.Run(args.Skip(1).ToArray(), output, error);
        }
        catch (UsageException e)
        {
            error.WriteLine($"perf {command.Name}: {e.Message} (usage: perf {command.Name} {command.Synopsis})");
            return ExitCodes.Usage;
        }
    }

    /// <summary>Writes the synopsis of every command.</summary>
    public void WriteUsage(TextWriter output)
    {
        ArgumentNullException.ThrowIfNull(output);
        output.WriteLine("usage: dotnet run --project perf -c Release -- <command> [options]");
        foreach (IPerfCommand command in _commands)
        {
            output.WriteLine($"  {command.Name} {command.Synopsis}");
            output.WriteLine($"      {command.Summary}");
        }
    }
}
