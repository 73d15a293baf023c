using System.Globalization;
using Tolapai.Cli.CommandLine;
using Tolapai.Tracing;
using Tolapai.Xen.Hypervisor;
using Tolapai.Xen.Toolstack;

namespace Tolapai.Cli.Commands;

/// <summary>
/// <c>tolapai trace</c>: EventPipe traces of the dom0 and guest processes of a host (or of given
/// pids) for a while, one .nettrace per process; <c>tolapai trace report FILE...</c> summarises them.
/// </summary>
internal static class TraceCommand
{
    private static readonly OptionParser Parser = new(flags: [], valued: ["run-dir", "pid", "duration", "out"]);

    internal const string Help = """
        usage: tolapai trace [--run-dir DIR | --pid PID[,PID...]] [--duration SECONDS] [--out DIR]
               tolapai trace report FILE.nettrace...

        Attaches to the dom0 and every guest process of the host on DIR (default: the
        dom0 default run directory, or $TOLAPAI_RUN_DIR), or to the given pids, and
        records an EventPipe trace of each for --duration seconds (default 5): the
        Tolapai-DataPlane provider (request latency per stage, ring full, notifications,
        park/wake, grants, Xenbus, migrations; counters every second), CPU samples and GC
        events. Writes OUT/dom0.nettrace, OUT/dom<N>.nettrace (default OUT: ./trace-<time>).
        Ctrl-C stops early and keeps what was collected. The files open in PerfView,
        'dotnet-trace convert' and Visual Studio, and 'tolapai trace report' summarises
        them: latency histogram per stage, top CPU methods, GC pauses, counters.
        """;

    public static int Run(ReadOnlySpan<string> args)
    {
        if (args.Length > 0 && args[0] == "report")
        {
            return Report(args[1..]);
        }

        if (OptionParser.WantsHelp(args))
        {
            Console.Out.WriteLine(Help);
            return ExitCodes.Success;
        }

        ParsedOptions options = Parser.Parse(args);
        double seconds = 5;
        if (options.Get("duration") is string d && (!double.TryParse(d, NumberStyles.Float, CultureInfo.InvariantCulture, out seconds) || !double.IsFinite(seconds) || seconds <= 0 || seconds > 3600))
        {
            throw new CommandLineException($"--duration '{d}' is not a number of seconds in (0, 3600]");
        }

        if (options.Get("pid") is not null && options.Get("run-dir") is not null)
        {
            throw new CommandLineException("give --run-dir or --pid, not both");
        }

        IReadOnlyList<TraceTarget> targets = options.Get("pid") is string pids ? FromPids(pids) : FromRunDirectory(RunDirectories.Resolve(options.Get("run-dir")));
        string outDir = options.Get("out") ?? Path.Combine(Directory.GetCurrentDirectory(), "trace-" + DateTime.Now.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture));
        using var cancel = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) =>
        {
            e.Cancel = true;
            cancel.Cancel();
        };
        Console.CancelKeyPress += onCancel;
        try
        {
            Console.Error.WriteLine($"tracing {string.Join(", ", targets.Select(t => $"{t.Name} (pid {t.ProcessId})"))} for {seconds:0.#} s ...");
            IReadOnlyList<TraceFile> files = TraceCollector.CollectAsync(targets, TimeSpan.FromSeconds(seconds), outDir, cancellationToken: cancel.Token).GetAwaiter().GetResult();
            int failed = 0;
            foreach (TraceFile f in files)
            {
                if (f.Path is not null)
                {
                    Console.Out.WriteLine($"{f.Target.Name,-8} pid {f.Target.ProcessId,-8} {f.Path} ({f.Bytes / 1024} KiB){(f.Error is null ? "" : " — " + f.Error)}");
                }
                else
                {
                    failed++;
                    Console.Error.WriteLine($"tolapai: {f.Target.Name}: {f.Error}");
                }
            }

            return failed == files.Count ? ExitCodes.Failure : ExitCodes.Success;
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
        }
    }

    private static int Report(ReadOnlySpan<string> files)
    {
        if (files.Length == 0 || OptionParser.WantsHelp(files))
        {
            if (files.Length == 0)
            {
                throw new CommandLineException("trace report needs at least one .nettrace file");
            }

            Console.Out.WriteLine(Help);
            return ExitCodes.Success;
        }

        int status = ExitCodes.Success;
        foreach (string file in files)
        {
            try
            {
                TraceReport.Write(TraceReport.Summarize(file), Console.Out);
            }
            catch (Exception e) when (e is InvalidDataException or FileNotFoundException)
            {
                Console.Error.WriteLine($"tolapai: {e.Message.ReplaceLineEndings(" ")}");
                status = ExitCodes.Failure;
            }
        }

        return status;
    }

    private static TraceTarget[] FromPids(string text)
    {
        var targets = new List<TraceTarget>();
        foreach (string part in text.Split(',', StringSplitOptions.TrimEntries))
        {
            if (!int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out int pid) || pid <= 0)
            {
                throw new CommandLineException($"--pid '{part}' is not a process id");
            }

            targets.Add(new TraceTarget(pid, "pid" + pid.ToString(CultureInfo.InvariantCulture)));
        }

        return [.. targets];
    }

    private static TraceTarget[] FromRunDirectory(string runDirectory)
    {
        if (RunDirectories.ReadDom0Pid(runDirectory) is not int dom0 || !File.Exists(Path.Combine(runDirectory, Host.RegionFileName)))
        {
            throw new CommandLineException($"no dom0 running on {runDirectory} (start one with 'tolapai dom0 --run-dir {runDirectory}', or give --pid)");
        }

        var targets = new List<TraceTarget> { new(dom0, "dom0") };
        using Host host = Host.Open(runDirectory);
        for (uint id = 1; id < host.MaxDomains; id++)
        {
            if (host.Lookup((ushort)id) is { Pid: > 0 } info && info.Pid != dom0)
            {
                targets.Add(new TraceTarget(info.Pid, "dom" + id.ToString(CultureInfo.InvariantCulture)));
            }
        }

        return [.. targets];
    }
}
