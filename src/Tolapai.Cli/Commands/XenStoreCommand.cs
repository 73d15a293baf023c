using System.Globalization;
using System.Net.Sockets;
using System.Text;
using Tolapai.Cli.CommandLine;
using Tolapai.Xen.Toolstack;
using Tolapai.Xen.XenStore;

namespace Tolapai.Cli.Commands;

/// <summary><c>tolapai xenstore</c>: a dom0 XenStore client on the dom0's socket, as Xen's xenstore-* tools.</summary>
public static class XenStoreCommand
{
    /// <summary>The usage text.</summary>
    public const string Usage = """
        usage: tolapai xenstore read PATH...              values, one per line
               tolapai xenstore write PATH VALUE [PATH VALUE...]
               tolapai xenstore rm PATH...                 recursive, as xenstore-rm
               tolapai xenstore exists PATH                exit 0 if it exists, 1 if not
               tolapai xenstore list PATH                  child names, one per line
               tolapai xenstore ls [--perms] [PATH]        the tree below PATH (default /), as xenstore-ls [-p]
               tolapai xenstore chmod PATH PERM...         Xen's syntax: n0 r5 b7 (first = owner and default)
               tolapai xenstore watch [--count N] PATH     changed paths, one per line, until SIGINT/SIGTERM
                                                           or N events (the one at set included)
        every form takes --run-dir DIR (default: $TOLAPAI_RUN_DIR, else /dev/shm/tolapai/host0);
        '--' ends the options (for values that start with '--').

        Exit codes: 0 done, 1 no dom0 on DIR or a XenStore error (ENOENT, EACCES, ...),
        2 bad usage (missing arguments, bad permission).
        """;

    private static readonly string[] Valued = ["run-dir", "count"];
    private static readonly OptionParser Parser = new(flags: ["perms"], valued: Valued);

    /// <summary>Runs the command on the words after <c>xenstore</c>.</summary>
    public static int Run(ReadOnlySpan<string> args)
    {
        if (args.Length == 0)
            throw new CommandLineException("xenstore needs a subcommand: read, write, rm, exists, list, ls, chmod, watch (try 'tolapai xenstore --help')");
        string sub = args[0];
        if (sub is "-h" or "--help" or "help" || OptionParser.WantsHelp(args[1..]))
        {
            Console.Out.WriteLine(Usage);
            return ExitCodes.Success;
        }
        (string[] optionWords, List<string> words, string[]? after) = CommandWords.Split(args[1..], Valued);
        if (after is not null)
            words.AddRange(after);
        ParsedOptions o = Parser.Parse(optionWords);
        if (o.Has("perms") && sub != "ls")
            throw new CommandLineException("--perms is for 'xenstore ls'");
        if (o.Get("count") is not null && sub != "watch")
            throw new CommandLineException("--count is for 'xenstore watch'");
        int? count = o.Get("count") is { } c ? (int)CommandWords.Number("--count", c, 1, int.MaxValue) : null;
        Func<XenStoreClient, Task<int>> action = sub switch
        {
            "read" => Need(words, 1, null, "read PATH...", xs => Read(xs, words)),
            "write" => words.Count >= 2 && words.Count % 2 == 0 ? xs => Write(xs, words) : throw new CommandLineException("xenstore write takes PATH VALUE pairs"),
            "rm" => Need(words, 1, null, "rm PATH...", xs => Rm(xs, words)),
            "exists" => Need(words, 1, 1, "exists PATH", xs => Exists(xs, words[0])),
            "list" => Need(words, 1, 1, "list PATH", xs => List(xs, words[0])),
            "ls" => Need(words, 0, 1, "ls [PATH]", xs => Ls(xs, words.Count == 0 ? "/" : words[0], o.Has("perms"))),
            "chmod" => Need(words, 2, null, "chmod PATH PERM...", xs => Chmod(xs, words[0], ParsePerms(words.Skip(1)))),
            "watch" => Need(words, 1, 1, "watch PATH", xs => Watch(xs, words[0], count)),
            _ => throw new CommandLineException($"unknown xenstore subcommand '{sub}' (read, write, rm, exists, list, ls, chmod, watch)"),
        };
        string dir = ToolstackCommandSupport.RunDirectory(o);
        return ToolstackCommandSupport.Run(async () =>
        {
            XenStoreClient xs;
            try
            {
                xs = await XenStoreClient.ConnectAsync(XenStoreDaemon.SocketPathFor(dir)).ConfigureAwait(false);
            }
            catch (SocketException)
            {
                throw new ToolstackException($"no dom0 running on {dir} (no xenstored at {XenStoreDaemon.SocketPathFor(dir)})");
            }
            await using (xs.ConfigureAwait(false))
            {
                try
                {
                    return await action(xs).ConfigureAwait(false);
                }
                catch (XenStoreException e)
                {
                    Console.Error.WriteLine($"tolapai: xenstore {sub}: {e.Message}");
                    return ExitCodes.Failure;
                }
            }
        });
    }

    private static Func<XenStoreClient, Task<int>> Need(List<string> words, int min, int? max, string form, Func<XenStoreClient, Task<int>> action) =>
        words.Count >= min && (max is null || words.Count <= max) ? action : throw new CommandLineException($"usage: tolapai xenstore {form}");

    private static XsPermission[] ParsePerms(IEnumerable<string> words) =>
        [.. words.Select(w => XsPermission.TryParse(w, out XsPermission p) ? p
            : throw new CommandLineException($"bad permission '{w}': a letter n, r, w or b followed by a domid, e.g. n0 r5 b7"))];

    private static async Task<int> Read(XenStoreClient xs, List<string> paths)
    {
        foreach (string p in paths)
            Console.Out.WriteLine(await xs.ReadStringAsync(p).ConfigureAwait(false));
        return ExitCodes.Success;
    }

    private static async Task<int> Write(XenStoreClient xs, List<string> pairs)
    {
        for (int i = 0; i < pairs.Count; i += 2)
            await xs.WriteAsync(pairs[i], pairs[i + 1]).ConfigureAwait(false);
        return ExitCodes.Success;
    }

    private static async Task<int> Rm(XenStoreClient xs, List<string> paths)
    {
        foreach (string p in paths)
            await xs.RmAsync(p).ConfigureAwait(false);
        return ExitCodes.Success;
    }

    private static async Task<int> Exists(XenStoreClient xs, string path) =>
        await xs.ExistsAsync(path).ConfigureAwait(false) ? ExitCodes.Success : ExitCodes.Failure;

    private static async Task<int> List(XenStoreClient xs, string path)
    {
        foreach (string child in await xs.DirectoryAsync(path).ConfigureAwait(false))
            Console.Out.WriteLine(child);
        return ExitCodes.Success;
    }

    private static async Task<int> Ls(XenStoreClient xs, string path, bool perms)
    {
        var sb = new StringBuilder();
        await LsInto(xs, path, 0, perms, sb).ConfigureAwait(false);
        Console.Out.Write(sb.ToString());
        return ExitCodes.Success;
    }

    /// <summary>As xenstore-ls: one line per child, <c>name = "value"</c>, one space of indent per level.</summary>
    private static async Task LsInto(XenStoreClient xs, string path, int depth, bool perms, StringBuilder sb)
    {
        foreach (string child in await xs.DirectoryAsync(path).ConfigureAwait(false))
        {
            string full = path == "/" ? "/" + child : path + "/" + child;
            string value;
            try
            {
                value = Escape(await xs.ReadAsync(full).ConfigureAwait(false));
            }
            catch (XenStoreException e) when (e.ErrorName is XsErrors.ENOENT or XsErrors.EACCES)
            {
                continue; // removed meanwhile
            }
            sb.Append(' ', depth).Append(child).Append(" = \"").Append(value).Append('"');
            if (perms)
                sb.Append("  (").Append(string.Join(',', await xs.GetPermsAsync(full).ConfigureAwait(false))).Append(')');
            sb.Append('\n');
            await LsInto(xs, full, depth + 1, perms, sb).ConfigureAwait(false);
        }
    }

    private static string Escape(byte[] value)
    {
        var sb = new StringBuilder();
        foreach (byte b in value)
        {
            if (b is >= 0x20 and < 0x7F && b != '\\' && b != '"')
                sb.Append((char)b);
            else
                sb.Append('\\').Append(Convert.ToString(b, 8).PadLeft(3, '0'));
        }
        return sb.ToString();
    }

    private static async Task<int> Chmod(XenStoreClient xs, string path, XsPermission[] perms)
    {
        await xs.SetPermsAsync(path, perms).ConfigureAwait(false);
        return ExitCodes.Success;
    }

    private static async Task<int> Watch(XenStoreClient xs, string path, int? count)
    {
        using var signals = new ToolstackCommandSupport.SignalScope();
        await xs.WatchAsync(path, "tolapai-watch").ConfigureAwait(false);
        int seen = 0;
        try
        {
            while (count is null || seen < count)
            {
                XsWatchEvent e = await xs.WatchEvents.ReadAsync(signals.Token).ConfigureAwait(false);
                Console.Out.WriteLine(e.Path);
                Console.Out.Flush();
                seen++;
            }
        }
        catch (OperationCanceledException)
        {
            // SIGINT or SIGTERM: done.
        }
        catch (System.Threading.Channels.ChannelClosedException)
        {
            Console.Error.WriteLine("tolapai: xenstore watch: xenstored closed the connection");
            return ExitCodes.Failure;
        }
        return ExitCodes.Success;
    }

    internal static string Id(uint v) => v.ToString(CultureInfo.InvariantCulture);
}
