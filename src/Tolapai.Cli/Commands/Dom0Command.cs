using System.Globalization;
using Tolapai.Cli.CommandLine;
using Tolapai.Device;
using Tolapai.Ixp.Backend;
using Tolapai.Xen.Toolstack;

namespace Tolapai.Cli.Commands;

/// <summary><c>tolapai dom0</c>: runs a host's dom0 (hypervisor region, xenstored, reaper, accelerator and ixp backend) until SIGINT or SIGTERM.</summary>
public static class Dom0Command
{
    /// <summary>The usage text.</summary>
    public const string Usage = """
        usage: tolapai dom0 [--run-dir DIR] [--keep] [--max-domains N] [--grace-ms MS] [--heartbeat-timeout-ms MS]
                            [--engines E] [--coherence fast|strict] [--backend-workers W] [--no-accelerator]
                            [--max-ring-page-order N] [--no-persistent]

        Creates the host in DIR (the hypervisor region and domain 0), starts xenstored on
        DIR/xenstored/socket, writes dom0's XenStore entries, starts the emulated accelerator (its
        ring region in DIR/accelerator.region) and the ixp backend, prints where the socket is,
        and runs until SIGINT or SIGTERM. Guests are started with 'tolapai xl create'; a guest whose process
        dies is reaped (devices Closed, released in xenstored, entries removed, domain destroyed).
        On SIGINT/SIGTERM every guest is asked to power off (control/shutdown), killed after the
        grace period, and destroyed; then the run directory's files are removed.

        """ + ToolstackCommandSupport.RunDirHelp + """
          --keep                     leave the run directory's files when stopping
          --max-domains N            domain slots, dom0 included (2..32752, default 32)
          --grace-ms MS              how long guests have to power off at shutdown (default 5000)
          --heartbeat-timeout-ms MS  also kill and reap guests whose heartbeat is older than MS
                                     (default: off; must exceed a guest's start-up time)
          --engines E                accelerator engine threads (1..64, default 1)
          --coherence MODE           fast (default: flush/invalidate are fences) or strict
                                     (separate CPU and device copies of the ring region)
          --backend-workers W        ixp backend worker threads, one driver instance each (1..4, default 1)
          --max-ring-page-order N    the largest ring the ixp backend offers, 2^N pages (0..4, default 4)
          --no-persistent            the ixp backend does not offer persistent grants (maps per request)
          --no-accelerator           neither the accelerator nor the ixp backend: xenstored, the
                                     toolstack and the reaper only (another process may serve ixp)

        A second dom0 on the same DIR is refused (exit 1). A DIR left by a dom0 that was killed is
        recovered: its orphaned guests are killed and its files replaced.

        Exit codes: 0 stopped cleanly, 1 could not start (DIR held by another dom0, I/O error),
        2 bad usage.
        """;

    private static readonly OptionParser Parser = new(flags: ["keep", "no-accelerator", "no-persistent"], valued: ["run-dir", "max-domains", "grace-ms", "heartbeat-timeout-ms", "engines", "coherence", "backend-workers", "max-ring-page-order"]);

    /// <summary>Runs the command on the words after <c>dom0</c>.</summary>
    public static int Run(ReadOnlySpan<string> args)
    {
        if (OptionParser.WantsHelp(args))
        {
            Console.Out.WriteLine(Usage);
            return ExitCodes.Success;
        }

        ParsedOptions o = Parser.Parse(args);
        bool backendOptions = (o.Get("engines") ?? o.Get("coherence") ?? o.Get("backend-workers") ?? o.Get("max-ring-page-order")) is not null || o.Has("no-persistent");
        if (o.Has("no-accelerator") && backendOptions)
        {
            throw new CommandLineException("--engines, --coherence, --backend-workers, --max-ring-page-order and --no-persistent describe the accelerator and its backend, which --no-accelerator leaves out");
        }

        var options = new Dom0Options
        {
            RunDirectory = ToolstackCommandSupport.RunDirectory(o),
            Keep = o.Has("keep"),
            MaxDomains = o.Get("max-domains") is { } m ? CommandWords.Number("--max-domains", m, 2, 0x7FF0) : 32,
            ShutdownGrace = TimeSpan.FromMilliseconds(o.Get("grace-ms") is { } g ? CommandWords.Number("--grace-ms", g, 0, 600_000) : 5000),
            HeartbeatTimeout = o.Get("heartbeat-timeout-ms") is { } h ? TimeSpan.FromMilliseconds(CommandWords.Number("--heartbeat-timeout-ms", h, 100, 3_600_000)) : null,
            Log = line => Console.Error.WriteLine("dom0: " + line),
            Services = o.Has("no-accelerator") ? [] : [AcceleratorService(o)],
        };
        return ToolstackCommandSupport.Run(() => RunAsync(options));
    }

    /// <summary>The accelerator and ixp backend service from the <c>--engines</c>, <c>--coherence</c> and <c>--backend-workers</c> options.</summary>
    internal static IxpBackendService AcceleratorService(ParsedOptions o)
    {
        int workers = o.Get("backend-workers") is { } w ? (int)CommandWords.Number("--backend-workers", w, 1, 4) : 1;
        var device = new DeviceOptions
        {
            Engines = o.Get("engines") is { } e ? (int)CommandWords.Number("--engines", e, 1, 64) : 1,
            Coherence = (o.Get("coherence") ?? "fast") switch
            {
                "fast" => CoherenceMode.Fast,
                "strict" => CoherenceMode.Strict,
                string c => throw new CommandLineException($"unknown --coherence '{c}' (fast or strict)"),
            },
            RingPairs = Math.Max(4, workers),
        };
        var backend = new IxpBackendOptions
        {
            MaxRingPageOrder = o.Get("max-ring-page-order") is { } order ? (int)CommandWords.Number("--max-ring-page-order", order, 0, 4) : 4,
            Persistent = !o.Has("no-persistent"),
        };
        return new IxpBackendService(device, backend, workers);
    }

    private static async Task<int> RunAsync(Dom0Options options)
    {
        using var signals = new ToolstackCommandSupport.SignalScope();
        Dom0Host dom0 = await Dom0Host.StartAsync(options).ConfigureAwait(false);
        try
        {
            Console.Out.WriteLine($"dom0: run directory {dom0.RunDirectory}");
            Console.Out.WriteLine($"dom0: xenstored listening on {dom0.SocketPath}");
            Console.Out.WriteLine($"export XENSTORED_PATH={dom0.SocketPath}");
            Console.Out.WriteLine($"dom0: ready (pid {Environment.ProcessId.ToString(CultureInfo.InvariantCulture)}); SIGINT or SIGTERM stops it");
            Console.Out.Flush();
            try
            {
                await Task.Delay(Timeout.Infinite, signals.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                Console.Error.WriteLine($"dom0: {signals.Signal}: shutting down");
            }
        }
        finally
        {
            await dom0.StopAsync().ConfigureAwait(false);
        }
        Console.Error.WriteLine(options.Keep ? $"dom0: stopped; files kept in {dom0.RunDirectory}" : "dom0: stopped; run directory cleaned");
        return ExitCodes.Success;
    }
}
