using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Tolapai.Kernels.Des;

namespace Tolapai.Kernels.Tests;

/// <summary>
/// The kernel dispatch follows what the runtime reports, and an instruction-set switch
/// (<c>DOTNET_EnableAVX512=0</c> and friends) really turned the feature off in this process.
/// <c>.ci/run</c> reruns this project under each switch with <c>TOLAPAI_EXPECT_UNSUPPORTED</c>
/// naming what must now be off, so a switch the runtime ignores (a renamed knob, as
/// <c>DOTNET_EnableAVX512F</c> was) fails the run instead of testing the wide paths twice.
/// </summary>
public class InstructionSetSwitchTests
{
    /// <summary>The environment variable: a comma-separated list of <see cref="Features"/> names that must report unsupported.</summary>
    public const string ExpectUnsupportedVariable = "TOLAPAI_EXPECT_UNSUPPORTED";

    /// <summary>What each name covers: every flag listed must be false when the name is expected unsupported.</summary>
    private static readonly Dictionary<string, Func<(string Flag, bool On)[]>> Features = new(StringComparer.Ordinal)
    {
        ["Gfni"] = () => [("Gfni.IsSupported", Gfni.IsSupported), ("MergeRounds.IsSupported", Des.Vector.MergeRounds.IsSupported)],
        ["Avx512F"] = () =>
        [
            ("Avx512F.IsSupported", Avx512F.IsSupported),
            ("Avx512BW.IsSupported", Avx512BW.IsSupported),
            ("Avx512Vbmi.IsSupported", Avx512Vbmi.IsSupported),
            ("Vector512.IsHardwareAccelerated", Vector512.IsHardwareAccelerated),
            ("DesCipher.IsSupported(Vector512)", DesCipher.IsSupported(DesKernel.Vector512)),
        ],
        ["Avx2"] = () =>
        [
            ("Avx2.IsSupported", Avx2.IsSupported),
            ("Vector256.IsHardwareAccelerated", Vector256.IsHardwareAccelerated),
            ("DesCipher.IsSupported(Vector256)", DesCipher.IsSupported(DesKernel.Vector256)),
        ],
        ["HWIntrinsic"] = () =>
        [
            ("Sse2.IsSupported", Sse2.IsSupported),
            ("Ssse3.IsSupported", Ssse3.IsSupported),
            ("Vector128.IsHardwareAccelerated", Vector128.IsHardwareAccelerated),
            ("DesCipher.IsSupported(Vector128)", DesCipher.IsSupported(DesKernel.Vector128)),
            ("DesCipher.IsSupported(Vector256)", DesCipher.IsSupported(DesKernel.Vector256)),
            ("DesCipher.IsSupported(Vector512)", DesCipher.IsSupported(DesKernel.Vector512)),
        ],
    };

    [Fact]
    public void The_kernel_dispatch_matches_what_the_runtime_reports()
    {
        Assert.Equal(Avx512F.IsSupported && Avx512BW.IsSupported && Avx512Vbmi.IsSupported, DesCipher.IsSupported(DesKernel.Vector512));
        Assert.Equal(Avx2.IsSupported, DesCipher.IsSupported(DesKernel.Vector256));
        Assert.Equal(Sse41.IsSupported && Ssse3.IsSupported, DesCipher.IsSupported(DesKernel.Vector128));
        DesKernel expected = DesCipher.IsSupported(DesKernel.Vector512) ? DesKernel.Vector512
            : DesCipher.IsSupported(DesKernel.Vector256) ? DesKernel.Vector256
            : DesCipher.IsSupported(DesKernel.Vector128) ? DesKernel.Vector128
            : DesKernel.Scalar;
        Assert.Equal(expected, DesCipher.Best);

        // A narrower switch never leaves a wider feature on (the runtime disables what depends on it).
        if (!Avx2.IsSupported)
        {
            Assert.False(Avx512F.IsSupported, "AVX2 is off but AVX-512F reports supported");
        }

        if (!Sse2.IsSupported)
        {
            Assert.False(Avx2.IsSupported, "SSE2 is off but AVX2 reports supported");
        }
    }

    [Fact]
    public void The_instruction_sets_this_run_turned_off_report_unsupported()
    {
        string? expect = Environment.GetEnvironmentVariable(ExpectUnsupportedVariable);
        string[] names = expect is null ? [] : expect.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var on = new List<string>();
        foreach (string name in names)
        {
            Assert.True(Features.TryGetValue(name, out var flags), $"{ExpectUnsupportedVariable}: unknown feature '{name}' (known: {string.Join(", ", Features.Keys)})");
            on.AddRange(flags().Where(f => f.On).Select(f => $"{name}: {f.Flag} is true"));
        }

        Assert.True(on.Count == 0, $"{ExpectUnsupportedVariable}={expect} but the switch did not take effect in this process: {string.Join("; ", on)}");
        if (names.Length == 0)
        {
            // No switch in this run: the widest kernel the CPU has is the one dispatched, and
            // the scalar kernel is always there (the run without switches tests every path).
            Assert.True(DesCipher.IsSupported(DesKernel.Scalar));
            Assert.True(DesCipher.IsSupported(DesCipher.Best));
        }
    }
}
