using System.Globalization;
using System.Text.Json;

namespace Tolapai.Perf.Report;

/// <summary>One packet size of a perf run.</summary>
/// <param name="Size">Bytes per operation.</param>
/// <param name="Mbps">Megabits per second.</param>
/// <param name="OpsPerSec">Operations per second.</param>
/// <param name="P50Ns">Latency median.</param>
/// <param name="P99Ns">Latency 99th percentile.</param>
/// <param name="P999Ns">Latency 99.9th percentile.</param>
/// <param name="MaxNs">Largest latency.</param>
/// <param name="Verified">Every output matched the reference.</param>
public sealed record SizePoint(int Size, double Mbps, double OpsPerSec, double P50Ns, double P99Ns, double P999Ns, double MaxNs, bool Verified);

/// <summary>A throughput sample over time.</summary>
/// <param name="Seconds">Seconds since the run started.</param>
/// <param name="Mbps">Megabits per second over the sample.</param>
public sealed record TimePoint(double Seconds, double Mbps);

/// <summary>A migration during a run.</summary>
/// <param name="Seconds">When it completed, seconds since the run started.</param>
/// <param name="DowntimeMs">How long the guest was suspended.</param>
public sealed record MigrationMark(double Seconds, double DowntimeMs);

/// <summary>
/// One perf run read from its JSON (<c>tolapai perf --json</c>, native or split): the per-size
/// results and, when the run recorded them, the throughput timeline and the migrations.
/// Reading is lenient about fields it does not draw and strict about the ones it does.
/// </summary>
/// <param name="Label">Legend label: mode, algorithm, guests; or the file name.</param>
/// <param name="Source">The file.</param>
/// <param name="Sizes">Results by packet size, ascending.</param>
/// <param name="Timeline">Throughput over time (may be empty).</param>
/// <param name="Migrations">Migrations (may be empty).</param>
public sealed record RunSeries(string Label, string Source, IReadOnlyList<SizePoint> Sizes, IReadOnlyList<TimePoint> Timeline, IReadOnlyList<MigrationMark> Migrations)
{
    /// <summary>
    /// Reads a run file: its run and, when it also holds the native yardstick of the same run
    /// (<c>tolapai perf --vs-native</c>: a <c>native</c> array), that as a second run. Anything
    /// that is not a perf run is an <see cref="InvalidDataException"/> naming the file and the field.
    /// </summary>
    public static IReadOnlyList<RunSeries> ReadAll(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InvalidDataException($"cannot read {path}: {e.Message}", e);
        }

        try
        {
            using JsonDocument doc = JsonDocument.Parse(bytes);
            JsonElement root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("results", out JsonElement results) || results.ValueKind != JsonValueKind.Array)
            {
                throw new InvalidDataException($"{path}: not a perf run (no \"results\" array)");
            }

            List<SizePoint> sizes = ReadSizes(results, path);

            var timeline = new List<TimePoint>();
            if (root.TryGetProperty("timeline", out JsonElement t) && t.ValueKind == JsonValueKind.Array)
            {
                timeline.AddRange(t.EnumerateArray().Select(p => new TimePoint(Number(p, "seconds", path), Number(p, "mbps", path))));
            }

            var migrations = new List<MigrationMark>();
            if (root.TryGetProperty("migrationEvents", out JsonElement m) && m.ValueKind == JsonValueKind.Array)
            {
                migrations.AddRange(m.EnumerateArray().Select(p => new MigrationMark(Number(p, "seconds", path), Number(p, "downtimeMs", path))));
            }

            var run = new RunSeries(LabelOf(root, path), path, [.. sizes.OrderBy(s => s.Size)], timeline, migrations);
            if (!root.TryGetProperty("native", out JsonElement native) || native.ValueKind != JsonValueKind.Array)
            {
                return [run];
            }

            RunSeries yardstick = run with
            {
                Label = run.Label.Replace("split", "native", StringComparison.Ordinal) + " (same run)",
                Sizes = [.. ReadSizes(native, path).OrderBy(s => s.Size)],
                Timeline = [],
                Migrations = [],
            };
            return [run, yardstick];
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: not valid JSON: {e.Message}", e);
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException)
        {
            throw new InvalidDataException($"{path}: a field has the wrong type: {e.Message}", e);
        }
    }

    private static List<SizePoint> ReadSizes(JsonElement results, string path)
    {
        var sizes = new List<SizePoint>();
        foreach (JsonElement r in results.EnumerateArray())
        {
            JsonElement lat = Required(r, "latencyNs", path);
            sizes.Add(new SizePoint(
                Required(r, "size", path).GetInt32(),
                Number(r, "mbps", path),
                Number(r, "opsPerSec", path),
                Number(lat, "p50", path),
                Number(lat, "p99", path),
                Number(lat, "p999", path),
                Number(lat, "max", path),
                r.TryGetProperty("verified", out JsonElement v) && v.ValueKind == JsonValueKind.True));
        }

        return sizes;
    }

    private static string LabelOf(JsonElement root, string path)
    {
        string? mode = Text(root, "mode");
        string? alg = Text(root, "alg") ?? Text(root, "algorithm");
        string guests = root.TryGetProperty("guests", out JsonElement g) && g.ValueKind == JsonValueKind.Number
            ? " " + g.GetInt32().ToString(CultureInfo.InvariantCulture) + (g.GetInt32() == 1 ? " guest" : " guests")
            : "";
        return mode is null ? Path.GetFileNameWithoutExtension(path) : $"{mode}{(alg is null ? "" : " " + alg)}{(mode == "native" ? "" : guests)}";
    }

    private static string? Text(JsonElement e, string name) =>
        e.TryGetProperty(name, out JsonElement v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    private static JsonElement Required(JsonElement e, string name, string path) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out JsonElement v) ? v : throw new InvalidDataException($"{path}: a result has no \"{name}\"");

    private static double Number(JsonElement e, string name, string path)
    {
        double d = Required(e, name, path).GetDouble();
        return double.IsFinite(d) && d >= 0 ? d : throw new InvalidDataException($"{path}: \"{name}\" is {d.ToString(CultureInfo.InvariantCulture)}, not a finite non-negative number");
    }
}
