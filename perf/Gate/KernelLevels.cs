using System.Collections;

namespace Tolapai.Perf.Gate;

/// <summary>
/// What the measuring machine's CPU really has, read from <c>/proc/cpuinfo</c> rather than from the
/// runtime (which <c>DOTNET_Enable*=0</c> or a code change can talk out of a level), and the runtime
/// switches that were set. The gate decides from it whether a kernel metric that was not measured
/// is a machine without that level (reported) or a lost level (a failure).
/// </summary>
/// <param name="CpuFlags">The CPU's flags that some kernel level needs (names as <c>/proc/cpuinfo</c> spells them); null when unknown.</param>
/// <param name="RuntimeSwitches">Every <c>DOTNET_Enable*</c> / <c>COMPlus_Enable*</c> variable set in the measuring process.</param>
public sealed record GateHost(IReadOnlyList<string>? CpuFlags, IReadOnlyDictionary<string, string> RuntimeSwitches)
{
    /// <summary>This process's machine: <c>/proc/cpuinfo</c> and the environment.</summary>
    public static GateHost Current() => new(KernelLevels.ReadCpuFlags("/proc/cpuinfo"), ReadSwitches());

    /// <summary>Why a level is missing from a run although <see cref="CpuFlags"/> holds what it needs.</summary>
    public string SwitchesSummary()
    {
        string[] off = [.. RuntimeSwitches.Where(s => s.Value.Trim() == "0").Select(s => $"{s.Key}=0")];
        return off.Length switch
        {
            0 => "no DOTNET_Enable* switch is set, so the code or the runtime lost it",
            1 => $"{off[0]} is set",
            _ => $"{string.Join(", ", off)} are set",
        };
    }

    private static Dictionary<string, string> ReadSwitches()
    {
        var found = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (DictionaryEntry entry in Environment.GetEnvironmentVariables())
        {
            if (entry.Key is string name
                && (name.StartsWith("DOTNET_Enable", StringComparison.OrdinalIgnoreCase) || name.StartsWith("COMPlus_Enable", StringComparison.OrdinalIgnoreCase)))
            {
                found[name] = entry.Value as string ?? "";
            }
        }

        return new Dictionary<string, string>(found, StringComparer.Ordinal);
    }
}

/// <summary>The kernel levels of <c>Tolapai.Kernels</c> and the CPU flags each one's <c>IsSupported</c> requires.</summary>
public static class KernelLevels
{
    /// <summary>
    /// Level (as it appears in a metric id, <c>kernels.&lt;cipher&gt;.&lt;level&gt;.…</c>) → the
    /// <c>/proc/cpuinfo</c> flags its ops need: <c>V512Ops</c> Avx512F, Avx512BW and Avx512Vbmi;
    /// <c>V256Ops</c> Avx2; <c>V128Ops</c> Sse41 and Ssse3; the scalar kernel nothing.
    /// </summary>
    public static IReadOnlyDictionary<string, string[]> Required { get; } = new Dictionary<string, string[]>(StringComparer.Ordinal)
    {
        ["vector512"] = ["avx512f", "avx512bw", "avx512vbmi"],
        ["vector256"] = ["avx2"],
        ["vector128"] = ["sse4_1", "ssse3"],
        ["scalar"] = [],
    };

    /// <summary>The kernel level a metric id names (<c>kernels.des.vector512.ecb-vs-…</c> → <c>vector512</c>), or null.</summary>
    public static string? LevelOf(string metricId)
    {
        ArgumentNullException.ThrowIfNull(metricId);
        string[] parts = metricId.Split('.');
        return parts.Length >= 4 && parts[0] == "kernels" && Required.ContainsKey(parts[2]) ? parts[2] : null;
    }

    /// <summary>The same metric at another level: <c>kernels.des.vector512.ecb-vs-x</c> and <c>kernels.des.vector256.ecb-vs-x</c> share it.</summary>
    public static string? LevelFreeKey(string metricId)
    {
        ArgumentNullException.ThrowIfNull(metricId);
        string[] parts = metricId.Split('.');
        return LevelOf(metricId) is null ? null : $"{parts[0]}.{parts[1]}.*.{string.Join('.', parts[3..])}";
    }

    /// <summary>The flags the CPU has among those any level needs; null when the file cannot be read or has no flags line.</summary>
    public static IReadOnlyList<string>? ReadCpuFlags(string path)
    {
        string[] lines;
        try
        {
            lines = File.ReadAllLines(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }

        return ParseCpuFlags(lines);
    }

    /// <summary>The wanted flags of the first <c>flags</c> line of <c>/proc/cpuinfo</c> text; null without one.</summary>
    public static IReadOnlyList<string>? ParseCpuFlags(IEnumerable<string> cpuinfoLines)
    {
        ArgumentNullException.ThrowIfNull(cpuinfoLines);
        string? line = cpuinfoLines.FirstOrDefault(l => l.StartsWith("flags", StringComparison.Ordinal) && l.Contains(':', StringComparison.Ordinal));
        if (line is null)
        {
            return null;
        }

        HashSet<string> wanted = [.. Required.Values.SelectMany(f => f)];
        return [.. line[(line.IndexOf(':', StringComparison.Ordinal) + 1)..]
            .Split(' ', StringSplitOptions.RemoveEmptyEntries)
            .Where(wanted.Contains)
            .Distinct()
            .Order(StringComparer.Ordinal)];
    }

    /// <summary>The flags <paramref name="level"/> needs that <paramref name="cpuFlags"/> lacks (empty: the CPU has the level).</summary>
    public static string[] Missing(string level, IReadOnlyList<string> cpuFlags)
    {
        ArgumentNullException.ThrowIfNull(level);
        ArgumentNullException.ThrowIfNull(cpuFlags);
        return [.. Required[level].Where(f => !cpuFlags.Contains(f))];
    }
}
