using System.Text.Json;
using Tolapai.Perf.Cli;

namespace Tolapai.Perf.Kernels;

/// <summary>
/// <c>perf kernels</c>: DES and 3DES throughput of every supported kernel in every shape against
/// BouncyCastle, .NET and the FIPS reference, all in one run on one thread. A measurement, not a
/// gate: a missed target is printed, and the exit code stays 0.
/// </summary>
public sealed class KernelsCommand : IPerfCommand
{
    /// <inheritdoc />
    public string Name => "kernels";

    /// <inheritdoc />
    public string Synopsis => KernelsOptions.Synopsis;

    /// <inheritdoc />
    public string Summary => "DES/3DES throughput per kernel and shape vs BouncyCastle, .NET and the FIPS reference; targets PASS/MISS; allocations.";

    /// <inheritdoc />
    public int Run(IReadOnlyList<string> args, TextWriter output, TextWriter error)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(error);
        KernelsOptions options = KernelsOptions.Parse(args);
        string? jsonPath = options.JsonPath is null ? null : Path.GetFullPath(options.JsonPath);
        string? directory = jsonPath is null ? null : Path.GetDirectoryName(jsonPath);
        if (directory is not null && !Directory.Exists(directory))
        {
            // Say so before spending the measurement time, not after.
            throw new UsageException($"--json: directory '{directory}' does not exist");
        }

        KernelsReport report = KernelsRun.Measure(options, ReferenceEquals(error, Console.Error) && !Console.IsErrorRedirected ? error : null);
        KernelsTable.Write(report, output);
        if (jsonPath is not null)
        {
            try
            {
                File.WriteAllText(jsonPath, JsonSerializer.Serialize(report, KernelsJsonContext.Default.KernelsReport));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                error.WriteLine($"perf kernels: could not write {jsonPath}: {e.Message}");
                return ExitCodes.Failed;
            }

            output.WriteLine($"json: {jsonPath}");
        }

        return ExitCodes.Ok;
    }
}
