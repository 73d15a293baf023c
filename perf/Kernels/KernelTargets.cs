namespace Tolapai.Perf.Kernels;

/// <summary>
/// The targets, each a ratio of two rows of the same run: DES and 3DES shapes (a) and
/// (b, 64 streams or more) at least 20× BouncyCastle CBC of the same cipher; shape (c) at
/// least 1.2×; our rows allocate nothing. They are checked on the kernel Auto picks.
/// </summary>
public static class KernelTargets
{
    /// <summary>Required ratio for the parallel shapes (a) and (b).</summary>
    public const double ParallelRatio = 20;

    /// <summary>Required ratio for the serial shape (c).</summary>
    public const double SerialRatio = 1.2;

    private static readonly (string Work, string Text, double Required)[] Checks =
    [
        ("a-ecb", "(a) ECB", ParallelRatio),
        ("a-ctr", "(a) CTR", ParallelRatio),
        ("a-cbc-decrypt", "(a) CBC-decrypt", ParallelRatio),
        ("b-batch-64", "(b) 64 streams", ParallelRatio),
        ("b-batch-512", "(b) 512 streams", ParallelRatio),
        ("c-cbc-encrypt", "(c) CBC-encrypt", SerialRatio),
    ];

    /// <summary>Checks every target for <paramref name="cipher"/> on <paramref name="kernel"/>.</summary>
    public static IEnumerable<TargetResult> Evaluate(IReadOnlyList<WorkloadResult> results, string cipher, Tolapai.Kernels.Des.DesKernel kernel)
    {
        ArgumentNullException.ThrowIfNull(results);
        string against = KernelWorkloads.BouncyCbcId(cipher);
        string engine = cipher == "des" ? "DesEngine" : "DesEdeEngine";
        foreach ((string work, string text, double required) in Checks)
        {
            string id = KernelWorkloads.OursId(cipher, kernel, work);
            WorkloadResult? row = results.FirstOrDefault(r => r.Id == id);
            if (row is null)
            {
                continue;
            }

            yield return new TargetResult(
                $"{cipher} {text} >= {required:0.0#}x BouncyCastle {engine} CBC",
                cipher,
                kernel.ToString(),
                id,
                against,
                row.VsBouncyCastleCbc,
                required,
                row.VsBouncyCastleCbc >= required);
        }
    }

    /// <summary>The zero-allocation check over our rows.</summary>
    public static AllocationCheck Allocation(IReadOnlyList<WorkloadResult> results)
    {
        ArgumentNullException.ThrowIfNull(results);
        WorkloadResult? worst = results
            .Where(r => r.Implementation == Implementations.Tolapai)
            .OrderByDescending(r => r.AllocatedBytesPerOp)
            .FirstOrDefault();
        double max = worst?.AllocatedBytesPerOp ?? 0;
        return new AllocationCheck(max, max > 0 ? worst!.Id : null, max == 0);
    }
}
