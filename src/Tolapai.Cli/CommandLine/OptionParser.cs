namespace Tolapai.Cli.CommandLine;

/// <summary>
/// A small GNU-style long-option parser: <c>--flag</c>, <c>--name VALUE</c> and
/// <c>--name=VALUE</c>. Every option may appear once; anything else (unknown options, stray
/// words, a missing value) is a <see cref="CommandLineException"/>. A value may not start with
/// <c>--</c> in the separate-word form, so <c>--key --iv 00</c> reads as a missing key rather
/// than a key named <c>--iv</c>; the <c>--name=VALUE</c> form takes any value.
/// </summary>
public sealed class OptionParser
{
    private readonly HashSet<string> _flags;
    private readonly HashSet<string> _valued;

    /// <summary>Creates a parser for the given option names (without the leading <c>--</c>).</summary>
    public OptionParser(IEnumerable<string> flags, IEnumerable<string> valued)
    {
        _flags = new HashSet<string>(flags, StringComparer.Ordinal);
        _valued = new HashSet<string>(valued, StringComparer.Ordinal);
    }

    /// <summary>True when <paramref name="args"/> asks for help anywhere (<c>-h</c>, <c>--help</c>).</summary>
    public static bool WantsHelp(ReadOnlySpan<string> args)
    {
        foreach (string arg in args)
        {
            if (arg is "-h" or "--help")
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Parses <paramref name="args"/>; throws <see cref="CommandLineException"/> on the first problem.</summary>
    public ParsedOptions Parse(ReadOnlySpan<string> args)
    {
        var flags = new HashSet<string>(StringComparer.Ordinal);
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        for (int i = 0; i < args.Length; i++)
        {
            string arg = args[i];
            if (!arg.StartsWith("--", StringComparison.Ordinal) || arg.Length == 2)
            {
                throw new CommandLineException($"unexpected argument '{arg}' (options start with --)");
            }

            int equals = arg.IndexOf('=', StringComparison.Ordinal);
            string name = equals < 0 ? arg[2..] : arg[2..equals];
            if (_flags.Contains(name))
            {
                if (equals >= 0)
                {
                    throw new CommandLineException($"option --{name} takes no value");
                }

                if (!flags.Add(name))
                {
                    throw new CommandLineException($"option --{name} given twice");
                }

                continue;
            }

            if (!_valued.Contains(name))
            {
                throw new CommandLineException($"unknown option '--{name}'");
            }

            string value;
            if (equals >= 0)
            {
                value = arg[(equals + 1)..];
            }
            else if (i + 1 < args.Length && !args[i + 1].StartsWith("--", StringComparison.Ordinal))
            {
                value = args[++i];
            }
            else
            {
                throw new CommandLineException($"option --{name} needs a value");
            }

            if (!values.TryAdd(name, value))
            {
                throw new CommandLineException($"option --{name} given twice");
            }
        }

        return new ParsedOptions(flags, values);
    }
}

/// <summary>The options found by <see cref="OptionParser.Parse"/>.</summary>
public sealed class ParsedOptions
{
    private readonly HashSet<string> _flags;
    private readonly Dictionary<string, string> _values;

    internal ParsedOptions(HashSet<string> flags, Dictionary<string, string> values)
    {
        _flags = flags;
        _values = values;
    }

    /// <summary>True when the flag <c>--<paramref name="name"/></c> was given.</summary>
    public bool Has(string name) => _flags.Contains(name);

    /// <summary>The value of <c>--<paramref name="name"/></c>, or null when it was not given.</summary>
    public string? Get(string name) => _values.GetValueOrDefault(name);

    /// <summary>The value of <c>--<paramref name="name"/></c>; a <see cref="CommandLineException"/> when it was not given.</summary>
    public string Require(string name) => Get(name) ?? throw new CommandLineException($"missing required option --{name}");
}
