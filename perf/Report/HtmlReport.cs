using System.Globalization;
using System.Text;

namespace Tolapai.Perf.Report;

/// <summary>
/// The self-contained HTML page: every chart inline SVG, the style inline, no external request.
/// A few lines of inline script, run by the browser after layout, measure every drawn line and
/// write its length into <c>data-drawn-length</c> (what the headless-browser test reads back).
/// The page is well-formed XML, so it can also be checked with an XML parser.
/// </summary>
public static class HtmlReport
{
    private static readonly CultureInfo C = CultureInfo.InvariantCulture;

    /// <summary>Builds the page from <paramref name="runs"/>.</summary>
    public static string Build(IReadOnlyList<RunSeries> runs, DateTime generatedUtc)
    {
        ArgumentNullException.ThrowIfNull(runs);
        var html = new StringBuilder();
        html.Append("""
            <!DOCTYPE html>
            <html xmlns="http://www.w3.org/1999/xhtml" lang="en">
            <head>
            <meta charset="utf-8"/>
            <title>Tolapai.Fast performance report</title>
            <style>
            body { font-family: system-ui, sans-serif; margin: 24px; color: #222; }
            h1 { font-size: 20px; } h2 { font-size: 16px; margin-top: 28px; }
            .chart text.title { font-size: 14px; font-weight: 600; }
            .chart text.tick, .chart text.legend { font-size: 11px; fill: #444; }
            .chart text.label { font-size: 12px; fill: #222; }
            .chart line.grid { stroke: #e4e4e4; } .chart line.axis { stroke: #888; }
            .chart line.marker { stroke: #999; stroke-dasharray: 3 3; }
            table { border-collapse: collapse; font-size: 12px; margin-top: 8px; }
            th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
            th:first-child, td:first-child { text-align: left; }
            p.note { font-size: 12px; color: #555; max-width: 900px; }
            </style>
            </head>
            <body>
            <h1>Tolapai.Fast performance report</h1>

            """);
        html.Append(C, $"<p class=\"note\">Generated {generatedUtc:yyyy-MM-dd HH:mm} UTC from {runs.Count} run file(s): {SvgChart.Esc(string.Join(", ", runs.Select(r => Path.GetFileName(r.Source))))}. Numbers from a shared machine: compare runs measured together.</p>\n");

        html.Append("<h2>Throughput against packet size</h2>\n");
        html.Append(SvgChart.Render("throughput-vs-size", "Throughput by packet size", "packet size (bytes)", "Mbit/s",
            runs.Select(r => new ChartSeries(r.Label, r.Sizes.Select(s => ((double)s.Size, s.Mbps)).ToArray())).ToArray(), logX: true));

        html.Append("<h2>Latency against packet size</h2>\n");
        html.Append(SvgChart.Render("latency-vs-size", "Latency p50 (solid) and p99 (dashed)", "packet size (bytes)", "µs",
            runs.SelectMany(r => new[]
            {
                new ChartSeries(r.Label + " p50", r.Sizes.Select(s => ((double)s.Size, s.P50Ns / 1000)).ToArray()),
                new ChartSeries(r.Label + " p99", r.Sizes.Select(s => ((double)s.Size, s.P99Ns / 1000)).ToArray(), Dashed: true),
            }).ToArray(), logX: true));

        html.Append("<h2>Latency distribution</h2>\n");
        html.Append("<p class=\"note\">At each run's largest packet size; x is the number of nines of the percentile (0.3 = p50, 2 = p99, 3 = p99.9, 4 = the maximum).</p>\n");
        html.Append(SvgChart.Render("latency-distribution", "Latency percentiles at the largest packet size", "nines (0.3 = p50, 2 = p99, 3 = p99.9, 4 = max)", "µs",
            runs.Where(r => r.Sizes.Count > 0).Select(r =>
            {
                SizePoint s = r.Sizes[^1];
                return new ChartSeries($"{r.Label} @ {s.Size.ToString(C)} B", [(Math.Log10(2), s.P50Ns / 1000), (2, s.P99Ns / 1000), (3, s.P999Ns / 1000), (4, s.MaxNs / 1000)]);
            }).ToArray(), logX: false));

        List<RunSeries> timed = runs.Where(r => r.Timeline.Count > 0).ToList();
        html.Append("<h2>Throughput over time</h2>\n");
        if (timed.Count == 0)
        {
            html.Append("<p class=\"note\">No run recorded a timeline.</p>\n");
        }
        else
        {
            html.Append("<p class=\"note\">Dotted lines: migrations (hover for the downtime).</p>\n");
            html.Append(SvgChart.Render("throughput-over-time", "Throughput over time across migrations", "seconds", "Mbit/s",
                timed.Select(r => new ChartSeries(r.Label, r.Timeline.Select(p => (p.Seconds, p.Mbps)).ToArray())).ToArray(), logX: false,
                timed.SelectMany(r => r.Migrations.Select(m => (m.Seconds, string.Create(C, $"{r.Label}: migration, downtime {m.DowntimeMs:F1} ms")))).ToArray()));
        }

        html.Append("<h2>Numbers</h2>\n<table>\n<tr><th>run</th><th>size</th><th>Mbit/s</th><th>ops/s</th><th>p50 µs</th><th>p99 µs</th><th>p99.9 µs</th><th>max µs</th><th>verified</th></tr>\n");
        foreach (RunSeries r in runs)
        {
            foreach (SizePoint s in r.Sizes)
            {
                html.Append(C, $"<tr><td>{SvgChart.Esc(r.Label)}</td><td>{s.Size}</td><td>{s.Mbps:F1}</td><td>{s.OpsPerSec:F0}</td><td>{s.P50Ns / 1000:F2}</td><td>{s.P99Ns / 1000:F2}</td><td>{s.P999Ns / 1000:F2}</td><td>{s.MaxNs / 1000:F2}</td><td>{(s.Verified ? "yes" : "NO")}</td></tr>\n");
            }
        }

        html.Append("</table>\n");
        html.Append("""
            <script>
            //<![CDATA[
            window.addEventListener('load', function () {
              var lines = document.querySelectorAll('svg.chart polyline.series');
              for (var i = 0; i < lines.length; i++) {
                var box = lines[i].getBBox();
                lines[i].setAttribute('data-drawn-length', String(Math.round(lines[i].getTotalLength())));
                lines[i].setAttribute('data-drawn-box', Math.round(box.width) + 'x' + Math.round(box.height));
              }
              document.body.setAttribute('data-rendered', String(lines.length));
            });
            //]]>
            </script>
            </body>
            </html>

            """);
        return html.ToString();
    }
}
