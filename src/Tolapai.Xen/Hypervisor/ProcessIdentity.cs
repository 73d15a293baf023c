using System.Globalization;

namespace Tolapai.Xen.Hypervisor;

/// <summary>
/// Names a process by pid and start time, which Linux keeps in /proc/&lt;pid&gt;/stat. A pid
/// alone is not enough: after a process dies its pid can be given to an unrelated one.
/// </summary>
public static class ProcessIdentity
{
    /// <summary>The start time (field 22 of /proc/pid/stat) of <paramref name="pid"/>, or null if there is no such process.</summary>
    public static ulong? StartTime(int pid)
    {
        string text;
        try
        {
            text = File.ReadAllText($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/stat");
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }

        return ParseStartTime(text);
    }

    /// <summary>
    /// Parses field 22 of a /proc/pid/stat line. The command name (field 2) is in parentheses
    /// and may itself hold spaces and parentheses, so fields are counted after the LAST ')'.
    /// A zombie (state Z or X) counts as gone.
    /// </summary>
    public static ulong? ParseStartTime(string stat)
    {
        int close = stat.LastIndexOf(')');
        if (close < 0)
        {
            return null;
        }

        string[] fields = stat[(close + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        // fields[0] is field 3 (state); field 22 is fields[19].
        if (fields.Length < 20 || fields[0] is "Z" or "X" or "x")
        {
            return null;
        }

        return ulong.TryParse(fields[19], NumberStyles.None, CultureInfo.InvariantCulture, out ulong start) ? start : null;
    }

    /// <summary>This process's pid and start time.</summary>
    public static (int Pid, ulong StartTime) Current()
    {
        int pid = Environment.ProcessId;
        return (pid, StartTime(pid) ?? 0);
    }

    /// <summary>True when the process <paramref name="pid"/> exists and started at <paramref name="startTime"/>.</summary>
    public static bool IsAlive(int pid, ulong startTime) => pid > 0 && StartTime(pid) == startTime;
}
