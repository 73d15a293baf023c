using System.Diagnostics;
using Tolapai.Tracing;

namespace Tolapai.Diagnostics.Tests;

[Collection(MultiProcessCollection.Name)]
public sealed class EventPipeTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("tolapai-trace-tests-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static Process StartChild()
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardInput = true, RedirectStandardOutput = true, UseShellExecute = false };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Tolapai.Diagnostics.TestChild.dll"));
        Process p = Process.Start(psi)!;
        string? line = p.StandardOutput.ReadLine();
        Assert.StartsWith("READY", line, StringComparison.Ordinal);
        return p;
    }

    [Fact]
    public async Task A_real_EventPipe_session_on_a_child_process_reads_back_with_TraceEvent()
    {
        using Process child = StartChild();
        try
        {
            IReadOnlyList<TraceFile> files = await TraceCollector.CollectAsync([new TraceTarget(child.Id, "guest")], TimeSpan.FromSeconds(2), _dir);

            TraceFile file = Assert.Single(files);
            Assert.Null(file.Error);
            Assert.True(file.Bytes > 0);
            TraceSummary summary = TraceReport.Summarize(file.Path!);
            using var text = new StringWriter();
            TraceReport.Write(summary, text);
            string report = text.ToString();

            Assert.True(child.Id == summary.ProcessId, report);
            Assert.True(summary.Stages.Count(s => s.Stage == "SplitOp") == 1, report);
            StageHistogram split = summary.Stages.Single(s => s.Stage == "SplitOp");
            Assert.True(split.Count > 10, report);
            Assert.True(split.P50Ns > 0 && split.P50Ns <= split.P99Ns && split.P99Ns <= split.MaxNs);
            Assert.Equal(split.Count, split.Buckets.Sum(b => b.Count));
            Assert.Contains(summary.Stages, s => s.Stage == "Device");
            Assert.True(summary.CpuSamples > 0, report);
            Assert.True(summary.TopMethods.Any(m => m.Method.Contains("BurnCpuForTheProfiler", StringComparison.Ordinal)), report);
            Assert.True(summary.Counters.GetValueOrDefault("ops-per-second") > 0, report);
            Assert.True(summary.OtherEvents.GetValueOrDefault("RingFull") > 0, report);
            Assert.Contains("SplitOp", report, StringComparison.Ordinal);
            Assert.Contains("BurnCpuForTheProfiler", report, StringComparison.Ordinal);
        }
        finally
        {
            child.StandardInput.Close();
            if (!child.WaitForExit(10_000))
            {
                child.Kill();
            }
        }
    }

    [Fact]
    public async Task A_process_that_cannot_be_traced_gets_an_error_entry_and_the_others_go_on()
    {
        using Process child = StartChild();
        try
        {
            IReadOnlyList<TraceFile> files = await TraceCollector.CollectAsync(
                [new TraceTarget(child.Id, "guest"), new TraceTarget(int.MaxValue - 7, "ghost")], TimeSpan.FromSeconds(1), _dir);

            Assert.Null(files.Single(f => f.Target.Name == "guest").Error);
            TraceFile ghost = files.Single(f => f.Target.Name == "ghost");
            Assert.NotNull(ghost.Error);
            Assert.Null(ghost.Path);
        }
        finally
        {
            child.StandardInput.Close();
            child.WaitForExit(10_000);
        }
    }

    [Fact]
    public void A_file_that_is_not_a_trace_is_a_clear_error()
    {
        string bogus = Path.Combine(_dir, "bogus.nettrace");
        File.WriteAllText(bogus, "this is not a nettrace file");

        InvalidDataException e = Assert.Throws<InvalidDataException>(() => TraceReport.Summarize(bogus));
        Assert.Contains("bogus.nettrace", e.Message, StringComparison.Ordinal);
        Assert.Throws<FileNotFoundException>(() => TraceReport.Summarize(Path.Combine(_dir, "none.nettrace")));
    }
}
