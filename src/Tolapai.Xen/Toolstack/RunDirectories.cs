using Tolapai.Xen.Hypervisor;
using Tolapai.Xen.XenStore;

namespace Tolapai.Xen.Toolstack;

/// <summary>
/// Where a host lives and the files the dom0 and the toolstack keep in its run directory
/// (besides the hypervisor region, the guests' memory files and the xenstored socket).
/// </summary>
public static class RunDirectories
{
    /// <summary>Environment variable that overrides the default run directory.</summary>
    public const string EnvironmentVariable = "TOLAPAI_RUN_DIR";

    /// <summary>Held (flock, exclusive) by the dom0 for its whole life.</summary>
    public const string Dom0LockFileName = "dom0.lock";

    /// <summary>"pid start-time" of the dom0, for messages.</summary>
    public const string Dom0PidFileName = "dom0.pid";

    /// <summary>Held while a toolstack builds or tears down a domain, so two never pick the same domid.</summary>
    public const string ToolstackLockFileName = "toolstack.lock";

    /// <summary>The default run directory: <c>/dev/shm/tolapai/host0</c> (or under the temp directory without /dev/shm).</summary>
    public static string Default => Path.Combine(Host.DefaultRoot, "tolapai", "host0");

    /// <summary><paramref name="explicitDirectory"/> if given, else <c>$TOLAPAI_RUN_DIR</c>, else <see cref="Default"/>; made absolute.</summary>
    public static string Resolve(string? explicitDirectory) =>
        Path.GetFullPath(explicitDirectory is { Length: > 0 } d ? d
            : Environment.GetEnvironmentVariable(EnvironmentVariable) is { Length: > 0 } e ? e
            : Default);

    /// <summary>The dom0 lock file of a run directory.</summary>
    public static string Dom0LockPath(string runDirectory) => Path.Combine(runDirectory, Dom0LockFileName);

    /// <summary>The dom0 pid file of a run directory.</summary>
    public static string Dom0PidPath(string runDirectory) => Path.Combine(runDirectory, Dom0PidFileName);

    /// <summary>The toolstack lock file of a run directory.</summary>
    public static string ToolstackLockPath(string runDirectory) => Path.Combine(runDirectory, ToolstackLockFileName);

    /// <summary>The console log of a guest (its stdout and stderr), as Xen keeps /var/log/xen/ logs.</summary>
    public static string GuestLogPath(string runDirectory, ushort domid) => Path.Combine(runDirectory, $"dom{domid}.log");

    /// <summary>True while a dom0 holds the run directory.</summary>
    public static bool IsDom0Running(string runDirectory) => FileLock.IsHeld(Dom0LockPath(runDirectory));

    /// <summary>The pid the dom0 pid file names, or null.</summary>
    public static int? ReadDom0Pid(string runDirectory)
    {
        try
        {
            string[] parts = File.ReadAllText(Dom0PidPath(runDirectory)).Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            return parts.Length > 0 && int.TryParse(parts[0], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int pid) ? pid : null;
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>The files a host puts in its run directory (not the directory's other content).</summary>
    internal static IEnumerable<string> HostFiles(string runDirectory)
    {
        yield return Path.Combine(runDirectory, Host.RegionFileName);
        yield return Path.Combine(runDirectory, Host.RegionFileName + ".new");
        foreach (string pattern in new[] { "dom*.mem", "dom*.log", "dom*.cfg", "dom*.migrate.lock" })
        {
            if (!Directory.Exists(runDirectory))
                yield break;
            foreach (string f in Directory.EnumerateFiles(runDirectory, pattern))
            {
                string name = Path.GetFileName(f);
                string digits = name[3..name.IndexOf('.', StringComparison.Ordinal)];
                if (digits.Length > 0 && digits.All(char.IsAsciiDigit))
                    yield return f;
            }
        }
        yield return XenStoreDaemon.SocketPathFor(runDirectory);
        yield return ToolstackLockPath(runDirectory);
        yield return Dom0PidPath(runDirectory);
    }
}
