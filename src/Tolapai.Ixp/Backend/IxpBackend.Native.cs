using Tolapai.Cpa.Native;
using Tolapai.Xen.XenStore;
using Tolapai.Xen.Hypervisor;

namespace Tolapai.Ixp.Backend;

public sealed partial class IxpBackend
{
    /// <summary>
    /// Starts the ixp backend in a dom0 process: from now on every device the toolstack adds
    /// under /local/domain/0/backend/ixp is served through <paramref name="driver"/> (its
    /// machine-address entry; mapped guest frames are registered in its DMA registry).
    /// <paramref name="dom0"/> is a dom0 XenStore client the backend owns for its watch (its
    /// WatchEvents are read by the backend); each device opens its own connection on the
    /// host's xenstored socket. One worker thread serves every guest's rings in round robin.
    /// </summary>
    public static Task<IxpBackend> StartAsync(Host host, XenStoreClient dom0, NativeCyInstance driver, IxpBackendOptions? options = null) =>
        StartAsync(host, dom0, [driver], options);

    /// <summary>As <see cref="StartAsync(Host, XenStoreClient, NativeCyInstance, IxpBackendOptions?)"/> with one worker thread per driver instance (ring pair); rings are spread over them.</summary>
    public static Task<IxpBackend> StartAsync(Host host, XenStoreClient dom0, IReadOnlyList<NativeCyInstance> drivers, IxpBackendOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(drivers);
        if (drivers.Count == 0)
        {
            throw new ArgumentException("at least one driver instance", nameof(drivers));
        }

        IxpDriver[] adapters = drivers.Select(d => new IxpDriver(d, d.Dma, d.PerformOpMachine, d.SegmentLimit)).ToArray();
        return StartCoreAsync(host, dom0, adapters, options, domid: 0);
    }
}
