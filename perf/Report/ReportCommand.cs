using Tolapai.Perf.Cli;

namespace Tolapai.Perf.Report;

/// <summary>
/// <c>perf report --html FILE [--inputs A.json,B.json]</c>: one self-contained HTML page with the
/// charts of the given perf runs (<c>tolapai perf --json</c> files, native and split), or of every
/// run file in <c>perf/results/</c>.
/// </summary>
public sealed class ReportCommand : IPerfCommand
{
    /// <inheritdoc/>
    public string Name => "report";

    /// <inheritdoc/>
    public string Synopsis => "--html FILE [--inputs RUN.json,...]";

    /// <inheritdoc/>
    public string Summary => "HTML page with throughput/latency charts from perf run JSON files (no network needed to view)";

    /// <inheritdoc/>
    public int Run(IReadOnlyList<string> args, TextWriter output, TextWriter error)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(error);
        OptionReader o = OptionReader.Parse(args, "--html", "--inputs");
        string html = o.GetNonEmpty("--html") ?? throw new UsageException("--html FILE is required");
        string? inputs = o.GetNonEmpty("--inputs");
        string[] files = inputs is not null
            ? inputs.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            : DefaultInputs();
        if (files.Length == 0)
        {
            throw new UsageException("no run files: pass --inputs A.json,B.json (tolapai perf --json FILE writes them) or put them in perf/results/");
        }

        try
        {
            RunSeries[] runs = files.SelectMany(RunSeries.ReadAll).ToArray();
            string page = HtmlReport.Build(runs, DateTime.UtcNow);
            File.WriteAllText(html, page);
            output.WriteLine($"report: {Path.GetFullPath(html)} ({runs.Length} runs, {page.Length / 1024} KiB)");
            return ExitCodes.Ok;
        }
        catch (InvalidDataException e)
        {
            error.WriteLine($"perf report: {e.Message}");
            return ExitCodes.Failed;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            error.WriteLine($"perf report: cannot write {html}: {e.Message}");
            return ExitCodes.Failed;
        }
    }

    private static string[] DefaultInputs()
    {
        string results;
        try
        {
            results = Path.Combine(Path.GetDirectoryName(Path.GetDirectoryName(Gate.GateRun.DefaultBaselinePath())!)!, "results");
        }
        catch (Gate.GateFileException)
        {
            return [];
        }

        return Directory.Exists(results) ? Directory.GetFiles(results, "*.json").Order(StringComparer.Ordinal).ToArray() : [];
    }
}
