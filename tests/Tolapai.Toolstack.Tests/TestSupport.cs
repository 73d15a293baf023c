using System.Diagnostics;
using System.Text;
using Tolapai.Xen.Hypervisor;
using Tolapai.Xen.Toolstack;
using Tolapai.Xen.XenStore;

namespace Tolapai.Toolstack.Tests;

/// <summary>What one run of the real <c>tolapai</c> gave back.</summary>
public sealed record CliResult(int ExitCode, string Stdout, string Stderr)
{
    public override string ToString() => $"exit {ExitCode}, stdout: {Stdout} stderr: {Stderr}";
}

/// <summary>Runs the built <c>tolapai.dll</c> with <c>dotnet</c>.</summary>
public static class Cli
{
    public static string DllPath { get; } = Path.Combine(AppContext.BaseDirectory, "tolapai.dll");

    public static string TestChildPath { get; } = Path.Combine(AppContext.BaseDirectory, "Tolapai.XenStore.TestChild.dll");

    public static string Dotnet { get; } = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } h ? h : "dotnet";

    /// <summary>The guest command line for <c>xl create -- ...</c>: <c>tolapai domu</c>.</summary>
    public static string[] Domu => [Dotnet, DllPath, "domu"];

    public static ProcessStartInfo StartInfo(IEnumerable<string> args, string? runDir)
    {
        var psi = new ProcessStartInfo(Dotnet)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        psi.ArgumentList.Add(DllPath);
        foreach (string a in args)
            psi.ArgumentList.Add(a);
        psi.Environment.Remove(RunDirectories.EnvironmentVariable);
        if (runDir is not null)
            psi.Environment[RunDirectories.EnvironmentVariable] = runDir;
        return psi;
    }

    /// <summary>Runs to completion with TOLAPAI_RUN_DIR=<paramref name="runDir"/>.</summary>
    public static async Task<CliResult> RunAsync(string? runDir, params string[] args)
    {
        using Process p = Process.Start(StartInfo(args, runDir))!;
        p.StandardInput.Close();
        Task<string> o = p.StandardOutput.ReadToEndAsync();
        Task<string> e = p.StandardError.ReadToEndAsync();
        try
        {
            await p.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        }
        catch (TimeoutException)
        {
            p.Kill(entireProcessTree: true);
            throw;
        }
        return new CliResult(p.ExitCode, await o, await e);
    }

    /// <summary>Runs and asserts exit 0.</summary>
    public static async Task<CliResult> OkAsync(string? runDir, params string[] args)
    {
        CliResult r = await RunAsync(runDir, args);
        Assert.True(r.ExitCode == 0, $"tolapai {string.Join(' ', args)}: {r}");
        return r;
    }

    /// <summary><c>xl create</c> of a guest; returns its domid.</summary>
    public static async Task<ushort> CreateAsync(string runDir, string[] options, string[] command)
    {
        CliResult r = await OkAsync(runDir, ["xl", "create", .. options, "--", .. command]);
        return ushort.Parse(r.Stdout.Trim(), System.Globalization.CultureInfo.InvariantCulture);
    }
}

/// <summary>A <c>tolapai dom0</c> process on a fresh run directory under /dev/shm; everything it and its guests left is killed and removed on dispose.</summary>
public sealed class Dom0Process : IAsyncDisposable
{
    private readonly Process _p;
    private readonly StringBuilder _stderr = new();
    private readonly Task _errPump;
    private readonly StringBuilder _stdout = new();

    private Dom0Process(string runDir, Process p)
    {
        RunDirectory = runDir;
        _p = p;
        _errPump = Task.Run(async () =>
        {
            while (await p.StandardError.ReadLineAsync() is { } line)
            {
                lock (_stderr)
                    _stderr.AppendLine(line);
            }
        });
    }

    public string RunDirectory { get; }

    public string SocketPath => XenStoreDaemon.SocketPathFor(RunDirectory);

    public int Pid => _p.Id;

    public string Stdout => _stdout.ToString();

    public string Stderr
    {
        get
        {
            lock (_stderr)
                return _stderr.ToString();
        }
    }

    /// <summary>
    /// Waits until dom0's stderr holds <paramref name="text"/>. Its stderr is read by a pump of its
    /// own, and nothing orders a stderr line before the stdout "ready" line (or any later event
    /// a test saw): a line is looked for with this, never read once right after.
    /// </summary>
    public Task StderrContainsAsync(string text) =>
        Wait.UntilAsync(() => Task.FromResult(Stderr.Contains(text, StringComparison.Ordinal)), $"'{text}' on dom0's stderr; it has: {Stderr}");

    public static string NewRunDirectory() => Path.Combine(Host.DefaultRoot, "tolapai-ts-" + Guid.NewGuid().ToString("N")[..12]);

    /// <summary>
    /// Starts a dom0 and waits for its socket line. These tests exercise the toolstack and play the
    /// ixp backend themselves, so the dom0 runs without its accelerator and backend
    /// (<c>--no-accelerator</c>); the split driver's own tests run the whole thing.
    /// </summary>
    public static Task<Dom0Process> StartAsync(string? runDir = null, params string[] extra) => StartCoreAsync(runDir, ["--no-accelerator", .. extra]);

    /// <summary>A dom0 with the accelerator and the ixp backend (for guests that run the cipher sample).</summary>
    public static Task<Dom0Process> StartWithAcceleratorAsync(string? runDir = null, params string[] extra) => StartCoreAsync(runDir, extra);

    private static async Task<Dom0Process> StartCoreAsync(string? runDir, string[] extra)
    {
        runDir ??= NewRunDirectory();
        Process p = Process.Start(Cli.StartInfo(["dom0", "--run-dir", runDir, "--grace-ms", "3000", .. extra], null))!;
        var d = new Dom0Process(runDir, p);
        while (true)
        {
            string? line = await p.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30));
            if (line is null)
            {
                await p.WaitForExitAsync();
                await d._errPump;
                Assert.Fail($"dom0 ended before it was ready (exit {p.ExitCode}): {d.Stderr}");
            }
            d._stdout.AppendLine(line);
            if (line.StartsWith("dom0: ready", StringComparison.Ordinal))
                return d;
        }
    }

    /// <summary>Sends SIGTERM and returns the exit code.</summary>
    public async Task<int> StopAsync(int signal = Signals.SigTerm)
    {
        Assert.True(Signals.Send(_p.Id, ProcessIdentity.StartTime(_p.Id) ?? 0, signal), "dom0 is gone already");
        await _p.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        await _errPump;
        return _p.ExitCode;
    }

    /// <summary>SIGKILL: the dom0 dies without cleaning up.</summary>
    public async Task KillAsync()
    {
        _p.Kill();
        await _p.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
    }

    public Task<XenStoreClient> ConnectAsync() => XenStoreClient.ConnectAsync(SocketPath);

    public async ValueTask DisposeAsync()
    {
        if (!_p.HasExited)
            _p.Kill();
        await _p.WaitForExitAsync();
        _p.Dispose();
        KillGuests(RunDirectory);
        try
        {
            Directory.Delete(RunDirectory, recursive: true);
        }
        catch (DirectoryNotFoundException)
        {
        }
        catch (IOException)
        {
        }
    }

    /// <summary>SIGKILLs every guest process a run directory's hypervisor region still names.</summary>
    public static void KillGuests(string runDir)
    {
        if (!File.Exists(Path.Combine(runDir, Host.RegionFileName)))
            return;
        try
        {
            using Host host = Host.Open(runDir);
            for (uint id = 1; id < host.MaxDomains; id++)
            {
                if (host.Lookup((ushort)id) is { } info)
                    Signals.Send(info.Pid, info.StartTime, Signals.SigKill);
            }
        }
        catch (Exception e) when (e is IOException or InvalidDataException)
        {
        }
    }
}

public static class Wait
{
    public static readonly TimeSpan Long = TimeSpan.FromSeconds(30);

    /// <summary>Polls <paramref name="condition"/> until true; fails after 30 s with <paramref name="what"/>.</summary>
    public static async Task UntilAsync(Func<Task<bool>> condition, string what)
    {
        long deadline = Environment.TickCount64 + 30_000;
        while (!await condition())
        {
            if (Environment.TickCount64 > deadline)
                Assert.Fail($"timed out waiting for {what}");
            await Task.Delay(20);
        }
    }

    /// <summary>Waits for a file to contain <paramref name="text"/>.</summary>
    public static Task FileContainsAsync(string path, string text) =>
        UntilAsync(() => Task.FromResult(File.Exists(path) && File.ReadAllText(path).Contains(text, StringComparison.Ordinal)), $"'{text}' in {path}");

    /// <summary>Waits for a process (by pid and start time) to be gone.</summary>
    public static Task GoneAsync(int pid, ulong start) => UntilAsync(() => Task.FromResult(!ProcessIdentity.IsAlive(pid, start)), $"process {pid} to end");
}
