namespace Tolapai.Perf.Kernels;

/// <summary>
/// One thing to time: a call that processes <see cref="BytesPerOp"/> bytes. The call is a
/// delegate made once, so invoking it allocates nothing of its own; whatever it allocates is the
/// code under test's.
/// </summary>
/// <param name="Id">Stable name for JSON and baselines, e.g. <c>des.scalar.a-ecb</c>.</param>
/// <param name="Cipher"><c>des</c> or <c>3des</c>.</param>
/// <param name="Implementation"><c>bouncycastle</c>, <c>dotnet</c>, <c>reference</c> or <c>tolapai</c>.</param>
/// <param name="Shape"><c>a</c>, <c>b</c>, <c>c</c> for our kernels; empty for the yardsticks.</param>
/// <param name="Label">What the table prints.</param>
/// <param name="Kernel">Our kernel, or null for the yardsticks.</param>
/// <param name="BytesPerOp">Bytes one call processes.</param>
/// <param name="BudgetScale">Fraction of the time budget this workload gets (the FIPS reference is slow and only a yardstick).</param>
/// <param name="Op">The call.</param>
public sealed record Workload(
    string Id,
    string Cipher,
    string Implementation,
    string Shape,
    string Label,
    string? Kernel,
    long BytesPerOp,
    double BudgetScale,
    Action Op)
{
    /// <summary>True for the library's own paths, whose allocation target is 0 B per call.</summary>
    public bool IsOurs => Implementation == Implementations.Tolapai;
}

/// <summary>The implementation names used in ids and JSON.</summary>
public static class Implementations
{
    /// <summary>BouncyCastle's DesEngine/DesEdeEngine.</summary>
    public const string BouncyCastle = "bouncycastle";

    /// <summary>System.Security.Cryptography (OpenSSL on Linux).</summary>
    public const string DotNet = "dotnet";

    /// <summary>The bit-level FIPS reference, <c>DesReference</c>.</summary>
    public const string Reference = "reference";

    /// <summary>Tolapai.Kernels.</summary>
    public const string Tolapai = "tolapai";
}
