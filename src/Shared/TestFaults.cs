// Compiled into each assembly that has a fault point (linked by Directory.Build.props), so the
// knob stays internal to each and no product assembly depends on another for it.
using System.Diagnostics;
using System.Globalization;

namespace Tolapai.Faults;

/// <summary>
/// Faults a test injects into a real run to show that a check or a gate can fail: a slower kernel,
/// engine or backend, or a backend that copies payload or allocates per request. Read once, at first use, from
/// <c>TOLAPAI_TEST_FAULTS</c>, a comma-separated list of <c>name</c> or <c>name=factor</c>
/// (<c>slow-scalar-kernel=2,copy-backend</c>). Unset in every real run: each fault is a
/// <c>static readonly</c> field, so the tiered JIT folds its check away.
/// </summary>
/// <remarks>
/// A slow-down factor F makes the faulted step take F times as long by burning, after the real
/// work, F − 1 times the time the work took, on the same thread. Results stay correct: a gate
/// must see the regression in the time, not in the bytes.
/// </remarks>
internal static class TestFaults
{
    /// <summary>The environment variable the faults are read from.</summary>
    public const string Variable = "TOLAPAI_TEST_FAULTS";

    /// <summary>The names this build knows.</summary>
    public static readonly string[] Names = ["slow-scalar-kernel", "slow-simd-kernel", "slow-engine", "slow-backend", "copy-backend", "alloc-backend"];

    /// <summary>Slow-down factor of the scalar DES kernel (1 = off).</summary>
    public static readonly double SlowScalarKernel = Factor("slow-scalar-kernel");

    /// <summary>Slow-down factor of every SIMD DES kernel (1 = off).</summary>
    public static readonly double SlowSimdKernel = Factor("slow-simd-kernel");

    /// <summary>Slow-down factor of the device engine's batch execution (1 = off).</summary>
    public static readonly double SlowEngine = Factor("slow-engine");

    /// <summary>Slow-down factor of the ixp backend's per-request work (1 = off).</summary>
    public static readonly double SlowBackend = Factor("slow-backend");

    /// <summary>The ixp backend stages each request's payload through a buffer of its own (a copy in and a copy out), and counts it.</summary>
    public static readonly bool CopyBackend = Factor("copy-backend") != 1;

    /// <summary>The ixp backend allocates one small object per response on its worker thread, so an allocation check has something to catch.</summary>
    public static readonly bool AllocBackend = Factor("alloc-backend") != 1;

    /// <summary>True when any fault is set.</summary>
    public static readonly bool Any = Environment.GetEnvironmentVariable(Variable) is { Length: > 0 };

    static TestFaults()
    {
        string? spec = Environment.GetEnvironmentVariable(Variable);
        foreach (string part in (spec ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            string key = part.Split('=', 2)[0];
            if (Array.IndexOf(Names, key) < 0)
            {
                Console.Error.WriteLine($"tolapai: {Variable}: unknown fault '{key}' ignored (known: {string.Join(", ", Names)})");
            }
        }
    }

    /// <summary>After work that began at <paramref name="startTimestamp"/> (<see cref="Stopwatch.GetTimestamp"/>), burns <paramref name="factor"/> − 1 times its duration.</summary>
    public static void Burn(long startTimestamp, double factor)
    {
        long took = Stopwatch.GetTimestamp() - startTimestamp;
        long until = Stopwatch.GetTimestamp() + (long)(took * (factor - 1));
        while (Stopwatch.GetTimestamp() < until)
        {
            // Busy on purpose: the fault must cost CPU time on this thread, as slower code would.
        }
    }

    private static double Factor(string name)
    {
        string? spec = Environment.GetEnvironmentVariable(Variable);
        if (string.IsNullOrEmpty(spec))
        {
            return 1;
        }

        foreach (string part in spec.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            int eq = part.IndexOf('=', StringComparison.Ordinal);
            string key = eq < 0 ? part : part[..eq];
            if (!key.Equals(name, StringComparison.Ordinal))
            {
                continue;
            }

            if (eq < 0)
            {
                return 2;
            }

            if (double.TryParse(part.AsSpan(eq + 1), NumberStyles.Float, CultureInfo.InvariantCulture, out double f) && f >= 1 && f <= 1000)
            {
                return f;
            }

            Console.Error.WriteLine($"tolapai: {Variable}: '{part}' needs a factor from 1 to 1000; fault '{name}' left off");
            return 1;
        }

        return 1;
    }
}
