using System.Globalization;
using Tolapai.Cli.CommandLine;
using Tolapai.Cpa;
using Tolapai.Cpa.Sample;

namespace Tolapai.Cli.Commands.Perf;

/// <summary>
/// The sample workload's options as the command line gives them (<c>--alg --decrypt --sizes --ops
/// --depth --warmup --seed --completion</c>), shared by <c>tolapai perf</c> in every mode and by the
/// guest program (<c>tolapai domu perf</c>) it starts, which gets them back as the same words.
/// </summary>
public sealed record PerfWorkloadOptions(CipherPerfOptions Sample, string AlgorithmName, CompletionMode Completion)
{
    /// <summary>Options that take a value.</summary>
    public static readonly string[] Valued = ["alg", "sizes", "ops", "depth", "warmup", "seed", "completion", "seconds"];

    /// <summary>Flags without a value.</summary>
    public static readonly string[] Flags = ["decrypt"];

    /// <summary>Default operations per size.</summary>
    public const int DefaultOps = 50000;

    /// <summary>Default operations in flight.</summary>
    public const int DefaultDepth = 256;

    /// <summary>Reads the options; a bad value is a <see cref="CommandLineException"/>.</summary>
    public static PerfWorkloadOptions Parse(ParsedOptions o)
    {
        ArgumentNullException.ThrowIfNull(o);
        string algName = o.Get("alg") ?? "3des-cbc";
        if (!SymAlgorithms.TryParse(algName, out SymCipherAlgorithm alg))
        {
            throw new CommandLineException($"unknown --alg '{algName}' (des-ecb, des-cbc, 3des-ecb, 3des-cbc, 3des-ctr)");
        }

        var sample = new CipherPerfOptions
        {
            Algorithm = alg,
            Direction = o.Has("decrypt") ? SymCipherDirection.Decrypt : SymCipherDirection.Encrypt,
            Sizes = o.Get("sizes") is { } sizes ? ParseSizes(sizes) : CipherPerfOptions.DefaultSizes,
            Ops = Int(o, "ops", o.Get("seconds") is null ? DefaultOps : 100_000_000, 1, 100_000_000), // --seconds alone: no cap that matters
            Depth = Int(o, "depth", DefaultDepth, 1, 65536),
            WarmupOps = Int(o, "warmup", 2000, 0, 100_000_000),
            Seed = Int(o, "seed", 1, int.MinValue, int.MaxValue),
            Duration = o.Get("seconds") is { } secs ? Seconds(secs) : null,
        };
        if (sample.Validate() is string error)
        {
            throw new CommandLineException(error);
        }

        CompletionMode completion = (o.Get("completion") ?? "poll") switch
        {
            "poll" => CompletionMode.Polling,
            "interrupt" => CompletionMode.Interrupt,
            var c => throw new CommandLineException($"unknown --completion '{c}' (poll or interrupt)"),
        };
        return new PerfWorkloadOptions(sample, algName, completion);
    }

    private static TimeSpan Seconds(string text) =>
        double.TryParse(text, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out double s) && s > 0 && s <= 86_400
            ? TimeSpan.FromSeconds(s)
            : throw new CommandLineException($"--seconds '{text}' is not a number of seconds in (0, 86400]");

    /// <summary>The same options as command-line words, for the guest process.</summary>
    public IReadOnlyList<string> ToArguments()
    {
        var args = new List<string>
        {
            "--alg", AlgorithmName,
            "--sizes", string.Join(',', Sample.Sizes.Select(s => s.ToString(CultureInfo.InvariantCulture))),
            "--ops", Sample.Ops.ToString(CultureInfo.InvariantCulture),
            "--depth", Sample.Depth.ToString(CultureInfo.InvariantCulture),
            "--warmup", Sample.WarmupOps.ToString(CultureInfo.InvariantCulture),
            "--seed", Sample.Seed.ToString(CultureInfo.InvariantCulture),
            "--completion", Completion == CompletionMode.Polling ? "poll" : "interrupt",
        };
        if (Sample.Direction == SymCipherDirection.Decrypt)
        {
            args.Add("--decrypt");
        }

        if (Sample.Duration is { } d)
        {
            args.Add("--seconds");
            args.Add(d.TotalSeconds.ToString("R", CultureInfo.InvariantCulture));
        }

        return args;
    }

    /// <summary>A whole number option in [min, max].</summary>
    public static int Int(ParsedOptions o, string name, int fallback, int min, int max)
    {
        ArgumentNullException.ThrowIfNull(o);
        string? s = o.Get(name);
        if (s is null)
        {
            return fallback;
        }

        if (!int.TryParse(s, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int v) || v < min || v > max)
        {
            throw new CommandLineException($"--{name} '{s}' is not a whole number in {min}..{max}");
        }

        return v;
    }

    private static int[] ParseSizes(string text)
    {
        string[] parts = text.Split(',');
        int[] sizes = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
        {
            if (!int.TryParse(parts[i], NumberStyles.None, CultureInfo.InvariantCulture, out sizes[i]) || sizes[i] <= 0 || sizes[i] > (1 << 20))
            {
                throw new CommandLineException($"--sizes: '{parts[i]}' is not a packet size in 1..1048576");
            }
        }

        return sizes;
    }
}
