using Tolapai.Xen.XenStore;

namespace Tolapai.Toolstack.Tests;

/// <summary>Bad input to dom0, xl, xenstore and domu: one clear line, exit 2 (usage) or 1 (state), and nothing changed.</summary>
[Collection(MultiProcessCollection.Name)]
public class BadInputTests(SharedDom0 shared) : IClassFixture<SharedDom0>
{
    [Theory]
    [InlineData(2, "xl create needs '--'", "xl", "create", "--name", "x")]
    [InlineData(2, "no guest command after '--'", "xl", "create", "--")]
    [InlineData(2, "--memory-pages must be a whole number", "xl", "create", "--memory-pages", "abc", "--", "/bin/true")]
    [InlineData(2, "--memory-pages must be a whole number in 4..", "xl", "create", "--memory-pages", "2", "--", "/bin/true")]
    [InlineData(2, "--grant-frames must be a whole number", "xl", "create", "--grant-frames", "0", "--", "/bin/true")]
    [InlineData(2, "cannot run 'no-such-guest-program': not found in PATH", "xl", "create", "--", "no-such-guest-program")]
    [InlineData(2, "cannot run '/nonexistent/guest': no such executable file", "xl", "create", "--", "/nonexistent/guest")]
    [InlineData(2, "bad domain name", "xl", "create", "--name", "a/b", "--", "/bin/true")]
    [InlineData(2, "unexpected argument 'stray'", "xl", "create", "stray", "--", "/bin/true")]
    [InlineData(2, "domain 0 is the dom0 itself", "xl", "destroy", "0")]
    [InlineData(2, "domain 0 is the dom0 itself", "xl", "destroy", "Domain-0")]
    [InlineData(2, "domid must be a whole number in 0..31", "xl", "destroy", "99999")]
    [InlineData(1, "domain 7 does not exist", "xl", "destroy", "7")]
    [InlineData(1, "no domain named 'nobody'", "xl", "destroy", "nobody")]
    [InlineData(2, "xl destroy takes one domain", "xl", "destroy")]
    [InlineData(2, "--grace-ms must be a whole number", "xl", "destroy", "--grace-ms", "-5", "1")]
    [InlineData(2, "unknown device type 'vbd'", "xl", "device-add", "1", "vbd")]
    [InlineData(1, "domain 9 does not exist", "xl", "device-add", "9", "ixp")]
    [InlineData(2, "xl device-add takes a domain and a device type", "xl", "device-add", "1")]
    [InlineData(2, "unknown xl subcommand 'reboot'", "xl", "reboot")]
    [InlineData(2, "xl needs a subcommand", "xl")]
    [InlineData(2, "unknown option '--bogus'", "xl", "list", "--bogus")]
    [InlineData(2, "bad permission 'x5'", "xenstore", "chmod", "/vm", "x5")]
    [InlineData(2, "bad permission 'r99999'", "xenstore", "chmod", "/vm", "r99999")]
    [InlineData(2, "usage: tolapai xenstore chmod PATH PERM", "xenstore", "chmod", "/vm")]
    [InlineData(2, "xenstore write takes PATH VALUE pairs", "xenstore", "write", "/vm/a")]
    [InlineData(1, "ENOENT", "xenstore", "read", "/no/such/node")]
    [InlineData(1, "EINVAL", "xenstore", "write", "/bad//path", "v")]
    [InlineData(2, "unknown xenstore subcommand 'cat'", "xenstore", "cat", "/vm")]
    [InlineData(2, "--count is for 'xenstore watch'", "xenstore", "read", "--count", "1", "/vm")]
    [InlineData(2, "--max-domains must be a whole number in 2..", "dom0", "--max-domains", "1")]
    [InlineData(2, "--max-ring-page-order must be a whole number in 0..4", "dom0", "--max-ring-page-order", "5")]
    [InlineData(2, "which --no-accelerator leaves out", "dom0", "--no-accelerator", "--no-persistent")]
    [InlineData(2, "xl migrate needs --to DEST-DIR", "xl", "migrate", "1")]
    [InlineData(2, "xl migrate takes one domain", "xl", "migrate", "1", "2", "--to", "/tmp")]
    [InlineData(1, "domain 5 does not exist", "xl", "migrate", "5", "--to", "/tmp")]
    [InlineData(1, "no domain named 'ghost'", "xl", "suspend", "ghost")]
    [InlineData(1, "domain 5 does not exist", "xl", "resume", "5")]
    [InlineData(2, "TOLAPAI_DOMID is not set", "domu")]
    [InlineData(2, "unknown domu workload 'dance'", "domu", "dance")]
    [InlineData(2, "--until-stopped and --seconds both say when the workload ends", "domu", "perf", "--result", "/tmp/r.json", "--until-stopped", "--seconds", "1")]
    public async Task Is_refused_with_a_clear_message_and_changes_nothing(int exitCode, string message, params string[] args)
    {
        await using XenStoreClient xs = await shared.Dom0.ConnectAsync();
        string before = (await Cli.OkAsync(shared.RunDirectory, "xl", "list")).Stdout;
        string[] homes = await xs.DirectoryAsync("/local/domain");

        CliResult r = await Cli.RunAsync(shared.RunDirectory, args);
        Assert.True(r.ExitCode == exitCode, $"tolapai {string.Join(' ', args)}: {r}");
        Assert.Contains(message, r.Stderr, StringComparison.Ordinal);
        Assert.Single(r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("tolapai: ", r.Stderr, StringComparison.Ordinal);

        Assert.Equal(before, (await Cli.OkAsync(shared.RunDirectory, "xl", "list")).Stdout);
        Assert.Equal(homes, await xs.DirectoryAsync("/local/domain"));
    }

    [Fact]
    public async Task A_guest_command_whose_exec_fails_leaves_nothing_behind()
    {
        // Executable, but its interpreter does not exist: the launcher's exec fails (127).
        string script = Path.Combine(Path.GetTempPath(), "tolapai-bad-guest-" + Guid.NewGuid().ToString("N")[..8]);
        File.WriteAllText(script, "#!/nonexistent/interpreter\n");
        if (!OperatingSystem.IsWindows())
            File.SetUnixFileMode(script, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        try
        {
            await using XenStoreClient xs = await shared.Dom0.ConnectAsync();
            string before = (await Cli.OkAsync(shared.RunDirectory, "xl", "list")).Stdout;
            string[] homes = await xs.DirectoryAsync("/local/domain");
            CliResult r = await Cli.RunAsync(shared.RunDirectory, "xl", "create", "--name", "doomed", "--", script);
            Assert.True(r.ExitCode == 1, r.ToString());
            Assert.Contains($"cannot start '{script}' (exit 127)", r.Stderr, StringComparison.Ordinal);
            Assert.Equal(before, (await Cli.OkAsync(shared.RunDirectory, "xl", "list")).Stdout);
            Assert.Equal(homes, await xs.DirectoryAsync("/local/domain"));
            // Its device was written, then removed with it.
            Assert.Empty(await xs.ExistsAsync("/local/domain/0/backend/ixp") ? await xs.DirectoryAsync("/local/domain/0/backend/ixp") : []);
        }
        finally
        {
            File.Delete(script);
        }
    }

    [Theory]
    [InlineData("xl", "list")]
    [InlineData("xl", "destroy", "1")]
    [InlineData("xl", "create", "--", "/bin/true")]
    [InlineData("xl", "device-add", "1", "ixp")]
    [InlineData("xenstore", "ls", "/")]
    public async Task Without_a_dom0_the_toolstack_says_so(params string[] args)
    {
        string dir = Dom0Process.NewRunDirectory();
        CliResult r = await Cli.RunAsync(null, [args[0], args[1], "--run-dir", dir, .. args[2..]]);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains($"no dom0 running on {dir}", r.Stderr, StringComparison.Ordinal);
        Assert.False(Directory.Exists(dir) && Directory.EnumerateFileSystemEntries(dir).Any());
    }
}
