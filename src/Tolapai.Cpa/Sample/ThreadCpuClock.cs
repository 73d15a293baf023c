using System.Runtime.InteropServices;

namespace Tolapai.Cpa.Sample;

/// <summary>
/// CPU time of the calling thread (Linux <c>CLOCK_THREAD_CPUTIME_ID</c>). On a machine shared
/// with other work, wall time also counts the moments this thread waited for a core; its own CPU
/// time does not, so rates and ratios taken from it move much less with a neighbour's load.
/// </summary>
public static partial class ThreadCpuClock
{
    // <time.h>: CLOCK_THREAD_CPUTIME_ID.
    private const int ClockThreadCpuTimeId = 3;

    /// <summary>True when the thread CPU clock can be read here (Linux x64/arm64).</summary>
    public static bool IsAvailable { get; } = Probe();

    /// <summary>The calling thread's CPU time in nanoseconds; only meaningful when <see cref="IsAvailable"/>.</summary>
    public static long NowNanoseconds() => ClockGetTime(ClockThreadCpuTimeId, out Timespec now) == 0 ? (now.Seconds * 1_000_000_000) + now.Nanoseconds : 0;

    private static bool Probe()
    {
        if (!OperatingSystem.IsLinux() || !Environment.Is64BitProcess)
        {
            return false;
        }

        try
        {
            return ClockGetTime(ClockThreadCpuTimeId, out _) == 0;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return false;
        }
    }

    // struct timespec on 64-bit Linux: two 64-bit fields.
    [StructLayout(LayoutKind.Sequential)]
    private struct Timespec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [LibraryImport("libc", EntryPoint = "clock_gettime")]
    private static partial int ClockGetTime(int clockId, out Timespec time);
}
