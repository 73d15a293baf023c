using System.Diagnostics;
using Tolapai.Xen.XenStore;

namespace Tolapai.XenStore.Tests;

/// <summary>Runs only where Debian's xenstore-utils are installed (`apt-get install xenstore-utils`).</summary>
public sealed class XenStoreUtilsFactAttribute : FactAttribute
{
    public XenStoreUtilsFactAttribute()
    {
        if (!File.Exists("/usr/bin/xenstore-read"))
            Skip = "xenstore-utils not installed (/usr/bin/xenstore-read missing): apt-get install -y xenstore-utils";
    }
}

/// <summary>Xen's own command-line clients, unchanged, against our daemon through XENSTORED_PATH.</summary>
[Collection(MultiProcessCollection.Name)]
public class XenStoreUtilsTests
{
    private static async Task<(int Code, string Out, string Err)> Run(DaemonFixture f, string tool, params string[] args)
    {
        var psi = new ProcessStartInfo("/usr/bin/" + tool) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in args)
            psi.ArgumentList.Add(a);
        psi.Environment["XENSTORED_PATH"] = f.SocketPath;
        using var p = Process.Start(psi)!;
        Task<string> stdout = p.StandardOutput.ReadToEndAsync();
        Task<string> stderr = p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(20));
        return (p.ExitCode, await stdout, await stderr);
    }

    private static async Task<string> Ok(DaemonFixture f, string tool, params string[] args)
    {
        var (code, stdout, stderr) = await Run(f, tool, args);
        Assert.True(code == 0, $"{tool} {string.Join(' ', args)} exited {code}: {stderr}");
        return stdout;
    }

    [XenStoreUtilsFact]
    public async Task Write_read_exists_list_ls_chmod_rm()
    {
        await using var f = DaemonFixture.Start();
        XenStoreClient c = await f.Dom0Async();
        await Ok(f, "xenstore-write", "/vm/a", "hello", "/vm/b", "world");
        Assert.Equal("hello", await c.ReadStringAsync("/vm/a"));
        Assert.Equal("hello\n", await Ok(f, "xenstore-read", "/vm/a"));
        Assert.Equal(0, (await Run(f, "xenstore-exists", "/vm/b")).Code);
        Assert.NotEqual(0, (await Run(f, "xenstore-exists", "/vm/missing")).Code);
        var missing = await Run(f, "xenstore-read", "/vm/missing");
        Assert.NotEqual(0, missing.Code);
        Assert.Equal("a\nb\n", await Ok(f, "xenstore-list", "/vm"));
        string ls = await Ok(f, "xenstore-ls", "/vm");
        Assert.Contains("a = \"hello\"", ls, StringComparison.Ordinal);
        Assert.Contains("b = \"world\"", ls, StringComparison.Ordinal);

        await Ok(f, "xenstore-chmod", "/vm/a", "n3", "r5");
        Assert.Equal([new(3, XsAccess.None), new(5, XsAccess.Read)], await c.GetPermsAsync("/vm/a"));
        Assert.Contains("(n3,r5)", await Ok(f, "xenstore-ls", "-p", "/vm"), StringComparison.Ordinal);

        await Ok(f, "xenstore-rm", "/vm/a");
        Assert.False(await c.ExistsAsync("/vm/a"));
        Assert.Equal("b\n", await Ok(f, "xenstore-list", "/vm"));
    }

    [XenStoreUtilsFact]
    public async Task XENSTORED_RUNDIR_pointing_at_the_socket_folder_works_too()
    {
        await using var f = DaemonFixture.Start();
        XenStoreClient c = await f.Dom0Async();
        await c.WriteAsync("/rundir", "found");
        var psi = new ProcessStartInfo("/usr/bin/xenstore-read") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add("/rundir");
        psi.Environment["XENSTORED_RUNDIR"] = Path.GetDirectoryName(f.SocketPath);
        psi.Environment.Remove("XENSTORED_PATH");
        using var p = Process.Start(psi)!;
        string stdout = await p.StandardOutput.ReadToEndAsync();
        await p.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(20));
        Assert.True(p.ExitCode == 0, await p.StandardError.ReadToEndAsync());
        Assert.Equal("found\n", stdout);
    }

    [XenStoreUtilsFact]
    public async Task Ls_of_a_directory_too_big_for_one_reply()
    {
        await using var f = DaemonFixture.Start();
        XenStoreClient c = await f.Dom0Async();
        for (int i = 0; i < 200; i++)
            await c.WriteAsync($"/wide/child-with-a-long-name-{i:D4}", "v");
        string list = await Ok(f, "xenstore-list", "/wide");
        Assert.Equal(200, list.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
    }

    [XenStoreUtilsFact]
    public async Task Watch_prints_the_first_event_then_changes()
    {
        await using var f = DaemonFixture.Start();
        XenStoreClient c = await f.Dom0Async();
        var psi = new ProcessStartInfo("/usr/bin/xenstore-watch") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add("-n");
        psi.ArgumentList.Add("2");
        psi.ArgumentList.Add("/watched");
        psi.Environment["XENSTORED_PATH"] = f.SocketPath;
        using var p = Process.Start(psi)!;
        Task<string> stderr = p.StandardError.ReadToEndAsync();
        try
        {
            // The first line is the event that fires when the watch is set, so the watch is in place.
            string? first = await p.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(20));
            Assert.True(first == "/watched", $"first line '{first}', stderr: {(p.HasExited ? await stderr : "")}");
            await c.WriteAsync("/watched/child", "x");
            string? second = await p.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(20));
            Assert.Equal("/watched/child", second);
            await p.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(20));
            Assert.Equal(0, p.ExitCode);
        }
        finally
        {
            if (!p.HasExited)
                p.Kill();
        }
    }
}
