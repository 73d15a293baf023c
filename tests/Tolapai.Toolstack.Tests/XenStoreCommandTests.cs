using System.Diagnostics;
using Tolapai.Xen.XenStore;

namespace Tolapai.Toolstack.Tests;

/// <summary><c>tolapai xenstore</c> against a running <c>tolapai dom0</c>.</summary>
[Collection(MultiProcessCollection.Name)]
public class XenStoreCommandTests(SharedDom0 shared) : IClassFixture<SharedDom0>
{
    private Task<CliResult> Ok(params string[] args) => Cli.OkAsync(shared.RunDirectory, ["xenstore", .. args]);

    [Fact]
    public async Task Write_read_exists_list_ls_chmod_rm()
    {
        await Ok("write", "/vm/cmd/a", "hello", "/vm/cmd/b", "two words");
        Assert.Equal("hello\ntwo words\n", (await Ok("read", "/vm/cmd/a", "/vm/cmd/b")).Stdout);
        Assert.Equal(0, (await Cli.RunAsync(shared.RunDirectory, "xenstore", "exists", "/vm/cmd/a")).ExitCode);
        CliResult missing = await Cli.RunAsync(shared.RunDirectory, "xenstore", "exists", "/vm/cmd/zzz");
        Assert.Equal(1, missing.ExitCode);
        Assert.Equal("", missing.Stderr);
        Assert.Equal("a\nb\n", (await Ok("list", "/vm/cmd")).Stdout);
        Assert.Equal("a = \"hello\"\nb = \"two words\"\n", (await Ok("ls", "/vm/cmd")).Stdout);
        await Ok("write", "/vm/cmd/a/deeper", "x");
        Assert.Equal("a = \"hello\"\n deeper = \"x\"\nb = \"two words\"\n", (await Ok("ls", "/vm/cmd")).Stdout);
        await Ok("chmod", "/vm/cmd/a", "n3", "r5", "b7");
        await using XenStoreClient xs = await shared.Dom0.ConnectAsync();
        Assert.Equal([new(3, XsAccess.None), new(5, XsAccess.Read), new(7, XsAccess.Both)], await xs.GetPermsAsync("/vm/cmd/a"));
        Assert.Contains("a = \"hello\"  (n3,r5,b7)", (await Ok("ls", "--perms", "/vm/cmd")).Stdout, StringComparison.Ordinal);
        await Ok("rm", "/vm/cmd");
        Assert.False(await xs.ExistsAsync("/vm/cmd"));
        await Ok("write", "/vm/d", "--", "--dashes--");
        Assert.Equal("--dashes--\n", (await Ok("read", "/vm/d")).Stdout);
    }

    [Fact]
    public async Task Watch_prints_the_event_at_set_then_changes_below_the_path_until_count()
    {
        var psi = Cli.StartInfo(["xenstore", "watch", "--count", "3", "/vm/w"], shared.RunDirectory);
        using Process p = Process.Start(psi)!;
        Assert.Equal("/vm/w", await p.StandardOutput.ReadLineAsync().WaitAsync(Wait.Long)); // fires once when set
        await using XenStoreClient xs = await shared.Dom0.ConnectAsync();
        await xs.WriteAsync("/vm/w/x", "1");
        Assert.Equal("/vm/w/x", await p.StandardOutput.ReadLineAsync().WaitAsync(Wait.Long));
        await xs.WriteAsync("/vm/w", "2");
        Assert.Equal("/vm/w", await p.StandardOutput.ReadLineAsync().WaitAsync(Wait.Long));
        await p.WaitForExitAsync().WaitAsync(Wait.Long);
        Assert.Equal(0, p.ExitCode);
    }

    [Fact]
    public async Task Watch_stops_cleanly_on_SIGTERM()
    {
        using Process p = Process.Start(Cli.StartInfo(["xenstore", "watch", "/vm/t"], shared.RunDirectory))!;
        Assert.Equal("/vm/t", await p.StandardOutput.ReadLineAsync().WaitAsync(Wait.Long));
        Assert.True(Xen.Toolstack.Signals.Send(p.Id, Xen.Hypervisor.ProcessIdentity.StartTime(p.Id) ?? 0, Xen.Toolstack.Signals.SigTerm));
        await p.WaitForExitAsync().WaitAsync(Wait.Long);
        Assert.Equal(0, p.ExitCode);
    }
}
