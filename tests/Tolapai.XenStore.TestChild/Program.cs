using System.Globalization;
using Tolapai.Xen.Hypervisor;
using Tolapai.Xen.Toolstack;
using Tolapai.Xen.XenStore;
using Tolapai.Xen.Xenbus;

namespace Tolapai.XenStore.TestChild;

/// <summary>
/// usage: Tolapai.XenStore.TestChild &lt;guest|hostile|frontend-closes|frontend-waits&gt; RUNDIR DOMID GFN PORT.
/// Prints "READY" when its watch is set (guest), "CONNECTED" when its ixp frontend is
/// Connected (frontend-*), "DONE" on success, "FAIL ..." (exit 1) otherwise.
/// </summary>
public static class Program
{
    public static async Task<int> Main(string[] args)
    {
        if (args is ["xl-frontend" or "xl-frontend-closes"])
        {
            try
            {
                return await XlFrontend(closes: args[0] == "xl-frontend-closes");
            }
            catch (Exception e)
            {
                Say($"FAIL {e}");
                return 1;
            }
        }
        if (args.Length != 5)
        {
            Console.Error.WriteLine("usage: Tolapai.XenStore.TestChild <guest|hostile|frontend-closes|frontend-waits> RUNDIR DOMID GFN PORT");
            return 2;
        }
        try
        {
            using Host host = Host.Open(args[1]);
            ushort domid = ushort.Parse(args[2], CultureInfo.InvariantCulture);
            uint gfn = uint.Parse(args[3], CultureInfo.InvariantCulture);
            uint port = uint.Parse(args[4], CultureInfo.InvariantCulture);
            return args[0] switch
            {
                "guest" => await Guest(host, domid, gfn, port),
                "hostile" => Hostile(host, domid, gfn, port),
                "frontend-closes" => await Frontend(host, domid, gfn, port, closes: true),
                "frontend-waits" => await Frontend(host, domid, gfn, port, closes: false),
                _ => 2,
            };
        }
        catch (Exception e)
        {
            Say($"FAIL {e}");
            return 1;
        }
    }

    private static void Say(string line)
    {
        Console.WriteLine(line);
        Console.Out.Flush();
    }

    private static async Task<int> Guest(Host host, ushort domid, uint gfn, uint port)
    {
        await using XenStoreClient c = XenStoreClient.ConnectRing(host, domid, gfn, port);
        // As Linux's xenbus does at start: whatever a previous kernel on this ring watched is dropped.
        await c.ResetWatchesAsync();
        Check(await c.GetDomainPathAsync(domid) == XsPath.DomainPath(domid), "domain path");
        await c.WriteAsync("data/hello", "world");
        Check(await c.ReadStringAsync("data/hello") == "world", "read back");
        // Larger than the 1024-byte ring: the message wraps and waits for room both ways.
        byte[] big = new byte[2000];
        new Random(domid).NextBytes(big);
        await c.WriteAsync("data/big", big);
        Check((await c.ReadAsync("data/big")).AsSpan().SequenceEqual(big), "big value");
        try
        {
            await c.ReadAsync("/local/domain/2/secret");
            Check(false, "read another guest's node");
        }
        catch (XenStoreException e) when (e.ErrorName == XsErrors.EACCES)
        {
        }
        await c.WatchAsync("data/ping", "w");
        XsWatchEvent first = await c.WatchEvents.ReadAsync();
        Check(first == new XsWatchEvent("data/ping", "w"), $"first event {first}");
        Say("READY");
        XsWatchEvent ping = await c.WatchEvents.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(20));
        Check(ping == new XsWatchEvent("data/ping", "w"), $"ping event {ping}");
        await c.WriteAsync("data/pong", "ok");
        Say("DONE");
        return 0;
    }

    /// <summary>
    /// The ixp frontend of device 0 over the guest's ring: the handshake to Connected, then
    /// either closing itself or waiting for the backend to close (or for SIGKILL).
    /// </summary>
    private static async Task<int> Frontend(Host host, ushort domid, uint gfn, uint port, bool closes)
    {
        TimeSpan wait = TimeSpan.FromSeconds(20);
        await using XenStoreClient c = XenStoreClient.ConnectRing(host, domid, gfn, port);
        await c.ResetWatchesAsync();
        await using XenbusDriver front = await XenbusDriver.OpenFrontendAsync(c, domid, "ixp", 0);
        Ok(await front.WaitForPeerStateAsync(XenbusState.InitWait, wait));
        await front.WriteKeyAsync("ring-ref", "8");
        await front.WriteKeyAsync("event-channel", "3");
        Ok(await front.SwitchStateAsync(XenbusState.Initialised));
        Ok(await front.WaitForPeerStateAsync(XenbusState.Connected, wait));
        Ok(await front.SwitchStateAsync(XenbusState.Connected));
        Say("CONNECTED");
        if (closes)
            Ok(await front.SwitchStateAsync(XenbusState.Closing));
        Ok(await front.WaitForPeerStateAsync(XenbusState.Closed, wait));
        Check(front.State == XenbusState.Closed, $"frontend ended {front.State}");
        Say("DONE");
        return 0;
    }

    /// <summary>
    /// A guest started by 'tolapai xl create': attaches from its start info (DomainContext), runs
    /// the ixp frontend of device 0 to Connected, then closes it itself (closes) or when the
    /// toolstack asks the domain to power off, or waits for the backend to close.
    /// </summary>
    private static async Task<int> XlFrontend(bool closes)
    {
        TimeSpan wait = TimeSpan.FromSeconds(20);
        await using DomainContext domain = await DomainContext.AttachAsync();
        await using XenbusDriver front = await XenbusDriver.OpenFrontendAsync(domain.XenStore, domain.DomId, "ixp", 0);
        Ok(await front.WaitForPeerStateAsync(XenbusState.InitWait, wait));
        await front.WriteKeyAsync("ring-ref", "8");
        await front.WriteKeyAsync("event-channel", "3");
        Ok(await front.SwitchStateAsync(XenbusState.Initialised));
        Ok(await front.WaitForPeerStateAsync(XenbusState.Connected, wait));
        Ok(await front.SwitchStateAsync(XenbusState.Connected));
        Say("CONNECTED");
        if (closes)
            Ok(await front.SwitchStateAsync(XenbusState.Closing));
        Task<XenbusResult> closed = front.WaitForPeerStateAsync(XenbusState.Closed, TimeSpan.FromSeconds(60));
        if (await Task.WhenAny(closed, domain.ShutdownRequested) != closed)
        {
            // Powered off by the toolstack: close the device first, as a Linux guest's frontend does.
            Say($"SHUTDOWN {await domain.ShutdownRequested}");
            Ok(await front.SwitchStateAsync(XenbusState.Closing));
        }
        Ok(await closed);
        Check(front.State == XenbusState.Closed, $"frontend ended {front.State}");
        Say("DONE");
        return 0;
    }

    private static void Ok(XenbusResult r) => Check(r.IsOk, r.Message ?? "");

    private static unsafe int Hostile(Host host, ushort domid, uint gfn, uint port)
    {
        var memory = host.MapGuestMemory(domid) ?? throw new InvalidOperationException("no memory");
        var iface = (XenStoreDomainInterface*)(memory.Base + ((long)gfn << 12));
        Volatile.Write(ref iface->ReqProd, Volatile.Read(ref iface->ReqCons) + 5000); // more than a ring ahead
        host.OpenPort(domid, port).Notify();
        Say("DONE");
        return 0;
    }

    private static void Check(bool ok, string what)
    {
        if (!ok)
            throw new InvalidOperationException("check failed: " + what);
    }
}
