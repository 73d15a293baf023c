namespace Tolapai.Toolstack.Tests;

/// <summary><c>tolapai trace</c> against a running dom0 and its guests, and its bad input.</summary>
[Collection(MultiProcessCollection.Name)]
public class TraceCommandTests
{
    [Fact]
    public async Task Trace_writes_one_nettrace_per_process_of_the_host_and_report_reads_them()
    {
        await using Dom0Process dom0 = await Dom0Process.StartAsync();
        string dir = dom0.RunDirectory;
        ushort guest = await Cli.CreateAsync(dir, ["--no-device"], Cli.Domu);
        await Wait.FileContainsAsync(Path.Combine(dir, $"dom{guest}.log"), "attached");
        string outDir = Path.Combine(Path.GetTempPath(), "tolapai-trace-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            CliResult trace = await Cli.OkAsync(dir, "trace", "--run-dir", dir, "--duration", "1", "--out", outDir);

            Assert.Contains($"pid {dom0.Pid}", trace.Stdout, StringComparison.Ordinal);
            string[] files = Directory.GetFiles(outDir, "*.nettrace").Select(Path.GetFileName).Order().ToArray()!;
            Assert.Equal(["dom0.nettrace", $"dom{guest}.nettrace"], files);

            CliResult report = await Cli.OkAsync(dir, "trace", "report", Path.Combine(outDir, "dom0.nettrace"), Path.Combine(outDir, $"dom{guest}.nettrace"));
            Assert.Contains($"pid {dom0.Pid}", report.Stdout, StringComparison.Ordinal);
            Assert.Contains("top CPU methods", report.Stdout, StringComparison.Ordinal);
            Assert.Equal(2, report.Stdout.Split("== ").Length - 1);
        }
        finally
        {
            if (Directory.Exists(outDir))
            {
                Directory.Delete(outDir, recursive: true);
            }
        }
    }

    [Theory]
    [InlineData("trace", "--duration", "abc")]
    [InlineData("trace", "--duration", "-1")]
    [InlineData("trace", "--pid", "x")]
    [InlineData("trace", "--pid", "1", "--run-dir", "/tmp")]
    [InlineData("trace", "--bogus")]
    [InlineData("trace", "report")]
    public async Task Bad_trace_arguments_exit_2_with_one_line(params string[] args)
    {
        CliResult r = await Cli.RunAsync(null, args);

        Assert.Equal(2, r.ExitCode);
        Assert.Single(r.Stderr.TrimEnd('\n').Split('\n'));
    }

    [Fact]
    public async Task Tracing_a_run_directory_with_no_dom0_is_a_clear_error()
    {
        CliResult r = await Cli.RunAsync(null, "trace", "--run-dir", Path.Combine(Path.GetTempPath(), "no-such-host-" + Guid.NewGuid().ToString("N")));

        Assert.Equal(2, r.ExitCode);
        Assert.Contains("no dom0 running on", r.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Report_on_a_file_that_is_not_a_trace_exits_1_with_its_name()
    {
        string bogus = Path.Combine(Path.GetTempPath(), $"bogus-{Guid.NewGuid():N}.nettrace");
        await File.WriteAllTextAsync(bogus, "not a trace");
        try
        {
            CliResult r = await Cli.RunAsync(null, "trace", "report", bogus);

            Assert.Equal(1, r.ExitCode);
            Assert.Contains(Path.GetFileName(bogus), r.Stderr, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(bogus);
        }
    }
}
