namespace Tolapai.Xen.Toolstack;

/// <summary>
/// Something the dom0 runs for its whole life — a device backend, the accelerator's device
/// model. Services start in the order given, after the hypervisor region and xenstored exist
/// and dom0's XenStore entries are written, and stop in reverse order after the guests have
/// been shut down (so a backend sees its frontends close before it stops).
/// </summary>
public interface IDom0Service
{
    /// <summary>A short name for log lines ("ixp backend").</summary>
    string Name { get; }

    /// <summary>Starts the service on <paramref name="dom0"/> (its Host, XenStore daemon and run directory).</summary>
    Task StartAsync(Dom0Host dom0, CancellationToken cancellationToken);

    /// <summary>Stops the service; after this it holds nothing of the host.</summary>
    Task StopAsync(CancellationToken cancellationToken);
}

/// <summary>How a dom0 is started.</summary>
public sealed record Dom0Options
{
    /// <summary>The run directory; <see cref="RunDirectories.Default"/> when null.</summary>
    public string? RunDirectory { get; init; }

    /// <summary>Domain-table slots, dom0 included (guest domids are 1 .. MaxDomains − 1).</summary>
    public uint MaxDomains { get; init; } = 32;

    /// <summary>Event channel ports per domain.</summary>
    public uint PortsPerDomain { get; init; } = 64;

    /// <summary>Largest grant table of a guest, in entries.</summary>
    public uint MaxGrantEntries { get; init; } = 4096;

    /// <summary>dom0's own memory, in pages.</summary>
    public uint Dom0Pages { get; init; } = 16;

    /// <summary>XenStore quotas; Xen's defaults when null.</summary>
    public XenStore.XenStoreOptions? XenStore { get; init; }

    /// <summary>Keep the run directory's files when the dom0 stops (for inspection).</summary>
    public bool Keep { get; init; }

    /// <summary>How often the reaper looks for guests whose process died.</summary>
    public TimeSpan ReapInterval { get; init; } = TimeSpan.FromMilliseconds(200);

    /// <summary>
    /// When set, a guest whose heartbeat is older than this is killed and reaped as hung. The
    /// first heartbeat is the one the domain is created with, so this must be longer than a
    /// guest takes to start and attach (a .NET guest: a second or more on a loaded machine).
    /// </summary>
    public TimeSpan? HeartbeatTimeout { get; init; }

    /// <summary>
    /// On a stale run directory (its dom0 died), how long the guests that outlived it have to
    /// notice and suspend; those that did are rebuilt on the new host and resumed (their
    /// requests resubmitted), the rest are killed. <see cref="TimeSpan.Zero"/>: kill them all.
    /// </summary>
    public TimeSpan AdoptTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>How long guests have to power off when the dom0 stops before they are killed.</summary>
    public TimeSpan ShutdownGrace { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Services started with the host (backends, device models), in order.</summary>
    public IReadOnlyList<IDom0Service> Services { get; init; } = [];

    /// <summary>Where the dom0 reports what it does (one line each); nothing when null.</summary>
    public Action<string>? Log { get; init; }
}

/// <summary>The dom0 of this run directory is already running.</summary>
public sealed class Dom0RunningException : IOException
{
    /// <summary>An error with a message.</summary>
    public Dom0RunningException(string message) : base(message) { }

    /// <summary>An error without a message.</summary>
    public Dom0RunningException() { }

    /// <summary>An error with a cause.</summary>
    public Dom0RunningException(string message, Exception innerException) : base(message, innerException) { }
}

/// <summary>A domain the dom0 reaped or destroyed.</summary>
public sealed class DomainGoneEventArgs(ushort domId, string reason) : EventArgs
{
    /// <summary>Its domid.</summary>
    public ushort DomId { get; } = domId;

    /// <summary>Why ("process died", "heartbeat stale", "dom0 shutdown").</summary>
    public string Reason { get; } = reason;
}
