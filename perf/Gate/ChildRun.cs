using System.Diagnostics;

namespace Tolapai.Perf.Gate;

/// <summary>Runs a measurement in a child process and waits for it: the gate's scenarios that need their own processes.</summary>
internal static class ChildRun
{
    /// <summary>
    /// Runs <paramref name="fileName"/> with <paramref name="arguments"/>, discarding its output;
    /// a child that does not finish within <paramref name="timeout"/> is killed, and a failure
    /// is an <see cref="InvalidOperationException"/> with its stderr, named <paramref name="what"/>.
    /// <paramref name="environment"/> (may be null) is set in the child on top of this process's.
    /// </summary>
    public static void Run(string what, string fileName, IEnumerable<string> arguments, TimeSpan timeout, IReadOnlyDictionary<string, string>? environment = null)
    {
        var psi = new ProcessStartInfo(fileName) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in arguments)
        {
            psi.ArgumentList.Add(a);
        }

        foreach ((string name, string value) in environment ?? new Dictionary<string, string>())
        {
            psi.Environment[name] = value;
        }

        using Process p = Process.Start(psi) ?? throw new InvalidOperationException($"cannot start {what}");
        Task<string> stderr = p.StandardError.ReadToEndAsync();
        _ = p.StandardOutput.ReadToEnd();
        if (!p.WaitForExit(timeout))
        {
            p.Kill(entireProcessTree: true);
            throw new InvalidOperationException($"{what} did not finish in {timeout.TotalMinutes:0} minutes");
        }

        if (p.ExitCode != 0)
        {
            throw new InvalidOperationException($"{what} exited {p.ExitCode}: {stderr.Result.Trim()}");
        }
    }
}
