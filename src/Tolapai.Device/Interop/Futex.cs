using System.Runtime.InteropServices;

namespace Tolapai.Device.Interop;

/// <summary>
/// Linux futex(2) through syscall(2). The word lives in a MAP_SHARED file mapping, so the
/// operations are the shared (not FUTEX_PRIVATE_FLAG) ones: the kernel keys the wait queue by
/// inode and offset, which is what makes a wake-up cross processes.
/// </summary>
internal static unsafe partial class Futex
{
    private const long SysFutex = 202; // x86-64
    private const int FutexWait = 0;
    private const int FutexWake = 1;
    private const int EAgain = 11;
    private const int ETimedOut = 110;
    private const int EIntr = 4;

    [StructLayout(LayoutKind.Sequential)]
    private struct Timespec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true)]
    private static partial long Syscall6(long number, uint* address, int op, uint value, Timespec* timeout, uint* address2, uint value3);

    /// <summary>
    /// Sleeps while <c>*word == expected</c>. The kernel compares and sleeps atomically with
    /// respect to <see cref="Wake"/>, so a wake after the caller's last check is never lost.
    /// </summary>
    /// <returns>0 when woken or the word had changed, <see cref="ETimedOut"/> on timeout, other errno on failure.</returns>
    public static int Wait(uint* word, uint expected, TimeSpan timeout)
    {
        Timespec ts;
        Timespec* tsp = null;
        if (timeout != Timeout.InfiniteTimeSpan)
        {
            long ticks = Math.Max(0, timeout.Ticks);
            ts.Seconds = ticks / TimeSpan.TicksPerSecond;
            ts.Nanoseconds = ticks % TimeSpan.TicksPerSecond * 100;
            tsp = &ts;
        }

        long rc = Syscall6(SysFutex, word, FutexWait, expected, tsp, null, 0);
        if (rc == 0)
        {
            return 0;
        }

        int errno = Marshal.GetLastPInvokeError();
        return errno is EAgain or EIntr ? 0 : errno;
    }

    /// <summary>Wakes up to <paramref name="count"/> waiters parked on <paramref name="word"/>.</summary>
    /// <returns>The number woken, or −errno.</returns>
    public static int Wake(uint* word, int count)
    {
        long rc = Syscall6(SysFutex, word, FutexWake, (uint)count, null, null, 0);
        return rc >= 0 ? (int)rc : -Marshal.GetLastPInvokeError();
    }

    /// <summary>errno for a timed-out wait.</summary>
    public const int TimedOut = ETimedOut;
}
