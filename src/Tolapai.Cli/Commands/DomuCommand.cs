using System.Globalization;
using Tolapai.Cli.CommandLine;
using Tolapai.Xen.Toolstack;

namespace Tolapai.Cli.Commands;

/// <summary>
/// <c>tolapai domu</c>: the guest program that <c>tolapai xl create</c> starts. It attaches to
/// its domain from the start info in its environment and runs a workload (a subcommand) until
/// the toolstack asks it to power off or it gets SIGTERM/SIGINT.
/// </summary>
public static class DomuCommand
{
    /// <summary>The usage text.</summary>
    public const string Usage = """
        usage: tolapai xl create [...] -- tolapai domu [idle] [--heartbeat-ms MS]
               tolapai xl create [...] -- tolapai domu perf --result FILE [perf options] [--ring-page-order N] [--hold] [--until-stopped]

        The guest program. Started by 'tolapai xl create', it reads its start info
        (TOLAPAI_RUN_DIR, TOLAPAI_DOMID, TOLAPAI_XENSTORE_GFN, TOLAPAI_XENSTORE_PORT), maps its
        memory, connects to xenstored over its own xenstore ring, advertises
        control/feature-poweroff, heartbeats, and runs its workload:

          idle   (default) does nothing until told to stop
          perf   connects its ixp device (the split driver) and runs the CPA cipher sample on it
                 (the options of 'tolapai perf': --alg --decrypt --sizes --ops --depth --warmup
                 --seed --completion), printing a 'perf-size {json}' line per packet size and
                 writing the whole result as JSON to --result FILE; this is what 'tolapai perf'
                 starts in its guests. --ring-page-order N: ring pages 2^N (0..4, default 2);
                 --hold: after the result, stay up until told to stop (for a trace).
                 --until-stopped: each size runs until SIGUSR1 (then what is in flight
                 completes, later sizes are skipped and the result is written) or --ops,
                 instead of --ops or --seconds: a workload held while the guest is moved.
          cipher ciphers --in FILE to --out FILE through its ixp device (--alg, --key-file,
                 --iv, --decrypt): what 'tolapai cipher' without --local starts

        It exits 0 when the toolstack writes control/shutdown (poweroff, halt, reboot: 'xl destroy'
        or the dom0 stopping) or on SIGTERM/SIGINT; 1 when xenstored goes away or attaching fails;
        2 when not started by 'xl create' or on bad usage.

          --heartbeat-ms MS   heartbeat period in the domain table (default 1000)
        """;

    private static readonly OptionParser Parser = new(flags: [], valued: ["heartbeat-ms"]);

    /// <summary>The workloads, by subcommand name: each parses its own options (--heartbeat-ms included).</summary>
    private static readonly Dictionary<string, (OptionParser Parser, Func<ParsedOptions, Func<DomainContext, CancellationToken, Task<int>>> Create)> Workloads = new(StringComparer.Ordinal)
    {
        ["idle"] = (Parser, _ => IdleAsync),
        ["perf"] = (Split.GuestPerf.Parser, Split.GuestPerf.Parse),
        ["cipher"] = (Split.GuestCipher.Parser, Split.GuestCipher.Parse),
    };

    /// <summary>Runs the command on the words after <c>domu</c>.</summary>
    public static int Run(ReadOnlySpan<string> args)
    {
        if (OptionParser.WantsHelp(args))
        {
            Console.Out.WriteLine(Usage);
            return ExitCodes.Success;
        }
        string workload = "idle";
        if (args.Length > 0 && !args[0].StartsWith("--", StringComparison.Ordinal))
        {
            workload = args[0];
            args = args[1..];
        }
        if (!Workloads.TryGetValue(workload, out var entry))
            throw new CommandLineException($"unknown domu workload '{workload}' (known: {string.Join(", ", Workloads.Keys)})");
        ParsedOptions o = entry.Parser.Parse(args);
        Func<DomainContext, CancellationToken, Task<int>> body = entry.Create(o);
        TimeSpan heartbeat = TimeSpan.FromMilliseconds(o.Get("heartbeat-ms") is { } h ? CommandWords.Number("--heartbeat-ms", h, 10, 600_000) : 1000);
        GuestStartInfo info;
        try
        {
            info = GuestStartInfo.FromEnvironment();
        }
        catch (InvalidOperationException e)
        {
            throw new CommandLineException(e.Message, e);
        }
        return ToolstackCommandSupport.Run(() => RunAsync(info, heartbeat, body));
    }

    private static async Task<int> RunAsync(GuestStartInfo info, TimeSpan heartbeat, Func<DomainContext, CancellationToken, Task<int>> body)
    {
        using var signals = new ToolstackCommandSupport.SignalScope();
        DomainContext domain;
        try
        {
            domain = await DomainContext.AttachAsync(info, heartbeat).ConfigureAwait(false);
        }
        catch (Exception e) when (e is InvalidOperationException or IOException or ArgumentOutOfRangeException)
        {
            Console.Error.WriteLine($"domu: cannot attach to domain {info.DomId.ToString(CultureInfo.InvariantCulture)}: {e.Message}");
            return ExitCodes.Failure;
        }
        await using (domain.ConfigureAwait(false))
        {
            // Read over the ring: what this domain may see of its own home.
            string[] home;
            using (await domain.HoldOffSuspendAsync().ConfigureAwait(false))
            {
                // Not across a move: the client and domid it reads with would change under it.
                home = await domain.XenStore.DirectoryAsync(Xen.XenStore.XsPath.DomainPath(domain.DomId)).ConfigureAwait(false);
            }

            Log($"domain {domain.DomId.ToString(CultureInfo.InvariantCulture)} '{domain.Name}' attached (pid {Environment.ProcessId.ToString(CultureInfo.InvariantCulture)}, "
                + $"xenstore ring gfn {info.XenStoreFrame.ToString(CultureInfo.InvariantCulture)} port {info.XenStorePort.ToString(CultureInfo.InvariantCulture)}); home: {string.Join(' ', home)}");
            domain.Resumed += (_, r) => Log(string.Create(CultureInfo.InvariantCulture,
                $"resumed ({r.Cause}) on {r.ToRunDirectory} as domain {r.ToDomId} (was {r.FromDomId} on {r.FromRunDirectory}) after {r.Outage.TotalMilliseconds:F1} ms"));
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(signals.Token);
            Task<int> work = body(domain, stop.Token);
            Task first = await Task.WhenAny(work, domain.ShutdownRequested, Task.Delay(Timeout.Infinite, signals.Token)).ConfigureAwait(false);
            await stop.CancelAsync().ConfigureAwait(false);
            int code = await work.ConfigureAwait(false);
            if (first == domain.ShutdownRequested)
            {
                string request = await domain.ShutdownRequested.ConfigureAwait(false);
                if (request == "disconnected")
                {
                    Log("xenstored went away: stopping");
                    return ExitCodes.Failure;
                }
                Log($"shutdown requested ({request}): stopping");
                return ExitCodes.Success;
            }
            if (first != work)
            {
                Log($"{signals.Signal}: stopping");
                return ExitCodes.Success;
            }
            return code;
        }
    }

    private static async Task<int> IdleAsync(DomainContext domain, CancellationToken cancellationToken)
    {
        try
        {
            await Task.Delay(Timeout.Infinite, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Stopping.
        }
        return ExitCodes.Success;
    }

    private static void Log(string line)
    {
        Console.Out.WriteLine("domu: " + line);
        Console.Out.Flush();
    }
}
