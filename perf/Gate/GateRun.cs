using System.Runtime.InteropServices;
using System.Text.Json;
using Tolapai.Kernels.Des;
using Tolapai.Perf.Cli;

namespace Tolapai.Perf.Gate;

/// <summary>Runs the probes, and reads and writes results and baseline files.</summary>
public static class GateRun
{
    /// <summary>Default repetitions per metric: five on each side is the least for which Mann–Whitney can reach p &lt; 0.05 comfortably (smallest exact p is 0.008).</summary>
    public const int DefaultRepetitions = 5;

    /// <summary>The fewest repetitions with which a regression can be significant: 3 against 3 cannot reach p &lt; 0.05 (the smallest exact p is 0.1), 4 against 4 can (0.029).</summary>
    public const int MinimumRepetitions = 4;

    /// <summary>The file name of the baseline under <c>perf/baselines/</c>.</summary>
    public const string BaselineFileName = "gate.json";

    /// <summary>Every probe of the scenario matrix, by name.</summary>
    public static IReadOnlyList<IGateProbe> AllProbes { get; } = [new KernelGateProbe(), new RingGateProbe(), new SplitGateProbe()];

    /// <summary>Runs <paramref name="probes"/> and collects their metrics.</summary>
    public static GateResults Measure(IReadOnlyList<IGateProbe> probes, int repetitions, bool quick, TextWriter? progress)
    {
        ArgumentNullException.ThrowIfNull(probes);
        DateTime started = DateTime.UtcNow;
        var metrics = new List<MetricResult>();
        foreach (IGateProbe probe in probes)
        {
            metrics.AddRange(probe.Measure(repetitions, quick, step => progress?.Write($"\rgate {probe.Name}: {step,-60}")));
        }

        progress?.Write("\r" + new string(' ', 80) + "\r");
        return new GateResults(GateResults.CurrentSchema, started, Machine(), repetitions, quick, metrics, GateHost.Current(), [.. probes.Select(p => p.Name)]);
    }

    /// <summary>Picks probes by a comma-separated list of names, or all of them when <paramref name="names"/> is null.</summary>
    public static IReadOnlyList<IGateProbe> SelectProbes(string? names)
    {
        if (names is null)
        {
            return AllProbes;
        }

        var selected = new List<IGateProbe>();
        foreach (string name in names.Split(',', StringSplitOptions.TrimEntries))
        {
            IGateProbe probe = AllProbes.FirstOrDefault(p => p.Name == name)
                ?? throw new UsageException($"--only: unknown scenario '{name}'; one of: {string.Join(", ", AllProbes.Select(p => p.Name))}");
            selected.Add(probe);
        }

        return selected;
    }

    /// <summary>Reads a results or baseline file; a missing, unreadable or malformed file is a <see cref="GateFileException"/>.</summary>
    public static GateResults Read(string path)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new GateFileException($"cannot read {path}: {e.Message}");
        }

        GateResults? results;
        try
        {
            results = JsonSerializer.Deserialize(bytes, GateJsonContext.Default.GateResults);
        }
        catch (JsonException e)
        {
            throw new GateFileException($"{path} is not a gate results file: {e.Message}");
        }

        if (results is null || results.Schema != GateResults.CurrentSchema || results.Metrics is null)
        {
            throw new GateFileException($"{path} is not a {GateResults.CurrentSchema} file");
        }

        foreach (MetricResult m in results.Metrics)
        {
            if (string.IsNullOrEmpty(m.Id) || m.Samples is null || m.Samples.Count == 0 || m.Samples.Any(s => !double.IsFinite(s)) || !double.IsFinite(m.Tolerance) || m.Tolerance < 0)
            {
                throw new GateFileException($"{path}: metric '{m.Id}' needs an id, finite samples and a non-negative tolerance");
            }
        }

        return results;
    }

    /// <summary>Writes <paramref name="results"/> as JSON.</summary>
    public static void Write(string path, GateResults results) =>
        File.WriteAllText(path, JsonSerializer.Serialize(results, GateJsonContext.Default.GateResults) + "\n");

    /// <summary>
    /// The baseline kept in the source tree, <c>perf/baselines/gate.json</c>, found by walking up from
    /// the working directory, then from the executable, to the folder holding <c>Tolapai.Fast.sln</c>.
    /// </summary>
    public static string DefaultBaselinePath()
    {
        foreach (string start in (string[])[Directory.GetCurrentDirectory(), AppContext.BaseDirectory])
        {
            for (DirectoryInfo? d = new(start); d is not null; d = d.Parent)
            {
                if (File.Exists(Path.Combine(d.FullName, "Tolapai.Fast.sln")))
                {
                    return Path.Combine(d.FullName, "perf", "baselines", BaselineFileName);
                }
            }
        }

        throw new GateFileException("cannot find the repository (Tolapai.Fast.sln) above the working directory; pass --baseline FILE");
    }

    /// <summary>Keeps the tolerances a team tuned in <paramref name="old"/> for metrics it already had.</summary>
    public static GateResults KeepTolerances(GateResults fresh, GateResults? old)
    {
        ArgumentNullException.ThrowIfNull(fresh);
        if (old is null)
        {
            return fresh;
        }

        var tuned = old.Metrics.ToDictionary(m => m.Id, m => m.Tolerance, StringComparer.Ordinal);
        return fresh with { Metrics = fresh.Metrics.Select(m => tuned.TryGetValue(m.Id, out double t) ? m with { Tolerance = t } : m).ToArray() };
    }

    private static string Machine() =>
        $"{RuntimeInformation.FrameworkDescription}, {RuntimeInformation.OSDescription}, {Environment.ProcessorCount} cpus, best kernel {DesCipher.Best}";
}

/// <summary>A results or baseline file that cannot be used.</summary>
public sealed class GateFileException : Exception
{
    /// <summary>Creates the exception.</summary>
    public GateFileException()
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public GateFileException(string message) : base(message)
    {
    }

    /// <summary>Creates the exception with a message and a cause.</summary>
    public GateFileException(string message, Exception innerException) : base(message, innerException)
    {
    }
}
