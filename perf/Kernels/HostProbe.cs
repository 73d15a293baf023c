using System.Collections;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Tolapai.Perf.Kernels;

/// <summary>What the kernels can use on this machine, as the JIT sees it after any DOTNET_Enable* settings.</summary>
public static class HostProbe
{
    /// <summary>Describes the runtime, CPU features and DOTNET_Enable* variables.</summary>
    public static HostInfo Describe() => new(
        RuntimeInformation.FrameworkDescription,
        RuntimeInformation.OSDescription,
        RuntimeInformation.ProcessArchitecture.ToString(),
        Environment.ProcessorCount,
        InstructionSets(),
        EnableVariables());

    /// <summary>IsSupported of the instruction sets the DES kernels are built on, and the vector widths accelerated.</summary>
    public static Dictionary<string, bool> InstructionSets() => new(StringComparer.Ordinal)
    {
        ["Avx512F"] = Avx512F.IsSupported,
        ["Avx512Vbmi"] = Avx512Vbmi.IsSupported,
        ["Gfni"] = Gfni.IsSupported,
        ["Avx2"] = Avx2.IsSupported,
        ["Ssse3"] = Ssse3.IsSupported,
        ["Vector512"] = Vector512.IsHardwareAccelerated,
        ["Vector256"] = Vector256.IsHardwareAccelerated,
        ["Vector128"] = Vector128.IsHardwareAccelerated,
    };

    /// <summary>Every DOTNET_Enable* environment variable that is set (they switch instruction sets off).</summary>
    public static Dictionary<string, string> EnableVariables()
    {
        var found = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (DictionaryEntry entry in Environment.GetEnvironmentVariables())
        {
            if (entry.Key is string name && name.StartsWith("DOTNET_Enable", StringComparison.OrdinalIgnoreCase))
            {
                found[name] = entry.Value as string ?? "";
            }
        }

        return new Dictionary<string, string>(found, StringComparer.Ordinal);
    }
}
