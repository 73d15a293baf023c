namespace Tolapai.Perf.Gate;

/// <summary>
/// The Mann–Whitney U test (Wilcoxon rank-sum), two-sided: do two sets of repetitions come from
/// the same distribution? It assumes nothing about the shape of the noise, which on a shared
/// machine is anything but normal (BenchmarkDotNet's statistical test uses it for the same reason).
/// Small samples without ties get the exact distribution of U; otherwise the normal approximation
/// with the tie correction and a continuity correction.
/// </summary>
public static class MannWhitney
{
    /// <summary>Largest sample size for which the exact distribution is counted.</summary>
    public const int ExactLimit = 30;

    /// <summary>U of <paramref name="x"/> over <paramref name="y"/>: pairs where x wins, ties counting one half.</summary>
    public static double U(IReadOnlyList<double> x, IReadOnlyList<double> y)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(y);
        double u = 0;
        foreach (double a in x)
        {
            foreach (double b in y)
            {
                u += a > b ? 1 : a == b ? 0.5 : 0;
            }
        }

        return u;
    }

    /// <summary>The two-sided p-value for "x and y come from the same distribution". 1 when either sample is empty.</summary>
    public static double TwoSidedP(IReadOnlyList<double> x, IReadOnlyList<double> y)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(y);
        int n1 = x.Count, n2 = y.Count;
        if (n1 == 0 || n2 == 0)
        {
            return 1;
        }

        double u = U(x, y);
        bool ties = x.Concat(y).Distinct().Count() < n1 + n2;
        return !ties && n1 <= ExactLimit && n2 <= ExactLimit ? Exact(u, n1, n2) : Normal(u, x, y);
    }

    private static double Exact(double u, int n1, int n2)
    {
        // counts[k] = number of arrangements of n1 x's and n2 y's with U = k, built up one sample
        // at a time: f(i, j, k) = f(i - 1, j, k - j) + f(i, j - 1, k).
        int max = n1 * n2;
        var f = new double[n1 + 1, n2 + 1][];
        for (int i = 0; i <= n1; i++)
        {
            for (int j = 0; j <= n2; j++)
            {
                var row = new double[(i * j) + 1];
                if (i == 0 || j == 0)
                {
                    row[0] = 1;
                }
                else
                {
                    double[] left = f[i - 1, j], down = f[i, j - 1];
                    for (int k = 0; k < row.Length; k++)
                    {
                        row[k] = (k - j >= 0 && k - j < left.Length ? left[k - j] : 0) + (k < down.Length ? down[k] : 0);
                    }
                }

                f[i, j] = row;
            }
        }

        double[] counts = f[n1, n2];
        double total = counts.Sum();
        int observed = (int)Math.Round(u);
        double lower = 0, upper = 0;
        for (int k = 0; k <= max; k++)
        {
            if (k <= observed)
            {
                lower += counts[k];
            }

            if (k >= observed)
            {
                upper += counts[k];
            }
        }

        return Math.Min(1, 2 * Math.Min(lower, upper) / total);
    }

    private static double Normal(double u, IReadOnlyList<double> x, IReadOnlyList<double> y)
    {
        int n1 = x.Count, n2 = y.Count, n = n1 + n2;
        double mean = n1 * n2 / 2.0;
        double tieTerm = x.Concat(y).GroupBy(v => v).Select(g => (double)g.Count()).Sum(t => (t * t * t) - t);
        double variance = n1 * n2 / 12.0 * ((n + 1) - (tieTerm / (n * (double)(n - 1))));
        if (variance <= 0)
        {
            return 1; // every value equal: nothing tells the samples apart
        }

        double z = (Math.Abs(u - mean) - 0.5) / Math.Sqrt(variance);
        return Math.Min(1, 2 * (1 - StandardNormalCdf(Math.Max(0, z))));
    }

    /// <summary>Φ(z), the standard normal distribution function, from erfc.</summary>
    public static double StandardNormalCdf(double z) => 0.5 * Erfc(-z / Math.Sqrt(2));

    // Numerical Recipes' erfc (Chebyshev fit), relative error below 1.2e-7 everywhere.
    private static double Erfc(double x)
    {
        double z = Math.Abs(x);
        double t = 1 / (1 + (0.5 * z));
        double r = t * Math.Exp(-(z * z) - 1.26551223 + (t * (1.00002368 + (t * (0.37409196 + (t * (0.09678418 + (t * (-0.18628806 + (t * (0.27886807
            + (t * (-1.13520398 + (t * (1.48851587 + (t * (-0.82215223 + (t * 0.17087277))))))))))))))))));
        return x >= 0 ? r : 2 - r;
    }
}
