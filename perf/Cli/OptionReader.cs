using System.Globalization;

namespace Tolapai.Perf.Cli;

/// <summary>
/// Reads <c>--name value</c> and <c>--name=value</c> flags. Every flag takes a value, appears at
/// most once, and must be one the command knows; anything else is a <see cref="UsageException"/>.
/// </summary>
public sealed class OptionReader
{
    private readonly Dictionary<string, string> _values = new(StringComparer.Ordinal);
    private readonly HashSet<string> _switches = new(StringComparer.Ordinal);

    private OptionReader()
    {
    }

    /// <summary>Splits <paramref name="args"/> into flag values, checking names against <paramref name="known"/> (written with their dashes).</summary>
    public static OptionReader Parse(IReadOnlyList<string> args, params ReadOnlySpan<string> known) => Parse(args, [], known);

    /// <summary>
    /// As <see cref="Parse(IReadOnlyList{string}, ReadOnlySpan{string})"/>, with <paramref name="switches"/>:
    /// flags that take no value (<c>--quick</c>), read with <see cref="GetSwitch"/>.
    /// </summary>
    public static OptionReader Parse(IReadOnlyList<string> args, IReadOnlyCollection<string> switches, params ReadOnlySpan<string> known)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(switches);
        var knownSet = new HashSet<string>(StringComparer.Ordinal);
        foreach (string name in known)
        {
            knownSet.Add(name);
        }

        var reader = new OptionReader();
        for (int i = 0; i < args.Count; i++)
        {
            string arg = args[i];
            if (!arg.StartsWith("--", StringComparison.Ordinal))
            {
                throw new UsageException($"unexpected argument '{arg}'");
            }

            string name = arg;
            string? value = null;
            int equals = arg.IndexOf('=', StringComparison.Ordinal);
            if (equals > 0)
            {
                name = arg[..equals];
                value = arg[(equals + 1)..];
            }

            if (switches.Contains(name))
            {
                if (value is not null)
                {
                    throw new UsageException($"{name} takes no value");
                }

                if (!reader._switches.Add(name))
                {
                    throw new UsageException($"{name} given twice");
                }

                continue;
            }

            if (!knownSet.Contains(name))
            {
                throw new UsageException($"unknown flag '{name}'");
            }

            if (value is null)
            {
                if (i + 1 >= args.Count)
                {
                    throw new UsageException($"{name} needs a value");
                }

                value = args[++i];
            }

            if (!reader._values.TryAdd(name, value))
            {
                throw new UsageException($"{name} given twice");
            }
        }

        return reader;
    }

    /// <summary>True when the switch <paramref name="name"/> was given.</summary>
    public bool GetSwitch(string name) => _switches.Contains(name);

    /// <summary>The raw value of a flag, or null when it was not given.</summary>
    public string? GetString(string name) => _values.GetValueOrDefault(name);

    /// <summary>A non-empty string flag (a path, say), or <paramref name="fallback"/>.</summary>
    public string? GetNonEmpty(string name, string? fallback = null)
    {
        string? text = GetString(name);
        if (text is null)
        {
            return fallback;
        }

        return text.Length == 0 ? throw new UsageException($"{name} needs a non-empty value") : text;
    }

    /// <summary>A number in (<paramref name="exclusiveMin"/>, <paramref name="max"/>], invariant culture.</summary>
    public double GetDouble(string name, double fallback, double exclusiveMin, double max)
    {
        string? text = GetString(name);
        if (text is null)
        {
            return fallback;
        }

        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double value) || !double.IsFinite(value))
        {
            throw new UsageException($"{name} '{text}' is not a number");
        }

        return value > exclusiveMin && value <= max
            ? value
            : throw new UsageException($"{name} {text} is out of range (more than {exclusiveMin.ToString(CultureInfo.InvariantCulture)}, at most {max.ToString(CultureInfo.InvariantCulture)})");
    }

    /// <summary>An integer in [<paramref name="min"/>, <paramref name="max"/>] that is a multiple of <paramref name="multipleOf"/>.</summary>
    public int GetInt32(string name, int fallback, int min, int max, int multipleOf = 1)
    {
        string? text = GetString(name);
        if (text is null)
        {
            return fallback;
        }

        if (!int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out int value))
        {
            throw new UsageException($"{name} '{text}' is not an integer");
        }

        if (value < min || value > max)
        {
            throw new UsageException($"{name} {value} is out of range ({min}..{max})");
        }

        return value % multipleOf == 0 ? value : throw new UsageException($"{name} {value} is not a multiple of {multipleOf}");
    }
}
