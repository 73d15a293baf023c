using System.Globalization;
using Tolapai.Xen.Hypervisor;
using Tolapai.Xen.XenStore;

namespace Tolapai.Xen.Toolstack;

/// <summary>
/// The toolstack (what libxl is to Xen's xl): builds, lists and destroys guest domains of a
/// host whose dom0 is running. It works from any process of the host: it makes the domain's
/// hypercalls on the shared hypervisor region itself and talks to xenstored on its socket as a
/// dom0 tool. Building and tearing down hold the run directory's toolstack lock, so two
/// toolstacks (or a toolstack and the dom0's reaper) never work on one domid at once.
/// </summary>
public sealed partial class DomainToolstack : IAsyncDisposable
{
    /// <summary>The split device of this project.</summary>
    public const string IxpDeviceType = "ixp";

    /// <summary>Device types <see cref="AddDeviceAsync"/> knows (the backends dom0 may run).</summary>
    public static readonly IReadOnlyList<string> SupportedDeviceTypes = [IxpDeviceType];

    private static readonly TimeSpan LockTimeout = TimeSpan.FromSeconds(30);
    private readonly bool _ownsHost;

    private DomainToolstack(string runDirectory, Host host, XenStoreClient xenStore, bool ownsHost)
    {
        RunDirectory = runDirectory;
        Host = host;
        XenStore = xenStore;
        _ownsHost = ownsHost;
    }

    /// <summary>The run directory.</summary>
    public string RunDirectory { get; }

    /// <summary>The hypervisor.</summary>
    public Host Host { get; }

    /// <summary>This toolstack's dom0 connection to xenstored.</summary>
    public XenStoreClient XenStore { get; }

    /// <summary>How long a backend has to reach Closed after its frontend went away before the toolstack writes Closed itself.</summary>
    public TimeSpan BackendCloseTimeout { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Opens the toolstack of the dom0 running on <paramref name="runDirectory"/>; a
    /// <see cref="ToolstackException"/> "no dom0 running on DIR" when there is none.
    /// </summary>
    public static async Task<DomainToolstack> OpenAsync(string runDirectory, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(runDirectory);
        if (!RunDirectories.IsDom0Running(runDirectory))
            throw new ToolstackException($"no dom0 running on {runDirectory} (start one with 'tolapai dom0 --run-dir {runDirectory}')");
        Host host;
        try
        {
            host = Host.Open(runDirectory);
        }
        catch (Exception e) when (e is IOException or InvalidDataException)
        {
            throw new ToolstackException($"the dom0 on {runDirectory} is not ready (starting or stopping): {e.Message}", e);
        }
        try
        {
            XenStoreClient client = await XenStoreClient.ConnectAsync(XenStoreDaemon.SocketPathFor(runDirectory), cancellationToken).ConfigureAwait(false);
            return new DomainToolstack(runDirectory, host, client, ownsHost: true);
        }
        catch (System.Net.Sockets.SocketException e)
        {
            host.Dispose();
            throw new ToolstackException($"the dom0 on {runDirectory} does not answer on its xenstored socket: {e.Message}", e);
        }
    }

    /// <summary>A toolstack inside the dom0 process, on its host and a dom0 connection to its daemon.</summary>
    internal static DomainToolstack InProcess(string runDirectory, Host host, XenStoreClient client) => new(runDirectory, host, client, ownsHost: false);

    /// <summary>Every domain of the host, dom0 first, as <c>xl list</c> shows them.</summary>
    public async Task<IReadOnlyList<DomainListEntry>> ListAsync()
    {
        var list = new List<DomainListEntry>();
        for (uint id = 0; id < Host.MaxDomains; id++)
        {
            if (Host.Lookup((ushort)id) is not { } info)
                continue;
            string name = await TryReadAsync(XsPath.DomainPath(id) + "/name").ConfigureAwait(false) ?? "";
            string state = info.State switch
            {
                DomainState.Running => ProcessIdentity.IsAlive(info.Pid, info.StartTime) ? "running" : "dead",
                DomainState.Creating => "creating",
                _ => "dying",
            };
            list.Add(new DomainListEntry((ushort)id, name, info.Pages, state, info.Pid));
        }
        return list;
    }

    /// <summary>The domid of the domain named <paramref name="name"/>, or null.</summary>
    public async Task<ushort?> FindByNameAsync(string name)
    {
        foreach (DomainListEntry e in await ListAsync().ConfigureAwait(false))
            if (e.Name == name)
                return e.DomId;
        return null;
    }

    /// <summary>A node's value, or null when it is missing.</summary>
    private async Task<string?> TryReadAsync(string path, uint tx = 0)
    {
        try
        {
            return await XenStore.ReadStringAsync(path, tx).ConfigureAwait(false);
        }
        catch (XenStoreException e) when (e.ErrorName == XsErrors.ENOENT)
        {
            return null;
        }
    }

    private async Task<string[]> TryDirectoryAsync(string path)
    {
        try
        {
            return await XenStore.DirectoryAsync(path).ConfigureAwait(false);
        }
        catch (XenStoreException e) when (e.ErrorName == XsErrors.ENOENT)
        {
            return [];
        }
    }

    private async Task TryRmAsync(string path)
    {
        try
        {
            await XenStore.RmAsync(path).ConfigureAwait(false);
        }
        catch (XenStoreException e) when (e.ErrorName == XsErrors.ENOENT)
        {
            // Already gone: teardown is idempotent.
        }
    }

    /// <summary>Runs <paramref name="body"/> in a XenStore transaction, again while the commit conflicts (EAGAIN), as libxl does.</summary>
    private async Task InTransactionAsync(Func<uint, Task> body)
    {
        for (int attempt = 0; ; attempt++)
        {
            uint tx = await XenStore.TransactionStartAsync().ConfigureAwait(false);
            try
            {
                await body(tx).ConfigureAwait(false);
            }
            catch
            {
                await XenStore.TransactionEndAsync(tx, commit: false).ConfigureAwait(false);
                throw;
            }
            if (await XenStore.TransactionEndAsync(tx, commit: true).ConfigureAwait(false))
                return;
            if (attempt == 100)
                throw new ToolstackException("a XenStore transaction kept conflicting (EAGAIN) 100 times");
        }
    }

    private async Task<FileLock> LockAsync(CancellationToken cancellationToken)
    {
        FileLock held = await FileLock.AcquireAsync(RunDirectories.ToolstackLockPath(RunDirectory), LockTimeout, cancellationToken).ConfigureAwait(false);
        // The lock may have been waited for while the dom0 stopped: then there is no host to build on.
        if (_ownsHost && !RunDirectories.IsDom0Running(RunDirectory))
        {
            held.Dispose();
            throw new ToolstackException($"no dom0 running on {RunDirectory} (it stopped)");
        }
        return held;
    }

    private static string Id(uint v) => v.ToString(CultureInfo.InvariantCulture);

    /// <summary>Closes the XenStore connection (and the host mapping, when this toolstack opened it).</summary>
    public async ValueTask DisposeAsync()
    {
        await XenStore.DisposeAsync().ConfigureAwait(false);
        if (_ownsHost)
            Host.Dispose();
    }
}
