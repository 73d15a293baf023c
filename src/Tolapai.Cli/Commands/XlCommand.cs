using System.Globalization;
using Tolapai.Cli.CommandLine;
using Tolapai.Xen.Toolstack;

namespace Tolapai.Cli.Commands;

/// <summary><c>tolapai xl</c>: the toolstack — create, list, destroy guests and add devices, on a running dom0.</summary>
public static class XlCommand
{
    /// <summary>The usage text.</summary>
    public const string Usage = """
        usage: tolapai xl create [--run-dir DIR] [--name N] [--memory-pages P] [--grant-frames G] [--no-device] -- COMMAND [ARGS...]
               tolapai xl list [--run-dir DIR]
               tolapai xl destroy [--run-dir DIR] [--grace-ms MS] DOMAIN
               tolapai xl device-add [--run-dir DIR] DOMAIN TYPE
               tolapai xl migrate [--run-dir DIR] [--live] DOMAIN --to DEST-DIR
               tolapai xl suspend [--run-dir DIR] DOMAIN
               tolapai xl resume [--run-dir DIR] DOMAIN

        create      builds a guest domain on the dom0 of DIR: next free domid, P pages of memory
                    (default 1024) with G grant-table frames (default 4), its /local/domain/<id>
                    entries, an ixp device (unless --no-device), its xenstore ring introduced to
                    xenstored; then starts COMMAND (e.g. 'tolapai domu') as the guest process with
                    TOLAPAI_RUN_DIR, TOLAPAI_DOMID, TOLAPAI_XENSTORE_GFN, TOLAPAI_XENSTORE_PORT set and
                    its output in DIR/dom<id>.log. Prints the domid.
        list        domains: name, id, memory pages, state, pid.
        destroy     asks DOMAIN (a domid or a name) to power off (control/shutdown), kills it after
                    MS (default 5000), closes its devices, releases it in xenstored, removes its
                    entries and destroys the domain.
        device-add  adds a TYPE device (ixp) to DOMAIN: frontend and backend directories.
        migrate     moves DOMAIN to the dom0 of DEST-DIR (another host: its memory file is copied):
                    suspend (control/shutdown = suspend; the guest quiesces its devices and keeps
                    what is in flight), copy, build it there, resume it there (devices reconnect,
                    requests are resubmitted), release it here. The guest process keeps running.
                    --live copies its memory in rounds while it runs first (dirty-page log), so
                    only what is still dirty is copied while it is suspended. Prints the new
                    domid; the figures (rounds, pages, downtime) go to stderr.
        suspend     asks DOMAIN to suspend and waits until it has; 'resume' resumes it in place.

        """ + ToolstackCommandSupport.RunDirHelp + """

        Exit codes: 0 done, 1 no dom0 on DIR or DEST-DIR, no such domain, the guest could not
        start, or a migration failed (the guest then runs on where it was), 2 bad usage (bad
        number, missing '--', destroying dom0, unknown device type, migrating to the same host).
        """;

    private static readonly string[] CreateValued = ["run-dir", "name", "memory-pages", "grant-frames"];
    private static readonly OptionParser CreateParser = new(flags: ["no-device"], valued: CreateValued);
    private static readonly OptionParser ListParser = new(flags: [], valued: ["run-dir"]);
    private static readonly string[] DestroyValued = ["run-dir", "grace-ms"];
    private static readonly OptionParser DestroyParser = new(flags: [], valued: DestroyValued);
    private static readonly string[] MigrateValued = ["run-dir", "to"];
    private static readonly OptionParser MigrateParser = new(flags: ["live"], valued: MigrateValued);

    /// <summary>Runs the command on the words after <c>xl</c>.</summary>
    public static int Run(ReadOnlySpan<string> args)
    {
        if (args.Length == 0)
            throw new CommandLineException("xl needs a subcommand: create, list, destroy, device-add, migrate, suspend, resume (try 'tolapai xl --help')");
        string sub = args[0];
        ReadOnlySpan<string> rest = args[1..];
        if (sub is "-h" or "--help" or "help" || (sub != "create" && OptionParser.WantsHelp(rest)))
        {
            Console.Out.WriteLine(Usage);
            return ExitCodes.Success;
        }
        return sub switch
        {
            "create" => Create(rest),
            "list" => List(rest),
            "destroy" => Destroy(rest),
            "device-add" => DeviceAdd(rest),
            "migrate" => Migrate(rest),
            "suspend" => SuspendOrResume(rest, suspend: true),
            "resume" => SuspendOrResume(rest, suspend: false),
            _ => throw new CommandLineException($"unknown xl subcommand '{sub}' (create, list, destroy, device-add, migrate, suspend, resume)"),
        };
    }

    private static int Create(ReadOnlySpan<string> args)
    {
        (string[] optionWords, List<string> positional, string[]? command) = CommandWords.Split(args, CreateValued);
        if (command is null)
        {
            if (OptionParser.WantsHelp(args))
            {
                Console.Out.WriteLine(Usage);
                return ExitCodes.Success;
            }
            throw new CommandLineException("xl create needs '--' followed by the guest command, e.g. 'tolapai xl create -- tolapai domu'");
        }
        if (positional.Count > 0)
            throw new CommandLineException($"unexpected argument '{positional[0]}' before '--'");
        if (command.Length == 0)
            throw new CommandLineException("xl create: no guest command after '--'");
        ParsedOptions o = CreateParser.Parse(optionWords);
        var config = new DomainConfig
        {
            Name = o.Get("name"),
            MemoryPages = o.Get("memory-pages") is { } p ? CommandWords.Number("--memory-pages", p, 4, 1u << 20) : 1024,
            GrantFrames = o.Get("grant-frames") is { } g ? CommandWords.Number("--grant-frames", g, 1, 64) : 4,
            Devices = o.Has("no-device") ? [] : [DomainToolstack.IxpDeviceType],
        };
        string dir = ToolstackCommandSupport.RunDirectory(o);
        return ToolstackCommandSupport.Run(async () =>
        {
            await using DomainToolstack xl = await DomainToolstack.OpenAsync(dir).ConfigureAwait(false);
            CreatedDomain d = await xl.CreateAsync(config, command).ConfigureAwait(false);
            Console.Error.WriteLine($"xl: created domain {d.DomId.ToString(CultureInfo.InvariantCulture)} '{d.Name}' (pid {d.Pid.ToString(CultureInfo.InvariantCulture)}, console log {d.LogPath})");
            Console.Out.WriteLine(d.DomId.ToString(CultureInfo.InvariantCulture));
            return ExitCodes.Success;
        });
    }

    private static int List(ReadOnlySpan<string> args)
    {
        ParsedOptions o = ListParser.Parse(args);
        string dir = ToolstackCommandSupport.RunDirectory(o);
        return ToolstackCommandSupport.Run(async () =>
        {
            await using DomainToolstack xl = await DomainToolstack.OpenAsync(dir).ConfigureAwait(false);
            Console.Out.WriteLine(Format(await xl.ListAsync().ConfigureAwait(false)));
            return ExitCodes.Success;
        });
    }

    /// <summary>The table <c>xl list</c> prints.</summary>
    internal static string Format(IReadOnlyList<DomainListEntry> domains)
    {
        var sb = new System.Text.StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"{"Name",-32} {"ID",5} {"Mem pages",10} {"State",-9} {"pid",8}");
        foreach (DomainListEntry d in domains)
            sb.Append('\n').Append(CultureInfo.InvariantCulture, $"{d.Name,-32} {d.DomId,5} {d.Pages,10} {d.State,-9} {d.Pid,8}");
        return sb.ToString();
    }

    private static int Destroy(ReadOnlySpan<string> args)
    {
        (string[] optionWords, List<string> positional, string[]? extra) = CommandWords.Split(args, DestroyValued);
        ParsedOptions o = DestroyParser.Parse(optionWords);
        if (extra is not null || positional.Count != 1)
            throw new CommandLineException("xl destroy takes one domain (a domid or a name)");
        TimeSpan grace = TimeSpan.FromMilliseconds(o.Get("grace-ms") is { } g ? CommandWords.Number("--grace-ms", g, 0, 600_000) : 5000);
        string dir = ToolstackCommandSupport.RunDirectory(o);
        string which = positional[0];
        return ToolstackCommandSupport.Run(async () =>
        {
            await using DomainToolstack xl = await DomainToolstack.OpenAsync(dir).ConfigureAwait(false);
            ushort domid = await ResolveDomainAsync(xl, which).ConfigureAwait(false);
            await xl.DestroyAsync(domid, grace).ConfigureAwait(false);
            Console.Error.WriteLine($"xl: destroyed domain {domid.ToString(CultureInfo.InvariantCulture)}");
            return ExitCodes.Success;
        });
    }

    private static int Migrate(ReadOnlySpan<string> args)
    {
        (string[] optionWords, List<string> positional, string[]? extra) = CommandWords.Split(args, MigrateValued);
        ParsedOptions o = MigrateParser.Parse(optionWords);
        if (extra is not null || positional.Count != 1)
            throw new CommandLineException("xl migrate takes one domain (a domid or a name) and --to DEST-DIR");
        string to = o.Get("to") is { Length: > 0 } t ? t : throw new CommandLineException("xl migrate needs --to DEST-DIR (the run directory of the destination's dom0)");
        string dir = ToolstackCommandSupport.RunDirectory(o);
        string which = positional[0];
        var options = new MigrationOptions { Live = o.Has("live"), Log = line => Console.Error.WriteLine("xl: " + line) };
        return ToolstackCommandSupport.Run(async () =>
        {
            await using DomainToolstack xl = await DomainToolstack.OpenAsync(dir).ConfigureAwait(false);
            ushort domid = await ResolveDomainAsync(xl, which).ConfigureAwait(false);
            MigrationResult r = await xl.MigrateAsync(domid, to, options).ConfigureAwait(false);
            Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"xl: migrated domain {r.SourceDomId} to {Path.GetFullPath(to)} as domain {r.DestinationDomId} ({(r.Live ? "live" : "cold")}): {r.Rounds} pre-copy round(s), {r.PagesSent} pages sent, {r.FinalPages} while suspended, downtime {r.Downtime.TotalMilliseconds:F1} ms, total {r.Total.TotalMilliseconds:F1} ms"));
            Console.Out.WriteLine(r.DestinationDomId.ToString(CultureInfo.InvariantCulture));
            return ExitCodes.Success;
        });
    }

    private static int SuspendOrResume(ReadOnlySpan<string> args, bool suspend)
    {
        (string[] optionWords, List<string> positional, string[]? extra) = CommandWords.Split(args, ["run-dir"]);
        ParsedOptions o = ListParser.Parse(optionWords);
        string verb = suspend ? "suspend" : "resume";
        if (extra is not null || positional.Count != 1)
            throw new CommandLineException($"xl {verb} takes one domain (a domid or a name)");
        string dir = ToolstackCommandSupport.RunDirectory(o);
        string which = positional[0];
        return ToolstackCommandSupport.Run(async () =>
        {
            await using DomainToolstack xl = await DomainToolstack.OpenAsync(dir).ConfigureAwait(false);
            ushort domid = await ResolveDomainAsync(xl, which).ConfigureAwait(false);
            if (suspend)
                await xl.SuspendAsync(domid, TimeSpan.FromSeconds(15)).ConfigureAwait(false);
            else
                await xl.ResumeAsync(domid, TimeSpan.FromSeconds(20)).ConfigureAwait(false);
            Console.Error.WriteLine($"xl: {(suspend ? "suspended" : "resumed")} domain {domid.ToString(CultureInfo.InvariantCulture)}");
            return ExitCodes.Success;
        });
    }

    private static int DeviceAdd(ReadOnlySpan<string> args)
    {
        (string[] optionWords, List<string> positional, string[]? extra) = CommandWords.Split(args, ["run-dir"]);
        ParsedOptions o = ListParser.Parse(optionWords);
        if (extra is not null || positional.Count != 2)
            throw new CommandLineException("xl device-add takes a domain and a device type, e.g. 'xl device-add 1 ixp'");
        string dir = ToolstackCommandSupport.RunDirectory(o);
        string which = positional[0];
        string type = positional[1];
        return ToolstackCommandSupport.Run(async () =>
        {
            await using DomainToolstack xl = await DomainToolstack.OpenAsync(dir).ConfigureAwait(false);
            ushort domid = await ResolveDomainAsync(xl, which).ConfigureAwait(false);
            uint devid = await xl.AddDeviceAsync(domid, type).ConfigureAwait(false);
            Console.Out.WriteLine(devid.ToString(CultureInfo.InvariantCulture));
            return ExitCodes.Success;
        });
    }

    /// <summary>A domid (all digits, checked against the host's size) or a domain's name.</summary>
    private static async Task<ushort> ResolveDomainAsync(DomainToolstack xl, string which)
    {
        if (which.Length > 0 && which.All(char.IsAsciiDigit))
        {
            uint id = CommandWords.Number("domid", which, 0, xl.Host.MaxDomains - 1);
            if (id == 0)
                throw new CommandLineException("domain 0 is the dom0 itself; stop it with SIGINT/SIGTERM, not xl");
            return (ushort)id;
        }
        return await xl.FindByNameAsync(which).ConfigureAwait(false) is ushort byName
            ? byName
            : throw new ToolstackException($"no domain named '{which}' on {xl.RunDirectory}");
    }
}
