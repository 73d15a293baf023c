namespace Tolapai.Perf.Gate;

/// <summary>A source of gated metrics: one scenario of the matrix, measured <c>repetitions</c> times.</summary>
public interface IGateProbe
{
    /// <summary>Short name for progress lines.</summary>
    string Name { get; }

    /// <summary>
    /// Measures and returns the samples of each metric (one per repetition). A probe that cannot
    /// measure a metric on this machine (a kernel the CPU lacks) leaves it out.
    /// </summary>
    IReadOnlyList<MetricResult> Measure(int repetitions, bool quick, Action<string>? progress);
}
