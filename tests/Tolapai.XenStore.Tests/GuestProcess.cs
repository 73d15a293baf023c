using System.Diagnostics;

namespace Tolapai.XenStore.Tests;

/// <summary>A Tolapai.XenStore.TestChild process: its lines read with a timeout, killed on dispose if still running.</summary>
internal sealed class GuestProcess : IDisposable
{
    private readonly Process _p;
    private readonly List<string> _all = [];

    public GuestProcess(params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Tolapai.XenStore.TestChild.dll"));
        foreach (string a in args)
            psi.ArgumentList.Add(a);
        _p = Process.Start(psi)!;
    }

    public async Task ExpectAsync(string line)
    {
        while (true)
        {
            string? got = await _p.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30));
            if (got is null)
                Assert.Fail($"child ended before '{line}': {string.Join('\n', _all)} {await _p.StandardError.ReadToEndAsync()}");
            _all.Add(got);
            Assert.False(got.StartsWith("FAIL", StringComparison.Ordinal), got);
            if (got == line)
                return;
        }
    }

    public async Task<int> ExitAsync()
    {
        await _p.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        return _p.ExitCode;
    }

    /// <summary>SIGKILL, as a guest dies without telling anyone.</summary>
    public async Task KillAsync()
    {
        _p.Kill();
        await _p.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
    }

    public void Dispose()
    {
        if (!_p.HasExited)
            _p.Kill();
        _p.Dispose();
    }
}
