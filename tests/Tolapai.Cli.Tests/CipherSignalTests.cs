using System.Diagnostics;
using Xunit.Abstractions;

namespace Tolapai.Cli.Tests;

/// <summary>Stopping the CLI half-way through must not leave a partial --out file behind.</summary>
[Collection(MultiProcessCollection.Name)]
public sealed class CipherSignalTests(ITestOutputHelper output) : IDisposable
{
    private readonly TempDirectory _directory = new();

    [Theory]
    [InlineData("TERM")]
    [InlineData("INT")]
    public async Task A_signal_mid_stream_leaves_the_old_output_and_no_temporary_file(string signal)
    {
        if (!OperatingSystem.IsLinux())
        {
            output.WriteLine("POSIX signals are tested on Linux only");
            return;
        }

        string outPath = _directory.File("out.bin");
        File.WriteAllText(outPath, "old");
        using Process process = CliProcess.Start(_directory.Path, "cipher", "--local", "--alg", "des-ecb", "--key", "0123456789abcdef", "--out", outPath);
        Task<string> stderr = process.StandardError.ReadToEndAsync();

        // More than a chunk, and the pipe kept open: the CLI is now mid-stream with its
        // temporary file written to.
        process.StandardInput.BaseStream.Write(new byte[200_000]);
        process.StandardInput.BaseStream.Flush();
        var clock = Stopwatch.StartNew();
        while (!_directory.Names().Any(name => name.EndsWith(".tolapai-partial", StringComparison.Ordinal)))
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), "the temporary output file never appeared");
            Thread.Sleep(20);
        }

        using (Process kill = Process.Start("kill", ["-" + signal, process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
        {
            kill.WaitForExit();
            Assert.Equal(0, kill.ExitCode);
        }

        Assert.True(process.WaitForExit(TimeSpan.FromSeconds(30)), "the CLI did not stop on SIG" + signal);
        output.WriteLine($"exit {process.ExitCode}, stderr: {await stderr}");
        Assert.NotEqual(0, process.ExitCode);
        Assert.Equal(["out.bin"], _directory.Names());
        Assert.Equal("old", File.ReadAllText(outPath));
    }

    public void Dispose() => _directory.Dispose();
}
