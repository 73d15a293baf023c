using System.Diagnostics;
using System.Globalization;
using Tolapai.Xen.Hypervisor;

namespace Tolapai.Xen.Tests;

/// <summary>A host in a fresh run directory under /dev/shm/tolapai-test-*, removed on dispose.</summary>
public sealed class TestRunDirectory : IDisposable
{
    public TestRunDirectory(HostOptions? options = null)
    {
        Path = System.IO.Path.Combine(Host.DefaultRoot, "tolapai-test-" + Guid.NewGuid().ToString("N")[..12]);
        Host = Host.Create(Path, options);
    }

    public string Path { get; }

    public Host Host { get; }

    public void Dispose()
    {
        Host.Dispose();
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>Seeds: TOLAPAI_SEED when set, else random; always printed in failure messages.</summary>
public static class Seeds
{
    public static int Next() =>
        Environment.GetEnvironmentVariable("TOLAPAI_SEED") is { } s ? int.Parse(s, CultureInfo.InvariantCulture) : Random.Shared.Next();

    public static bool Stress => Environment.GetEnvironmentVariable("TOLAPAI_STRESS") == "1";
}

/// <summary>A real child process running Tolapai.Xen.TestChild with one role; killed on dispose if still running.</summary>
public sealed class Child : IDisposable
{
    private readonly Process _process;
    private readonly List<string> _lines = [];
    private readonly SemaphoreSlim _lineArrived = new(0);
    private readonly string _label;

    public Child(params string[] args)
    {
        string dll = System.IO.Path.Combine(AppContext.BaseDirectory, "Tolapai.Xen.TestChild.dll");
        ProcessStartInfo psi = new("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false };
        psi.ArgumentList.Add(dll);
        foreach (string a in args)
        {
            psi.ArgumentList.Add(a);
        }

        psi.Environment["DOTNET_TieredPGO"] = "1";
        _label = string.Join(' ', args);
        _process = Process.Start(psi) ?? throw new InvalidOperationException("could not start child");
        _process.OutputDataReceived += (_, e) => Add(e.Data);
        _process.ErrorDataReceived += (_, e) => Add(e.Data is null ? null : "stderr: " + e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public int Pid => _process.Id;

    public string Output
    {
        get
        {
            lock (_lines)
            {
                return string.Join('\n', _lines);
            }
        }
    }

    /// <summary>Waits for a stdout line starting with <paramref name="prefix"/>; returns its words after the prefix.</summary>
    public string[] WaitFor(string prefix, TimeSpan timeout)
    {
        DateTime until = DateTime.UtcNow + timeout;
        while (true)
        {
            lock (_lines)
            {
                foreach (string l in _lines)
                {
                    if (l.StartsWith(prefix, StringComparison.Ordinal))
                    {
                        return l[prefix.Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
                    }

                    if (l.StartsWith("FAIL", StringComparison.Ordinal))
                    {
                        throw new Xunit.Sdk.XunitException($"child '{_label}' failed:\n{Output}");
                    }
                }
            }

            TimeSpan left = until - DateTime.UtcNow;
            if (left <= TimeSpan.Zero || (_process.HasExited && !_lineArrived.Wait(200)))
            {
                throw new Xunit.Sdk.XunitException($"child '{_label}' gave no '{prefix}' line in {timeout} (exited: {_process.HasExited}):\n{Output}");
            }

            _lineArrived.Wait(left < TimeSpan.FromMilliseconds(100) ? left : TimeSpan.FromMilliseconds(100));
        }
    }

    /// <summary>Waits for exit; returns the exit code. Kills and fails on timeout.</summary>
    public int Exit(TimeSpan timeout)
    {
        if (!_process.WaitForExit(timeout))
        {
            _process.Kill(entireProcessTree: true);
            throw new Xunit.Sdk.XunitException($"child '{_label}' did not finish in {timeout}:\n{Output}");
        }

        _process.WaitForExit();
        return _process.ExitCode;
    }

    /// <summary>Closes the child's stdin (the hostile role's stop signal).</summary>
    public void CloseInput() => _process.StandardInput.Close();

    /// <summary>SIGKILL.</summary>
    public void Kill()
    {
        _process.Kill(entireProcessTree: false);
        _process.WaitForExit();
    }

    /// <summary>Parses "key=value" words from a DONE line.</summary>
    public static long Value(string[] words, string key)
    {
        foreach (string w in words)
        {
            if (w.StartsWith(key + "=", StringComparison.Ordinal))
            {
                return long.Parse(w[(key.Length + 1)..], CultureInfo.InvariantCulture);
            }
        }

        throw new Xunit.Sdk.XunitException($"no {key}= in '{string.Join(' ', words)}'");
    }

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                _process.WaitForExit(5000);
            }
        }
        catch (InvalidOperationException)
        {
        }

        _process.Dispose();
        _lineArrived.Dispose();
    }

    private void Add(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_lines)
        {
            _lines.Add(line);
        }

        _lineArrived.Release();
    }
}
