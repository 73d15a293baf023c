using Tolapai.Perf.Cli;

namespace Tolapai.Perf.Kernels;

/// <summary>The options of <c>perf kernels</c>.</summary>
/// <param name="Seconds">Measured time per workload, split over <see cref="Repetitions"/> (warm-up comes on top).</param>
/// <param name="Size">Bytes per call for shapes (a) and (c) and the BouncyCastle/.NET rows.</param>
/// <param name="StreamBytes">Bytes per stream in shape (b).</param>
/// <param name="JsonPath">Where to write the JSON report, or null.</param>
public sealed record KernelsOptions(double Seconds, int Size, int StreamBytes, string? JsonPath)
{
    /// <summary>Default <see cref="Seconds"/>: long enough for a stable median, short enough for a shared 2-core box.</summary>
    public const double DefaultSeconds = 0.4;

    /// <summary>Default <see cref="Size"/>: 64 KiB, large enough that per-call overhead does not count.</summary>
    public const int DefaultSize = 64 * 1024;

    /// <summary>Default <see cref="StreamBytes"/>: a 4 KiB page per stream, as a guest request would map.</summary>
    public const int DefaultStreamBytes = 4096;

    /// <summary>Repetitions per workload; the reported rate is their median.</summary>
    public const int Repetitions = 5;

    /// <summary>The command line synopsis.</summary>
    public const string Synopsis = "[--json FILE] [--seconds S] [--size BYTES] [--stream-bytes BYTES]";

    /// <summary>Parses the arguments after <c>kernels</c>; throws <see cref="UsageException"/> on a bad one.</summary>
    public static KernelsOptions Parse(IReadOnlyList<string> args)
    {
        OptionReader options = OptionReader.Parse(args, "--json", "--seconds", "--size", "--stream-bytes");
        return new KernelsOptions(
            Seconds: options.GetDouble("--seconds", DefaultSeconds, exclusiveMin: 0, max: 60),
            Size: options.GetInt32("--size", DefaultSize, min: 8, max: 64 << 20, multipleOf: 8),
            StreamBytes: options.GetInt32("--stream-bytes", DefaultStreamBytes, min: 8, max: 1 << 20, multipleOf: 8),
            JsonPath: options.GetNonEmpty("--json"));
    }
}
