using System.Runtime.InteropServices;
using Tolapai.Xen.Hypervisor;

namespace Tolapai.Xen.Toolstack;

/// <summary>kill(2) for processes that are not this process's children, checked by pid and start time first.</summary>
public static partial class Signals
{
    /// <summary>SIGKILL.</summary>
    public const int SigKill = 9;

    /// <summary>SIGTERM.</summary>
    public const int SigTerm = 15;

    /// <summary>
    /// Sends <paramref name="signal"/> to <paramref name="pid"/> if it is still the process that
    /// started at <paramref name="startTime"/> (a reused pid is left alone). True when sent.
    /// </summary>
    public static bool Send(int pid, ulong startTime, int signal) =>
        ProcessIdentity.IsAlive(pid, startTime) && Kill(pid, signal) == 0;

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);
}
