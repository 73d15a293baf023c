using System.Globalization;
using Tolapai.Ixp.Frontend;
using Tolapai.Xen.Hypervisor;
using Tolapai.Xen.Memory;
using Tolapai.Xen.XenStore;

namespace Tolapai.Ixp.TestChild;

/// <summary>
/// usage: Tolapai.Ixp.TestChild ROLE RUNDIR DOMID [key=value ...]
/// Waits for "go STOREGFN STOREPORT" on stdin (the toolstack has made its domain for this
/// process, introduced it and added the device), opens ixp device 0 and runs ROLE. Prints "CONNECTED", role lines, "OK ..." on
/// success, "FAIL ..." (exit 1) otherwise. ROLE "backend" (DOMID 0) is dom0's side instead: see
/// <see cref="BackendRole.Run"/>. Options: queues, order, persistent, indirect,
/// sessions, seed, ms (load time), depth, size, warmup, hold (load: WARM, then wait for "run");
/// window: depth, size, every, sample-ms.
/// </summary>
public static class Program
{
    public static async Task<int> Main(string[] args)
    {
        if (args.Length < 3)
        {
            Console.Error.WriteLine("usage: Tolapai.Ixp.TestChild ROLE RUNDIR DOMID [key=value ...]");
            return 2;
        }

        try
        {
            if (args[0] == "backend")
            {
                return await BackendRole.Run(args[1]);
            }

            Dictionary<string, string> o = args.Skip(3).Select(a => a.Split('=', 2)).ToDictionary(kv => kv[0], kv => kv[1]);
            string[] go = (await Console.In.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30)) ?? "").Split(' ');
            if (go.Length != 3 || go[0] != "go")
            {
                Say("FAIL no go");
                return 1;
            }

            using Host host = Host.Open(args[1]);
            ushort domid = ushort.Parse(args[2], CultureInfo.InvariantCulture);
            uint gfn = uint.Parse(go[1], CultureInfo.InvariantCulture);
            uint port = uint.Parse(go[2], CultureInfo.InvariantCulture);
            GuestMemory memory = host.MapGuestMemory(domid) ?? throw new InvalidOperationException($"dom{domid} has no memory");
            // Frames: grant table, then the xenstore page (here the first data frame), then free.
            var pages = GuestPageAllocator.AllExcept(memory, gfn);
            await using XenStoreClient store = XenStoreClient.ConnectRing(host, domid, gfn, port);
            await store.ResetWatchesAsync();
            var options = new IxpFrontendOptions
            {
                Queues = Int(o, "queues", 1),
                RingPageOrder = Int(o, "order", 0),
                Persistent = Int(o, "persistent", 1) == 1,
                IndirectSegments = Int(o, "indirect", 0),
                Sessions = Int(o, "sessions", 1) == 1,
            };
            await using IxpFrontend front = await IxpFrontend.ConnectAsync(host, pages, store, 0, options);
            Say($"CONNECTED queues={front.Negotiated.Queues} order={front.Negotiated.RingPageOrder} persistent={(front.Negotiated.Persistent ? 1 : 0)} indirect={front.Negotiated.MaxIndirectSegments} sessions={(front.Negotiated.Sessions ? 1 : 0)}");
            int rc = args[0] switch
            {
                "cpa" => Roles.Cpa(front, Int(o, "seed", 1), Int(o, "interrupt", 0) == 1 ? Cpa.CompletionMode.Interrupt : Cpa.CompletionMode.Polling),
                "v1" => Roles.V1(front, Int(o, "seed", 1)),
                "foreign" => Roles.Foreign(front, Int(o, "seed", 1)),
                "hold" => Roles.Hold(front),
                "orphan" => Roles.Orphan(front),
                "sample" => Roles.Sample(front, Int(o, "depth", 64), Int(o, "ops", 2000)),
                "window" => Roles.Window(front, Int(o, "depth", 64), Int(o, "size", 4096), Int(o, "every", 1000), Int(o, "sample-ms", 5)),
                "load" => Roles.Load(front, Int(o, "ms", 500), Int(o, "depth", 32), Int(o, "size", 4096), Int(o, "warmup", 300), Int(o, "hold", 0) == 1),
                "hostile-requests" => Hostile.Requests(front, o.GetValueOrDefault("case", "")),
                "hostile-rewrite" => Hostile.Rewrite(front),
                "hostile-index" => Hostile.BogusIndex(front),
                "hostile-flood" => Hostile.Flood(front),
                "hostile-noconsume" => Hostile.NoConsume(front),
                _ => 2,
            };
            if (rc == 0 && args[0] is not ("hostile-index" or "hold"))
            {
                // Stay until the test says so, so the backend is not torn down under a sibling's measurement.
                _ = await Console.In.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60));
            }

            return rc;
        }
        catch (Exception e)
        {
            Say($"FAIL {e}");
            return 1;
        }
    }

    internal static int Int(Dictionary<string, string> o, string key, int fallback) =>
        o.TryGetValue(key, out string? v) ? int.Parse(v, CultureInfo.InvariantCulture) : fallback;

    internal static void Say(string line)
    {
        Console.WriteLine(line);
        Console.Out.Flush();
    }

    internal static void Check(bool ok, string what)
    {
        if (!ok)
        {
            throw new InvalidOperationException("check failed: " + what);
        }
    }
}
