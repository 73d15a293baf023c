using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using Tolapai.Cli.CommandLine;
using Tolapai.Cli.Commands.Perf;
using Tolapai.Cpa;
using Tolapai.Cpa.Sample;
using Tolapai.Ixp.Frontend;
using Tolapai.Xen.Toolstack;

namespace Tolapai.Cli.Commands.Split;

/// <summary>
/// <c>tolapai domu perf</c>: the sample inside a guest, through the split driver. The guest opens
/// its ixp frontend (device 0, which <c>xl create</c> added), gets the split CPA instance and runs
/// <see cref="CipherPerf"/> on it exactly as dom0 runs it on the native instance. One line per
/// packet size goes to the console log (<c>perf-size {json}</c>) as it finishes, which the
/// <c>tolapai perf</c> that started the guest shows as progress; the whole result is written to
/// <c>--result FILE</c> at the end.
/// </summary>
internal static class GuestPerf
{
    /// <summary>Prefix of the per-size progress lines in the console log.</summary>
    public const string ProgressPrefix = "perf-size ";

    /// <summary>Options of the guest workload (the sample's, plus where the result goes and the ring size).</summary>
    public static readonly OptionParser Parser = new(
        flags: [.. PerfWorkloadOptions.Flags, "hold", "until-stopped"],
        valued: [.. PerfWorkloadOptions.Valued, "result", "ring-page-order", "heartbeat-ms"]);

    /// <summary>The signal that stops an <c>--until-stopped</c> workload (SIGUSR1 on Linux).</summary>
    public const int StopSignal = 10;

    /// <summary>Parses the words after <c>domu perf</c> into the workload to run.</summary>
    public static Func<DomainContext, CancellationToken, Task<int>> Parse(ParsedOptions o)
    {
        PerfWorkloadOptions workload = PerfWorkloadOptions.Parse(o);
        bool untilStopped = o.Has("until-stopped");
        if (untilStopped && o.Get("seconds") is not null)
            throw new CommandLineException("domu perf: --until-stopped and --seconds both say when the workload ends; give one");
        if (untilStopped && o.Get("ops") is null)
            workload = workload with { Sample = workload.Sample with { Ops = 100_000_000 } }; // until stopped: no cap that matters
        string result = o.Get("result") ?? throw new CommandLineException("domu perf needs --result FILE (where the figures go)");
        int order = PerfWorkloadOptions.Int(o, "ring-page-order", 2, 0, 4);
        bool hold = o.Has("hold");
        return (domain, cancellationToken) => RunAsync(domain, workload, result, order, hold, untilStopped, cancellationToken);
    }

    private static async Task<int> RunAsync(DomainContext domain, PerfWorkloadOptions workload, string resultPath, int ringPageOrder, bool hold, bool untilStopped, CancellationToken cancellationToken)
    {
        // --until-stopped: the sample runs until SIGUSR1 (then what is in flight completes and the
        // result is written), so a test can suspend or move the guest for as long as it takes.
        using var stop = new CancellationTokenSource();
        using PosixSignalRegistration? stopSignal = untilStopped
            ? PosixSignalRegistration.Create((PosixSignal)StopSignal, context =>
            {
                context.Cancel = true;
                stop.Cancel();
            })
            : null;
        if (untilStopped)
            workload = workload with { Sample = workload.Sample with { Stop = stop.Token } };
        uint first = domain.Memory.FirstDataFrame;
        var pages = new GuestPageAllocator(domain.Memory, first, domain.StartInfo.XenStoreFrame - first);
        IxpFrontend front;
        try
        {
            front = await IxpFrontend.ConnectAsync(domain, pages, devid: 0,
                new IxpFrontendOptions { RingPageOrder = ringPageOrder, Persistent = true }).WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is Ixp.IxpException or TimeoutException or IOException)
        {
            Console.Error.WriteLine($"domu perf: the ixp device did not connect: {e.Message}");
            return ExitCodes.Failure;
        }

        await using (front.ConfigureAwait(false))
        {
            using IxpCyInstance cy = front.CreateCyInstance(0, workload.Completion);
            string features = string.Create(CultureInfo.InvariantCulture,
                $"queues {front.Negotiated.Queues}, ring-page-order {front.Negotiated.RingPageOrder}, persistent {front.Negotiated.Persistent}, sessions {front.Negotiated.Sessions}");
            Console.Out.WriteLine($"domu perf: ixp connected ({features}); running {workload.AlgorithmName}");
            Console.Out.Flush();

            // The sample is a busy loop: its own thread, so this guest's XenStore traffic (the
            // shutdown watch, heartbeats) keeps going on the thread pool.
            CipherPerfReport report = await Task.Factory.StartNew(
                () => CipherPerf.Run(cy, workload.Sample, r =>
                {
                    Console.Out.WriteLine(ProgressPrefix + JsonSerializer.Serialize(r, CipherPerfJson.Default.CipherPerfResult));
                    Console.Out.Flush();
                }),
                cancellationToken,
                TaskCreationOptions.LongRunning,
                TaskScheduler.Default).ConfigureAwait(false);
            cy.QueryStats(out SymStats stats);
            GuestPerfResult result = GuestPerfResult.From(domain.DomId, report, stats, features);
            string temp = resultPath + ".tmp";
            await File.WriteAllTextAsync(temp, JsonSerializer.Serialize(result, GuestPerfJsonContext.Default.GuestPerfResult), cancellationToken).ConfigureAwait(false);
            File.Move(temp, resultPath, overwrite: true); // whole or absent: the reader never sees half a file
            if (hold)
            {
                // Stay up until told to go (xl destroy), so a trace of this process can be
                // stopped, with its method rundown, while the process is still there.
                try
                {
                    await Task.Delay(Timeout.Infinite, cancellationToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    // Told to stop.
                }
            }

            return report.Results.All(r => r.Verified) ? ExitCodes.Success : ExitCodes.Failure;
        }
    }
}

/// <summary>Source-generated JSON for one size's figures.</summary>
[System.Text.Json.Serialization.JsonSerializable(typeof(CipherPerfResult))]
internal sealed partial class CipherPerfJson : System.Text.Json.Serialization.JsonSerializerContext;
