using System.Runtime.InteropServices;
using Tolapai.Xen.Hypervisor;
using Tolapai.Xen.XenStore;

namespace Tolapai.XenStore.Tests;

/// <summary>Guests in their own processes reaching the daemon through xenstore_domain_interface pages.</summary>
[Collection(MultiProcessCollection.Name)]
public class RingTests
{
    [Fact]
    public void Domain_interface_layout_is_xs_wire_h()
    {
        Assert.Equal(2080, Marshal.SizeOf<XenStoreDomainInterface>());
        Assert.Equal(2048, (int)Marshal.OffsetOf<XenStoreDomainInterface>(nameof(XenStoreDomainInterface.ReqCons)));
        Assert.Equal(2052, (int)Marshal.OffsetOf<XenStoreDomainInterface>(nameof(XenStoreDomainInterface.ReqProd)));
        Assert.Equal(2056, (int)Marshal.OffsetOf<XenStoreDomainInterface>(nameof(XenStoreDomainInterface.RspCons)));
        Assert.Equal(2060, (int)Marshal.OffsetOf<XenStoreDomainInterface>(nameof(XenStoreDomainInterface.RspProd)));
        Assert.Equal(2064, (int)Marshal.OffsetOf<XenStoreDomainInterface>(nameof(XenStoreDomainInterface.ServerFeatures)));
        Assert.Equal(2068, (int)Marshal.OffsetOf<XenStoreDomainInterface>(nameof(XenStoreDomainInterface.Connection)));
        Assert.Equal(2072, (int)Marshal.OffsetOf<XenStoreDomainInterface>(nameof(XenStoreDomainInterface.Error)));
        Assert.Equal(2076, (int)Marshal.OffsetOf<XenStoreDomainInterface>(nameof(XenStoreDomainInterface.EvtchnPort)));
        Assert.Equal(0, XenStoreDomainInterface.ReqOffset);
        Assert.Equal(1024, XenStoreDomainInterface.RspOffset);
    }

    [Fact]
    public async Task Guests_in_other_processes_use_their_rings_and_a_hostile_one_is_cut_off_alone()
    {
        string dir = Path.Combine(Host.DefaultRoot, "tolapai-xsring-" + Guid.NewGuid().ToString("N")[..12]);
        using Host host = Host.Create(dir);
        try
        {
            const uint Gfn = 1; // the first data frame: grant table in frame 0
            Assert.Equal(XenError.Ok, host.CreateDomain(0, 2, 1));
            Assert.Equal(XenError.Ok, host.CreateDomain(1, 4, 1));
            Assert.Equal(XenError.Ok, host.CreateDomain(2, 4, 1));
            // The toolstack allocates each guest's store port for dom0 and hands it to xenstored.
            Assert.Equal(XenError.Ok, host.AllocUnbound(1, 0, out uint port1));
            Assert.Equal(XenError.Ok, host.AllocUnbound(2, 0, out uint port2));
            await using var daemon = XenStoreDaemon.Start(dir, host: host);
            await using XenStoreClient dom0 = await XenStoreClient.ConnectAsync(daemon.SocketPath!);
            foreach (uint d in new uint[] { 1, 2 })
            {
                await dom0.MkdirAsync(XsPath.DomainPath(d));
                await dom0.SetPermsAsync(XsPath.DomainPath(d), [new(d, XsAccess.None)]);
            }
            await dom0.WriteAsync("/local/domain/2/secret", "s");
            await dom0.IntroduceAsync(1, Gfn, port1);
            await dom0.IntroduceAsync(2, Gfn, port2);
            Assert.Equal("EINVAL", (await dom0.SendAsync(XsMessageType.Introduce, "3\0001\0001\0"u8.ToArray())).ErrorName); // no such domain

            using (var guest = new GuestProcess("guest", dir, "1", Gfn.ToString(System.Globalization.CultureInfo.InvariantCulture), port1.ToString(System.Globalization.CultureInfo.InvariantCulture)))
            {
                await guest.ExpectAsync("READY");
                await dom0.WriteAsync("/local/domain/1/data/ping", "1");
                await guest.ExpectAsync("DONE");
                Assert.Equal(0, await guest.ExitAsync());
            }
            Assert.Equal("ok", await dom0.ReadStringAsync("/local/domain/1/data/pong"));
            Assert.Equal([new(1, XsAccess.None)], await dom0.GetPermsAsync("/local/domain/1/data/pong")); // written as dom1

            int before = daemon.ConnectionCount;
            using (var hostile = new GuestProcess("hostile", dir, "2", "1", port2.ToString(System.Globalization.CultureInfo.InvariantCulture)))
            {
                await hostile.ExpectAsync("DONE");
                Assert.Equal(0, await hostile.ExitAsync());
            }
            GuestMemoryError(host, 2, Gfn, out Func<uint> error);
            // Waiting for the daemon's reaction to the scribble (a condition, not a sleep).
            Assert.True(SpinWait.SpinUntil(() => error() == XenStoreDomainInterface.ErrorRingIndex && daemon.ConnectionCount < before, TimeSpan.FromSeconds(20)));

            // The well-behaved guest goes on, over the same ring.
            await dom0.RmAsync("/local/domain/1/data/pong");
            using (var again = new GuestProcess("guest", dir, "1", "1", port1.ToString(System.Globalization.CultureInfo.InvariantCulture)))
            {
                await again.ExpectAsync("READY");
                await dom0.WriteAsync("/local/domain/1/data/ping", "2");
                await again.ExpectAsync("DONE");
            }
            Assert.Equal("ok", await dom0.ReadStringAsync("/local/domain/1/data/pong"));
            await dom0.ReleaseAsync(1);
            await dom0.ReleaseAsync(2);
        }
        finally
        {
            try
            {
                Directory.Delete(dir, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    private static unsafe void GuestMemoryError(Host host, ushort domid, uint gfn, out Func<uint> error)
    {
        byte* page = host.MapGuestMemory(domid)!.Base + ((long)gfn << 12);
        nint p = (nint)page;
        error = () => Volatile.Read(ref ((XenStoreDomainInterface*)p)->Error);
    }
}
