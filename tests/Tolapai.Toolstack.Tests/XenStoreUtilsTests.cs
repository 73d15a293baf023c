using System.Diagnostics;
using Tolapai.Xen.XenStore;

namespace Tolapai.Toolstack.Tests;

/// <summary>Runs only where Debian's xenstore-utils are installed (.ci/run installs them).</summary>
public sealed class XenStoreUtilsFactAttribute : FactAttribute
{
    public XenStoreUtilsFactAttribute()
    {
        if (!File.Exists("/usr/bin/xenstore-read"))
            Skip = "xenstore-utils not installed (/usr/bin/xenstore-read missing): apt-get install -y xenstore-utils";
    }
}

/// <summary>Xen's own xenstore-* tools, unchanged, against a running <c>tolapai dom0</c> process via XENSTORED_PATH.</summary>
[Collection(MultiProcessCollection.Name)]
public class XenStoreUtilsTests(SharedDom0 shared) : IClassFixture<SharedDom0>
{
    private ProcessStartInfo Tool(string tool, params string[] args)
    {
        var psi = new ProcessStartInfo("/usr/bin/" + tool) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in args)
            psi.ArgumentList.Add(a);
        psi.Environment["XENSTORED_PATH"] = shared.Dom0.SocketPath;
        return psi;
    }

    private async Task<(int Code, string Out, string Err)> Run(string tool, params string[] args)
    {
        using Process p = Process.Start(Tool(tool, args))!;
        Task<string> o = p.StandardOutput.ReadToEndAsync();
        Task<string> e = p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync().WaitAsync(Wait.Long);
        return (p.ExitCode, await o, await e);
    }

    private async Task<string> Ok(string tool, params string[] args)
    {
        var (code, o, e) = await Run(tool, args);
        Assert.True(code == 0, $"{tool} {string.Join(' ', args)} exited {code}: {e}");
        return o;
    }

    [XenStoreUtilsFact]
    public async Task Write_read_ls_chmod_rm_watch_against_a_dom0_process()
    {
        await Ok("xenstore-write", "/vm/utils/a", "hello", "/vm/utils/b", "world");
        Assert.Equal("hello\n", await Ok("xenstore-read", "/vm/utils/a"));
        Assert.Equal("hello\n", (await Cli.OkAsync(shared.RunDirectory, "xenstore", "read", "/vm/utils/a")).Stdout); // ours sees theirs
        Assert.Equal("Domain-0\n", await Ok("xenstore-read", "/local/domain/0/name"));
        Assert.Equal("a\nb\n", await Ok("xenstore-list", "/vm/utils"));
        Assert.Contains("b = \"world\"", await Ok("xenstore-ls", "/vm/utils"), StringComparison.Ordinal);
        await Ok("xenstore-chmod", "/vm/utils/a", "n3", "r5");
        Assert.Contains("(n3,r5)", await Ok("xenstore-ls", "-p", "/vm/utils"), StringComparison.Ordinal);
        Assert.Contains("(n3,r5)", (await Cli.OkAsync(shared.RunDirectory, "xenstore", "ls", "--perms", "/vm/utils")).Stdout, StringComparison.Ordinal);

        using Process watch = Process.Start(Tool("xenstore-watch", "-n", "2", "/vm/utils/w"))!;
        Assert.Equal("/vm/utils/w", await watch.StandardOutput.ReadLineAsync().WaitAsync(Wait.Long));
        await Cli.OkAsync(shared.RunDirectory, "xenstore", "write", "/vm/utils/w", "x"); // ours writes, theirs sees it
        Assert.Equal("/vm/utils/w", await watch.StandardOutput.ReadLineAsync().WaitAsync(Wait.Long));
        await watch.WaitForExitAsync().WaitAsync(Wait.Long);

        await Ok("xenstore-rm", "/vm/utils");
        Assert.NotEqual(0, (await Run("xenstore-exists", "/vm/utils")).Code);
        await using XenStoreClient xs = await shared.Dom0.ConnectAsync();
        Assert.False(await xs.ExistsAsync("/vm/utils"));
    }
}
