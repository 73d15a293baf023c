namespace Tolapai.Xen.Hypervisor;

/// <summary>Geometry of a new host's hypervisor region.</summary>
public sealed record HostOptions
{
    /// <summary>Domain-table slots; domids are 0 .. MaxDomains − 1.</summary>
    public uint MaxDomains { get; init; } = 32;

    /// <summary>Event channel ports per domain (port 0 is reserved, as in Xen).</summary>
    public uint PortsPerDomain { get; init; } = 64;

    /// <summary>Largest grant table a guest may have, in entries (512 per frame for v1).</summary>
    public uint MaxGrantEntries { get; init; } = 4096;
}
