using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Tolapai.Cli.Commands.Perf;
using Tolapai.Cpa.Sample;
using Tolapai.Ixp.Backend;
using Tolapai.Tracing;
using Tolapai.Xen.Hypervisor;
using Tolapai.Xen.Toolstack;
using Tolapai.Xen.XenStore;

namespace Tolapai.Cli.Commands.Split;

/// <summary>What the split run produced.</summary>
/// <param name="Guests">Each guest's result, by domid.</param>
/// <param name="Copies">What the backend and the device copied, and the device's check of its DMA segments (null when the host is not ours to ask).</param>
/// <param name="RunDirectory">Where the host was.</param>
/// <param name="Timeline">Throughput over the run: when (seconds since the guests started) each guest finished a packet size, and that size's Mbit/s.</param>
public sealed record SplitPerfOutcome(IReadOnlyList<GuestPerfResult> Guests, DataPlaneCopies? Copies, string RunDirectory, IReadOnlyList<TimelinePoint> Timeline)
{
    /// <summary>With <c>--hosts 2 --migrate-every</c>: the migrations and the pass without them.</summary>
    public MigrationOutcome? Migration { get; init; }

    /// <summary>The backend's own busy time (null when the host is not ours to ask).</summary>
    public BackendBusy? Backend { get; init; }
}

/// <summary>
/// The ixp backend's own cost on an embedded dom0, read from its counters
/// (<see cref="IxpBackend.BusyNanoseconds"/>, <see cref="IxpBackend.ResponsesWritten"/>): the
/// time its worker threads spent in passes that did work, over the responses they wrote
/// (warm-up and session requests included).
/// </summary>
/// <param name="BusyNanoseconds">Nanoseconds of the worker passes that did work.</param>
/// <param name="Responses">Responses written to every guest.</param>
/// <param name="MedianNanosecondsPerRequest">The typical time per request, immune to preempted passes (<see cref="IxpBackend.MedianBusyNanosecondsPerRequest"/>).</param>
public sealed record BackendBusy(long BusyNanoseconds, long Responses, double MedianNanosecondsPerRequest)
{
    /// <summary>Busy nanoseconds per response; null before any response.</summary>
    public double? NanosecondsPerRequest => Responses > 0 ? (double)BusyNanoseconds / Responses : null;

    /// <summary>The counters of a dom0 service running in this process; null when there is none.</summary>
    public static BackendBusy? Of(IxpBackendService? service) =>
        service?.Backend is { } backend ? new BackendBusy(backend.BusyNanoseconds, backend.ResponsesWritten, backend.MedianBusyNanosecondsPerRequest) : null;

    /// <summary>The sum of two hosts' counters (null if either is unknown; the median: the two hosts' weighted by their responses).</summary>
    public static BackendBusy? Sum(BackendBusy? a, BackendBusy? b) =>
        a is null || b is null ? null : new BackendBusy(a.BusyNanoseconds + b.BusyNanoseconds, a.Responses + b.Responses,
            a.Responses + b.Responses > 0 ? ((a.MedianNanosecondsPerRequest * a.Responses) + (b.MedianNanosecondsPerRequest * b.Responses)) / (a.Responses + b.Responses) : 0);
}

/// <summary>How <c>perf --hosts 2 --migrate-every S [--live]</c> moves the guests.</summary>
/// <param name="EverySeconds">Seconds between migrations of each guest.</param>
/// <param name="Live">Pre-copy (live) or cold migrations.</param>
public sealed record MigrationPlan(double EverySeconds, bool Live);

/// <summary>One migration during a run.</summary>
public sealed record MigrationEvent(
    [property: System.Text.Json.Serialization.JsonPropertyName("seconds")] double Seconds,
    [property: System.Text.Json.Serialization.JsonPropertyName("downtimeMs")] double DowntimeMs,
    [property: System.Text.Json.Serialization.JsonPropertyName("domid")] int DomId,
    [property: System.Text.Json.Serialization.JsonPropertyName("toHost")] int ToHost,
    [property: System.Text.Json.Serialization.JsonPropertyName("live")] bool Live,
    [property: System.Text.Json.Serialization.JsonPropertyName("rounds")] int Rounds,
    [property: System.Text.Json.Serialization.JsonPropertyName("pagesSent")] long PagesSent,
    [property: System.Text.Json.Serialization.JsonPropertyName("finalPages")] long FinalPages);

/// <summary>The migrations of a run and the same workload without them, run first on the same host.</summary>
/// <param name="Plan">What was asked.</param>
/// <param name="Events">Each migration that happened.</param>
/// <param name="Failures">Migrations that failed (each with its reason).</param>
/// <param name="Reference">The guests' results of the pass without migrations.</param>
public sealed record MigrationOutcome(MigrationPlan Plan, IReadOnlyList<MigrationEvent> Events, IReadOnlyList<string> Failures, IReadOnlyList<GuestPerfResult> Reference);

/// <summary>One point of a run's throughput over time.</summary>
/// <param name="Seconds">Seconds since the guests started.</param>
/// <param name="Mbps">Megabits per second of the size just finished.</param>
/// <param name="DomId">The guest.</param>
/// <param name="Size">The packet size.</param>
public sealed record TimelinePoint(
    [property: System.Text.Json.Serialization.JsonPropertyName("seconds")] double Seconds,
    [property: System.Text.Json.Serialization.JsonPropertyName("mbps")] double Mbps,
    [property: System.Text.Json.Serialization.JsonPropertyName("domid")] int DomId,
    [property: System.Text.Json.Serialization.JsonPropertyName("size")] int Size);

/// <summary>
/// <c>tolapai perf --mode split</c>: an embedded dom0 (hypervisor region, xenstored, the
/// accelerator and the ixp backend, all in this process, on a fresh run directory under
/// /dev/shm) or a running one (<c>--run-dir</c>), and G guest processes made with the toolstack
/// (<c>xl create -- tolapai domu perf ...</c>), each running the sample through its frontend.
/// Progress comes from the guests' console logs; their figures from their result files.
/// </summary>
internal sealed class SplitPerfRun
{
    private readonly PerfWorkloadOptions _workload;
    private readonly int _guests;
    private readonly string? _runDirectory;
    private readonly IxpBackendService? _service;
    private readonly TextWriter _progress;
    private readonly bool _live;
    private readonly string? _traceDirectory;
    private readonly List<TimelinePoint> _timeline = [];
    private readonly MigrationPlan? _migration;
    private readonly Func<IxpBackendService>? _secondService;
    private readonly List<MigrationEvent> _events = [];
    private readonly List<string> _migrationFailures = [];
    private Stopwatch _clock = Stopwatch.StartNew();

    /// <summary>A run that moves every guest between two embedded hosts every <see cref="MigrationPlan.EverySeconds"/>; <paramref name="secondService"/> makes the second host's backend.</summary>
    public SplitPerfRun(PerfWorkloadOptions workload, int guests, IxpBackendService service, Func<IxpBackendService> secondService, MigrationPlan migration, TextWriter progress, bool live)
        : this(workload, guests, null, service, progress, live)
    {
        _migration = migration;
        _secondService = secondService;
    }

    public SplitPerfRun(PerfWorkloadOptions workload, int guests, string? runDirectory, IxpBackendService? service, TextWriter progress, bool live, string? traceDirectory = null)
    {
        _traceDirectory = traceDirectory;
        _workload = workload;
        _guests = guests;
        _runDirectory = runDirectory;
        _service = service;
        _progress = progress;
        _live = live;
    }

    /// <summary>Pages a guest needs: every buffer list of the largest size twice (source and destination), rings and slack.</summary>
    public static uint GuestPages(CipherPerfOptions sample)
    {
        ArgumentNullException.ThrowIfNull(sample);
        long perBuffer = Math.Max(1, (sample.Sizes.Max() + 4095) / 4096);
        long pages = (2 * sample.Depth * perBuffer) + 256;
        return (uint)Math.Clamp(pages, 1024, 1 << 20);
    }

    public async Task<SplitPerfOutcome> RunAsync(CancellationToken cancellationToken)
    {
        if (_migration is not null)
        {
            return await RunMigratingAsync(_migration, cancellationToken).ConfigureAwait(false);
        }

        await using SplitHost host = await SplitHost.StartAsync(_runDirectory, _service, cancellationToken).ConfigureAwait(false);
        var created = new List<(CreatedDomain Domain, string Result)>();
        try
        {
            uint pages = GuestPages(_workload.Sample);
            for (int g = 0; g < _guests; g++)
            {
                string result = Path.Combine(host.RunDirectory, $"perf-{Environment.ProcessId}-{g}.json");
                string[] words = _traceDirectory is null ? ["perf", "--result", result] : ["perf", "--result", result, "--hold"];
                CreatedDomain d = await host.CreateGuestAsync($"perf-{Environment.ProcessId}-{g}", pages, [.. words, .. _workload.ToArguments()], cancellationToken).ConfigureAwait(false);
                created.Add((d, result));
            }

            // --trace: EventPipe sessions on dom0 (this process when embedded) and every guest for
            // the whole run, stopped once every guest has its result (guests hold until then).
            using var traceStop = new CancellationTokenSource();
            Task<IReadOnlyList<TraceFile>>? tracing = null;
            if (_traceDirectory is not null)
            {
                var targets = new List<TraceTarget> { new(host.Service is not null ? Environment.ProcessId : RunDirectories.ReadDom0Pid(host.RunDirectory) ?? Environment.ProcessId, "dom0") };
                targets.AddRange(created.Select(c => new TraceTarget(c.Domain.Pid, $"dom{c.Domain.DomId}")));
                tracing = TraceCollector.CollectAsync(targets, TimeSpan.FromHours(1), _traceDirectory, cancellationToken: traceStop.Token);
            }

            _clock = Stopwatch.StartNew();
            await WatchAsync(created, cancellationToken).ConfigureAwait(false);
            if (tracing is not null)
            {
                await traceStop.CancelAsync().ConfigureAwait(false);
                foreach (TraceFile f in await tracing.ConfigureAwait(false))
                {
                    _progress.WriteLine(f.Path is null ? $"trace {f.Target.Name}: {f.Error}" : $"trace {f.Target.Name} (pid {f.Target.ProcessId}): {f.Path} ({f.Bytes / 1024} KiB){(f.Error is null ? "" : ", " + f.Error)}");
                }
            }
            List<GuestPerfResult> results = await ReadResultsAsync(created, "", cancellationToken).ConfigureAwait(false);
            DataPlaneCopies? copied = DataPlaneCopies.Of(host.Service);
            return new SplitPerfOutcome(results, copied, host.RunDirectory, _timeline) { Backend = BackendBusy.Of(host.Service) };
        }
        finally
        {
            foreach ((_, string result) in created)
            {
                File.Delete(result);
            }
        }
    }

    /// <summary>
    /// Two embedded hosts; the workload once on the first without migrations (the reference),
    /// then again with every guest moved to the other host every S seconds.
    /// </summary>
    private async Task<SplitPerfOutcome> RunMigratingAsync(MigrationPlan plan, CancellationToken cancellationToken)
    {
        await using SplitHost a = await SplitHost.StartAsync(null, _service, cancellationToken).ConfigureAwait(false);
        await using SplitHost b = await SplitHost.StartAsync(null, _secondService!(), cancellationToken).ConfigureAwait(false);
        _progress.WriteLine($"hosts: {a.RunDirectory}, {b.RunDirectory}; first without migrations, then with a {(plan.Live ? "live" : "cold")} migration of each guest every {plan.EverySeconds.ToString(CultureInfo.InvariantCulture)} s");
        _progress.Flush();
        List<GuestPerfResult> reference = await RunPassAsync(a, null, "reference", cancellationToken).ConfigureAwait(false);
        _timeline.Clear();
        List<GuestPerfResult> results = await RunPassAsync(a, b, "migrating", cancellationToken).ConfigureAwait(false);
        DataPlaneCopies? copied = DataPlaneCopies.Sum(DataPlaneCopies.Of(a.Service), DataPlaneCopies.Of(b.Service));

        return new SplitPerfOutcome(results, copied, a.RunDirectory, _timeline)
        {
            Backend = BackendBusy.Sum(BackendBusy.Of(a.Service), BackendBusy.Of(b.Service)),
            Migration = new MigrationOutcome(plan, [.. _events], [.. _migrationFailures], reference),
        };
    }

    private sealed class Moving(CreatedDomain domain, string result)
    {
        public CreatedDomain Domain { get; } = domain;

        public string Result { get; } = result;

        public int Host { get; set; }

        public ushort DomId { get; set; } = domain.DomId;

        public bool Finished => File.Exists(Result) || ProcessIdentity.StartTime(Domain.Pid) is null;
    }

    /// <summary>One pass of the workload: guests on <paramref name="a"/>, moved between it and <paramref name="b"/> when given.</summary>
    private async Task<List<GuestPerfResult>> RunPassAsync(SplitHost a, SplitHost? b, string label, CancellationToken cancellationToken)
    {
        var created = new List<(CreatedDomain Domain, string Result)>();
        try
        {
            uint pages = GuestPages(_workload.Sample);
            for (int g = 0; g < _guests; g++)
            {
                string result = Path.Combine(a.RunDirectory, $"perf-{Environment.ProcessId}-{label}-{g}.json");
                CreatedDomain d = await a.CreateGuestAsync($"perf-{Environment.ProcessId}-{label}-{g}", pages, ["perf", "--result", result, .. _workload.ToArguments()], cancellationToken).ConfigureAwait(false);
                created.Add((d, result));
            }

            _clock = Stopwatch.StartNew();
            using var stopMoving = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            Task moving = b is null ? Task.CompletedTask : MigrateLoopAsync([a, b], [.. created.Select(c => new Moving(c.Domain, c.Result))], stopMoving.Token);
            try
            {
                await WatchAsync(created, cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                await stopMoving.CancelAsync().ConfigureAwait(false);
                await moving.ConfigureAwait(false);
            }

            return await ReadResultsAsync(created, $" ({label})", cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            foreach ((_, string result) in created)
            {
                File.Delete(result);
            }
        }
    }

    /// <summary>Every <see cref="MigrationPlan.EverySeconds"/>, each guest still running goes to the other host.</summary>
    private async Task MigrateLoopAsync(SplitHost[] hosts, List<Moving> guests, CancellationToken cancellationToken)
    {
        MigrationPlan plan = _migration!;
        try
        {
            while (true)
            {
                await Task.Delay(TimeSpan.FromSeconds(plan.EverySeconds), cancellationToken).ConfigureAwait(false);
                foreach (Moving g in guests)
                {
                    // Ended, or not up yet (a guest still starting cannot suspend): not a failed migration, the next period tries again.
                    if (g.Finished || !await CanSuspendAsync(hosts[g.Host].Toolstack, g.DomId).ConfigureAwait(false))
                    {
                        continue;
                    }

                    int to = 1 - g.Host;
                    try
                    {
                        MigrationResult r = await hosts[g.Host].Toolstack.MigrateAsync(g.DomId, hosts[to].Toolstack, new MigrationOptions { Live = plan.Live }, CancellationToken.None).ConfigureAwait(false);
                        g.Host = to;
                        g.DomId = r.DestinationDomId;
                        lock (_events)
                        {
                            _events.Add(new MigrationEvent(Math.Round(_clock.Elapsed.TotalSeconds, 3), Math.Round(r.Downtime.TotalMilliseconds, 2), r.DestinationDomId, to, r.Live, r.Rounds, r.PagesSent, r.FinalPages));
                        }

                        Report(string.Create(CultureInfo.InvariantCulture,
                            $"migrated {g.Domain.Name} to host {to} as dom{r.DestinationDomId}: downtime {r.Downtime.TotalMilliseconds:F1} ms, {r.PagesSent} pages ({r.Rounds} pre-copy rounds) ({_clock.Elapsed.TotalSeconds:F1} s)"), final: false);
                    }
                    catch (ToolstackException e)
                    {
                        if (!g.Finished)
                        {
                            // The guest still runs (on the source: a failed migration resumes it there).
                            _migrationFailures.Add($"{g.Domain.Name} at {_clock.Elapsed.TotalSeconds:F1} s: {e.Message}");
                            Report($"migration of {g.Domain.Name} failed: {e.Message}", final: false);
                        }
                    }
                }
            }
        }
        catch (OperationCanceledException)
        {
            // The pass is over.
        }
    }

    /// <summary><see cref="DomainToolstack.CanSuspendAsync"/>; false when the store refuses (the guest's home is going away).</summary>
    private static async Task<bool> CanSuspendAsync(DomainToolstack toolstack, ushort domid)
    {
        try
        {
            return await toolstack.CanSuspendAsync(domid).ConfigureAwait(false);
        }
        catch (XenStoreException)
        {
            return false;
        }
    }

    /// <summary>Each guest's result file, read whole; a guest that ended without one is an error with the end of its console log.</summary>
    private static async Task<List<GuestPerfResult>> ReadResultsAsync(List<(CreatedDomain Domain, string Result)> created, string what, CancellationToken cancellationToken)
    {
        var results = new List<GuestPerfResult>();
        foreach ((CreatedDomain d, string result) in created)
        {
            if (!File.Exists(result))
            {
                throw new IOException($"guest {d.DomId}{what} ended without a result; the end of its console log ({d.LogPath}): {SplitHost.LogTail(d)}");
            }

            results.Add(JsonSerializer.Deserialize(await File.ReadAllTextAsync(result, cancellationToken).ConfigureAwait(false), GuestPerfJsonContext.Default.GuestPerfResult)
                ?? throw new IOException($"guest {d.DomId} wrote an empty result"));
        }

        return results;
    }

    // Follows every guest's console log for its per-size lines until every guest process ended.
    private async Task WatchAsync(List<(CreatedDomain Domain, string Result)> guests, CancellationToken cancellationToken)
    {
        var offsets = new long[guests.Count];
        var sizesDone = new int[guests.Count];
        Task[] exits = guests.Select(g => SplitHost.WaitForExitAsync(g.Domain, cancellationToken)).ToArray();
        int total = _workload.Sample.Sizes.Count;
        Stopwatch clock = _clock;
        while (true)
        {
            bool running = false;
            for (int i = 0; i < guests.Count; i++)
            {
                foreach (string line in ReadNewLines(guests[i].Domain.LogPath, ref offsets[i]))
                {
                    if (line.StartsWith(GuestPerf.ProgressPrefix, StringComparison.Ordinal)
                        && JsonSerializer.Deserialize(line[GuestPerf.ProgressPrefix.Length..], CipherPerfJson.Default.CipherPerfResult) is { } r)
                    {
                        sizesDone[i]++;
                        _timeline.Add(new TimelinePoint(Math.Round(clock.Elapsed.TotalSeconds, 3), r.Mbps, guests[i].Domain.DomId, r.Size));
                        Report(string.Create(CultureInfo.InvariantCulture,
                            $"dom{guests[i].Domain.DomId}: {r.Size,5} B done, {r.OpsPerSec,9:F0} ops/s, {r.Mbps,8:F1} Mbit/s, p50 {r.LatencyNs.P50} ns ({sizesDone[i]}/{total} sizes, {clock.Elapsed.TotalSeconds:F1} s)"),
                            final: false);
                    }
                }

                running |= !exits[i].IsCompleted && !File.Exists(guests[i].Result);
            }

            if (!running)
            {
                Report("", final: true);
                return;
            }

            await Task.Delay(100, cancellationToken).ConfigureAwait(false);
        }
    }

    private void Report(string line, bool final)
    {
        if (_live)
        {
            // One status line rewritten in place on a terminal.
            _progress.Write("\r" + line.PadRight(110) + (final ? "\r" + new string(' ', 110) + "\r" : ""));
        }
        else if (!final)
        {
            _progress.WriteLine(line);
        }

        _progress.Flush();
    }

    private static IEnumerable<string> ReadNewLines(string path, ref long offset)
    {
        if (!File.Exists(path))
        {
            return [];
        }

        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        if (stream.Length <= offset)
        {
            return [];
        }

        stream.Position = offset;
        using var reader = new StreamReader(stream);
        string text = reader.ReadToEnd();
        int end = text.LastIndexOf('\n');
        if (end < 0)
        {
            return [];
        }

        offset += System.Text.Encoding.UTF8.GetByteCount(text.AsSpan(0, end + 1));
        return text[..end].Split('\n');
    }
}
