namespace Tolapai.Cli.CommandLine;

/// <summary>
/// Splits a command's words into options (for <see cref="OptionParser"/>) and positional
/// words (paths, values, domids), for commands that take both. Words after a bare <c>--</c>
/// are returned apart, untouched (a guest command line, or values that start with <c>--</c>).
/// </summary>
public static class CommandWords
{
    /// <summary>Splits <paramref name="args"/>; <paramref name="valued"/> names the options that take a value (so the value is not taken for a positional word).</summary>
    public static (string[] Options, List<string> Positional, string[]? AfterDashDash) Split(ReadOnlySpan<string> args, IReadOnlyCollection<string> valued)
    {
        var options = new List<string>();
        var positional = new List<string>();
        for (int i = 0; i < args.Length; i++)
        {
            string a = args[i];
            if (a == "--")
                return ([.. options], positional, args[(i + 1)..].ToArray());
            if (a.StartsWith("--", StringComparison.Ordinal))
            {
                options.Add(a);
                if (!a.Contains('=', StringComparison.Ordinal) && valued.Contains(a[2..]) && i + 1 < args.Length && !args[i + 1].StartsWith("--", StringComparison.Ordinal))
                    options.Add(args[++i]);
                continue;
            }
            positional.Add(a);
        }
        return ([.. options], positional, null);
    }

    /// <summary>A whole number in [min, max] given for <paramref name="what"/>; a <see cref="CommandLineException"/> otherwise.</summary>
    public static uint Number(string what, string text, uint min, uint max)
    {
        if (text.Length is 0 or > 10 || !text.All(char.IsAsciiDigit)
            || !uint.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out uint v) || v < min || v > max)
        {
            throw new CommandLineException($"{what} must be a whole number in {min}..{max}, not '{text}'");
        }
        return v;
    }
}
