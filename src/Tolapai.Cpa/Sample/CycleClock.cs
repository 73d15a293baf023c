using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Tolapai.Cpa.Sample;

/// <summary>
/// The CPU timestamp counter, read with <c>rdtsc</c> from a ten-byte stub in an executable
/// page (.NET has no rdtsc intrinsic). Where the page cannot be made (not x86-64, or W^X
/// enforced) it falls back to <see cref="Stopwatch"/> ticks scaled to the calibrated TSC rate
/// of nothing — i.e. nanoseconds — and says so in <see cref="Source"/>.
/// </summary>
public static unsafe partial class CycleClock
{
    private static readonly delegate* unmanaged<ulong> s_rdtsc = MakeRdtsc();

    /// <summary>"rdtsc" or "stopwatch-ns".</summary>
    public static string Source => s_rdtsc != null ? "rdtsc" : "stopwatch-ns";

    /// <summary>True when <see cref="Read"/> is the TSC.</summary>
    public static bool IsTsc => s_rdtsc != null;

    /// <summary>Reads the counter (TSC cycles, or nanoseconds in the fallback).</summary>
    public static ulong Read() => s_rdtsc != null ? s_rdtsc() : (ulong)(Stopwatch.GetTimestamp() * (1e9 / Stopwatch.Frequency));

    /// <summary>Counter ticks per second, measured against <see cref="Stopwatch"/> over ~20 ms.</summary>
    public static double MeasureHz()
    {
        long s0 = Stopwatch.GetTimestamp();
        ulong c0 = Read();
        while (Stopwatch.GetElapsedTime(s0).TotalMilliseconds < 20)
        {
            Thread.SpinWait(100);
        }

        ulong c1 = Read();
        double seconds = Stopwatch.GetElapsedTime(s0).TotalSeconds;
        return (c1 - c0) / seconds;
    }

    private static delegate* unmanaged<ulong> MakeRdtsc()
    {
        if (RuntimeInformation.ProcessArchitecture != Architecture.X64 || !OperatingSystem.IsLinux())
        {
            return null;
        }

        const int ProtRead = 1, ProtWrite = 2, ProtExec = 4, MapPrivate = 2, MapAnonymous = 0x20;
        byte* page = (byte*)Mmap(null, 4096, ProtRead | ProtWrite, MapPrivate | MapAnonymous, -1, 0);
        if (page == null || page == (byte*)-1)
        {
            return null;
        }

        // rdtsc; shl rdx, 32; or rax, rdx; ret
        ReadOnlySpan<byte> code = [0x0F, 0x31, 0x48, 0xC1, 0xE2, 0x20, 0x48, 0x09, 0xD0, 0xC3];
        code.CopyTo(new Span<byte>(page, code.Length));
        if (Mprotect(page, 4096, ProtRead | ProtExec) != 0)
        {
            return null;
        }

        return (delegate* unmanaged<ulong>)page;
    }

    [LibraryImport("libc", EntryPoint = "mmap")]
    private static partial void* Mmap(void* addr, nuint length, int prot, int flags, int fd, nint offset);

    [LibraryImport("libc", EntryPoint = "mprotect")]
    private static partial int Mprotect(void* addr, nuint length, int prot);
}
