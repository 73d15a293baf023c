using System.Globalization;
using System.Net;
using System.Text;

namespace Tolapai.Perf.Report;

/// <summary>A line on a chart.</summary>
/// <param name="Label">Legend text.</param>
/// <param name="Points">(x, y) in data units.</param>
/// <param name="Dashed">Drawn dashed (a second metric of the same run).</param>
public sealed record ChartSeries(string Label, IReadOnlyList<(double X, double Y)> Points, bool Dashed = false);

/// <summary>
/// Line charts as inline SVG: axes with ticks, a legend, one polyline and markers per series,
/// optional vertical markers (migrations). No script and no network: the page draws offline in
/// any browser. Every chart is an <c>svg</c> element with class <c>chart</c> and an id, and every
/// series a <c>polyline</c> with class <c>series</c> and <c>data-label</c>, which the tests use.
/// </summary>
public static class SvgChart
{
    private const int Width = 720, Height = 360, Left = 72, Right = 200, Top = 36, Bottom = 52;
    private static readonly string[] Palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"];
    private static readonly CultureInfo C = CultureInfo.InvariantCulture;

    /// <summary>Renders a chart; <paramref name="logX"/> spaces x by powers of two (packet sizes).</summary>
    public static string Render(string id, string title, string xLabel, string yLabel, IReadOnlyList<ChartSeries> series, bool logX, IReadOnlyList<(double X, string Label)>? markers = null)
    {
        ArgumentNullException.ThrowIfNull(series);
        var all = series.SelectMany(s => s.Points).ToList();
        double xMin = all.Count == 0 ? 0 : all.Min(p => p.X), xMax = all.Count == 0 ? 1 : all.Max(p => p.X);
        double yMax = all.Count == 0 ? 1 : all.Max(p => p.Y);
        yMax = NiceCeiling(yMax <= 0 ? 1 : yMax * 1.05);
        Func<double, double> fx = logX
            ? x => Math.Log2(Math.Max(x, 1))
            : x => x;
        double a = fx(xMin), b = fx(xMax);
        if (b - a < 1e-9)
        {
            a -= 1;
            b += 1;
        }

        double plotW = Width - Left - Right, plotH = Height - Top - Bottom;
        double X(double x) => Left + ((fx(x) - a) / (b - a) * plotW);
        double Y(double y) => Top + plotH - (y / yMax * plotH);

        var svg = new StringBuilder();
        svg.Append(C, $"<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" id=\"{Esc(id)}\" width=\"{Width}\" height=\"{Height}\" viewBox=\"0 0 {Width} {Height}\" role=\"img\" aria-label=\"{Esc(title)}\">\n");
        svg.Append(C, $"<text x=\"{Left}\" y=\"22\" class=\"title\">{Esc(title)}</text>\n");
        // Grid and y ticks.
        for (int i = 0; i <= 5; i++)
        {
            double v = yMax * i / 5, y = Y(v);
            svg.Append(C, $"<line x1=\"{Left}\" y1=\"{y:F1}\" x2=\"{Left + plotW:F1}\" y2=\"{y:F1}\" class=\"grid\"/>\n");
            svg.Append(C, $"<text x=\"{Left - 6}\" y=\"{y + 4:F1}\" class=\"tick\" text-anchor=\"end\">{Esc(Short(v))}</text>\n");
        }

        // x ticks: the data's own x values for a log axis (packet sizes), five even steps otherwise.
        IEnumerable<double> xTicks = logX
            ? all.Select(p => p.X).Distinct().Order()
            : Enumerable.Range(0, 6).Select(i => xMin + ((xMax - xMin) * i / 5));
        foreach (double xv in xTicks)
        {
            double x = X(xv);
            svg.Append(C, $"<line x1=\"{x:F1}\" y1=\"{Top + plotH:F1}\" x2=\"{x:F1}\" y2=\"{Top + plotH + 5:F1}\" class=\"axis\"/>\n");
            svg.Append(C, $"<text x=\"{x:F1}\" y=\"{Top + plotH + 20:F1}\" class=\"tick\" text-anchor=\"middle\">{Esc(Short(xv))}</text>\n");
        }

        svg.Append(C, $"<line x1=\"{Left}\" y1=\"{Top}\" x2=\"{Left}\" y2=\"{Top + plotH:F1}\" class=\"axis\"/>\n");
        svg.Append(C, $"<line x1=\"{Left}\" y1=\"{Top + plotH:F1}\" x2=\"{Left + plotW:F1}\" y2=\"{Top + plotH:F1}\" class=\"axis\"/>\n");
        svg.Append(C, $"<text x=\"{Left + (plotW / 2):F1}\" y=\"{Height - 10}\" class=\"label\" text-anchor=\"middle\">{Esc(xLabel)}</text>\n");
        svg.Append(C, $"<text x=\"16\" y=\"{Top + (plotH / 2):F1}\" class=\"label\" text-anchor=\"middle\" transform=\"rotate(-90 16 {Top + (plotH / 2):F1})\">{Esc(yLabel)}</text>\n");

        foreach ((double mx, string label) in markers ?? [])
        {
            double x = X(mx);
            svg.Append(C, $"<line x1=\"{x:F1}\" y1=\"{Top}\" x2=\"{x:F1}\" y2=\"{Top + plotH:F1}\" class=\"marker\"><title>{Esc(label)}</title></line>\n");
        }

        for (int s = 0; s < series.Count; s++)
        {
            ChartSeries line = series[s];
            string color = Palette[s % Palette.Length];
            string points = string.Join(" ", line.Points.Select(p => string.Create(C, $"{X(p.X):F1},{Y(p.Y):F1}")));
            svg.Append(C, $"<polyline class=\"series\" data-label=\"{Esc(line.Label)}\" points=\"{points}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2\"{(line.Dashed ? " stroke-dasharray=\"6 4\"" : "")}/>\n");
            if (line.Points.Count <= 64)
            {
                foreach ((double px, double py) in line.Points)
                {
                    svg.Append(C, $"<circle cx=\"{X(px):F1}\" cy=\"{Y(py):F1}\" r=\"3\" fill=\"{color}\"><title>{Esc(line.Label)}: {Esc(Short(px))}, {Esc(Short(py))}</title></circle>\n");
                }
            }

            double ly = Top + 8 + (s * 18);
            svg.Append(C, $"<line x1=\"{Width - Right + 12}\" y1=\"{ly:F1}\" x2=\"{Width - Right + 36}\" y2=\"{ly:F1}\" stroke=\"{color}\" stroke-width=\"2\"{(line.Dashed ? " stroke-dasharray=\"6 4\"" : "")}/>\n");
            svg.Append(C, $"<text x=\"{Width - Right + 42}\" y=\"{ly + 4:F1}\" class=\"legend\">{Esc(line.Label)}</text>\n");
        }

        svg.Append("</svg>\n");
        return svg.ToString();
    }

    private static double NiceCeiling(double v)
    {
        double p = Math.Pow(10, Math.Floor(Math.Log10(v)));
        foreach (double m in (double[])[1, 2, 2.5, 5, 10])
        {
            if (m * p >= v)
            {
                return m * p;
            }
        }

        return 10 * p;
    }

    private static string Short(double v) => Math.Abs(v) switch
    {
        >= 1e9 => (v / 1e9).ToString("0.##", C) + "G",
        >= 1e6 => (v / 1e6).ToString("0.##", C) + "M",
        >= 1e4 => (v / 1e3).ToString("0.#", C) + "k",
        >= 100 => v.ToString("0", C),
        _ => v.ToString("0.##", C),
    };

    /// <summary>Escapes text for HTML/SVG.</summary>
    public static string Esc(string text) => WebUtility.HtmlEncode(text);
}
