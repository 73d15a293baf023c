using System.Diagnostics;
using System.Globalization;
using Xunit.Abstractions;

namespace Tolapai.Cli.Tests;

/// <summary>
/// Stopping the CLI half-way through must not leave a partial --out file behind. Each test
/// sets the signal's disposition it starts from (through <c>env</c>): a child inherits an
/// ignored SIGINT, and a test run launched as a background job of a non-interactive shell has
/// one, which once made the SIGINT case fail only in such runs.
/// </summary>
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
        using Process process = StartMidStream("--default-signal=" + signal, outPath);
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        Kill(process, signal);

        Assert.True(process.WaitForExit(TimeSpan.FromSeconds(30)), "the CLI did not stop on SIG" + signal);
        output.WriteLine($"exit {process.ExitCode}, stderr: {await stderr}");
        Assert.NotEqual(0, process.ExitCode);
        Assert.Equal(["out.bin"], _directory.Names());
        Assert.Equal("old", File.ReadAllText(outPath));
    }

    /// <summary>
    /// The Unix convention: a program started with SIGINT ignored (a background job, nohup)
    /// is not stopped by it. The CLI keeps ciphering and, at the end of its input, replaces the
    /// old output with the whole result.
    /// </summary>
    [Fact]
    public async Task An_inherited_ignored_SIGINT_stays_ignored_and_the_output_is_completed()
    {
        if (!OperatingSystem.IsLinux())
        {
            output.WriteLine("POSIX signals are tested on Linux only");
            return;
        }

        string outPath = _directory.File("out.bin");
        File.WriteAllText(outPath, "old");
        using Process process = StartMidStream("--ignore-signal=INT", outPath);
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        Kill(process, "INT");

        // Nothing ends the process but its input: it is still running once the kill is done.
        Assert.False(process.HasExited, $"SIGINT stopped a CLI that was started with it ignored: exit {(process.HasExited ? process.ExitCode : 0)}");
        process.StandardInput.Close();
        Assert.True(process.WaitForExit(TimeSpan.FromSeconds(60)), "the CLI did not finish after its input ended");
        output.WriteLine($"exit {process.ExitCode}, stderr: {await stderr}");
        Assert.Equal(0, process.ExitCode);
        Assert.Equal(["out.bin"], _directory.Names());
        Assert.Equal(InputLength, new FileInfo(outPath).Length);
    }

    private const int InputLength = 200_000;

    /// <summary>Starts <c>cipher --local</c> writing to <paramref name="outPath"/>, fed more than a chunk with the pipe kept open, and waits until its temporary file exists.</summary>
    private Process StartMidStream(string signalOption, string outPath)
    {
        Process process = CliProcess.StartWithSignalDisposition(_directory.Path, signalOption, "cipher", "--local", "--alg", "des-ecb", "--key", "0123456789abcdef", "--out", outPath);
        process.StandardInput.BaseStream.Write(new byte[InputLength]);
        process.StandardInput.BaseStream.Flush();
        var clock = Stopwatch.StartNew();
        while (!_directory.Names().Any(name => name.EndsWith(".tolapai-partial", StringComparison.Ordinal)))
        {
            Assert.False(process.HasExited, $"the CLI exited before writing (env {signalOption}): {process.StandardError.ReadToEnd()}");
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), "the temporary output file never appeared");
            Thread.Sleep(20);
        }

        return process;
    }

    private static void Kill(Process process, string signal)
    {
        using Process kill = Process.Start("kill", ["-" + signal, process.Id.ToString(CultureInfo.InvariantCulture)]);
        kill.WaitForExit();
        Assert.Equal(0, kill.ExitCode);
    }

    public void Dispose() => _directory.Dispose();
}
