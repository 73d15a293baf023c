namespace Tolapai.Xen.XenStore;

/// <summary>Per-domain quotas, with xenstored's defaults. dom0 is exempt, as in Xen.</summary>
public sealed class XenStoreOptions
{
    /// <summary>Nodes a domain may own (xenstored -E / quota "nodes"): over it, ENOSPC.</summary>
    public int NodesPerDomain { get; init; } = 1000;

    /// <summary>Watches a domain may hold (-W): over it, E2BIG.</summary>
    public int WatchesPerDomain { get; init; } = 128;

    /// <summary>Requests whose replies are unread before the daemon stops reading from the client (quota "outstanding").</summary>
    public int OutstandingRequests { get; init; } = 20;

    /// <summary>Transactions open at once per domain (-t): over it, ENOSPC.</summary>
    public int TransactionsPerDomain { get; init; } = 10;

    /// <summary>Bytes in a node's value (-S): over it, ENOSPC.</summary>
    public int MaxValueSize { get; init; } = 2048;

    /// <summary>Permission entries per node (-A): over it, ENOSPC.</summary>
    public int PermissionsPerNode { get; init; } = 5;

    /// <summary>Watch events queued for a client that is not reading them before it is disconnected.</summary>
    public int MaxQueuedWatchEvents { get; init; } = 4096;
}
