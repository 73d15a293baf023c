using System.Diagnostics;
using System.Text;

namespace Tolapai.Cli.Tests;

/// <summary>What one run of the real <c>tolapai</c> process gave back.</summary>
public sealed record CliResult(int ExitCode, byte[] Stdout, string Stderr)
{
    public string[] StderrLines => Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);

    public override string ToString() => $"exit {ExitCode}, {Stdout.Length} bytes on stdout, stderr: {Stderr}";
}

/// <summary>
/// Runs the built CLI (<c>tolapai.dll</c>, copied next to this test assembly by the project
/// reference) as a child process, stdin and stdout as raw bytes.
/// </summary>
public static class CliProcess
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(120);

    public static string CliPath { get; } = Path.Combine(AppContext.BaseDirectory, "tolapai.dll");

    // The SDK tells child processes which dotnet runs them; outside 'dotnet test' take the one on PATH.
    private static string DotnetHost { get; } = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet";

    /// <summary>Starts the CLI with all three pipes redirected; the caller owns the process.</summary>
    public static Process Start(string? workingDirectory, params string[] args) => StartCore(workingDirectory, null, args);

    /// <summary>
    /// Starts the CLI through coreutils' <c>env</c> with <paramref name="signalOption"/> (for
    /// example <c>--default-signal=INT</c>), which sets a signal's disposition before the exec.
    /// A child inherits ignored signals, and a test run started as a background job of a
    /// non-interactive shell (or under nohup) has SIGINT ignored; .NET keeps that, as a Unix
    /// program should, so a test about SIGINT must say which disposition it starts from.
    /// </summary>
    public static Process StartWithSignalDisposition(string? workingDirectory, string signalOption, params string[] args) =>
        StartCore(workingDirectory, null, args, ["env", signalOption]);

    private static Process StartCore(string? workingDirectory, IReadOnlyDictionary<string, string>? environment, string[] args, string[]? launcher = null)
    {
        Assert.True(File.Exists(CliPath), $"the CLI is not at {CliPath}");
        var start = new ProcessStartInfo(launcher is null ? DotnetHost : launcher[0])
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardErrorEncoding = Encoding.UTF8,
            WorkingDirectory = workingDirectory ?? AppContext.BaseDirectory,
        };
        foreach ((string name, string value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }

        if (launcher is not null)
        {
            foreach (string word in launcher.Skip(1))
            {
                start.ArgumentList.Add(word);
            }

            start.ArgumentList.Add(DotnetHost);
        }

        start.ArgumentList.Add(CliPath);
        foreach (string arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        return Process.Start(start) ?? throw new InvalidOperationException("could not start dotnet");
    }

    public static CliResult RunIn(string? workingDirectory, byte[]? stdin, params string[] args) => RunCore(workingDirectory, null, stdin, args);

    /// <summary>Runs the CLI with extra environment variables (e.g. <c>TOLAPAI_TEST_FAULTS</c>).</summary>
    public static CliResult RunWithEnvironment(IReadOnlyDictionary<string, string> environment, byte[]? stdin, params string[] args) => RunCore(null, environment, stdin, args);

    private static CliResult RunCore(string? workingDirectory, IReadOnlyDictionary<string, string>? environment, byte[]? stdin, string[] args)
    {
        using Process process = StartCore(workingDirectory, environment, args);

        // All three pipes at once: a large input would otherwise deadlock against a full stdout pipe.
        var stdout = new MemoryStream();
        Task readOut = process.StandardOutput.BaseStream.CopyToAsync(stdout);
        Task<string> readErr = process.StandardError.ReadToEndAsync();
        Task writeIn = Task.Run(() =>
        {
            try
            {
                if (stdin is not null)
                {
                    process.StandardInput.BaseStream.Write(stdin);
                }

                process.StandardInput.Close();
            }
            catch (IOException)
            {
                // The CLI may exit (an error) before reading its input: that is its right.
            }
        });

        if (!process.WaitForExit(Timeout))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"tolapai {string.Join(' ', args)} did not finish in {Timeout}");
        }

        Task.WaitAll(readOut, readErr, writeIn);
        return new CliResult(process.ExitCode, stdout.ToArray(), readErr.Result);
    }

    public static CliResult Run(byte[]? stdin, params string[] args) => RunIn(null, stdin, args);
}
