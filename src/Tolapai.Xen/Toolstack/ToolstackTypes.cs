namespace Tolapai.Xen.Toolstack;

/// <summary>What <c>xl create</c> is given: the guest's name, size and devices.</summary>
public sealed record DomainConfig
{
    /// <summary>Domain name (unique on the host); null gives <c>domu-&lt;domid&gt;</c>.</summary>
    public string? Name { get; init; }

    /// <summary>Pages of guest memory, grant table and xenstore page included.</summary>
    public uint MemoryPages { get; init; } = 1024;

    /// <summary>Grant table frames at the start of the guest's memory (512 entries each).</summary>
    public uint GrantFrames { get; init; } = 4;

    /// <summary>Device types to add (devid 0 each), as <c>xl device-add</c> does; ixp by default.</summary>
    public IReadOnlyList<string> Devices { get; init; } = [DomainToolstack.IxpDeviceType];

    /// <summary>Extra environment for the guest process.</summary>
    public IReadOnlyDictionary<string, string>? Environment { get; init; }

    /// <summary>Working directory of the guest process; the caller's when null.</summary>
    public string? WorkingDirectory { get; init; }
}

/// <summary>A domain <see cref="DomainToolstack.CreateAsync"/> started.</summary>
/// <param name="DomId">Its domid.</param>
/// <param name="Name">Its name.</param>
/// <param name="Pid">Its process.</param>
/// <param name="LogPath">Where its stdout and stderr go.</param>
/// <param name="StartInfo">What it was told at start.</param>
public sealed record CreatedDomain(ushort DomId, string Name, int Pid, string LogPath, GuestStartInfo StartInfo);

/// <summary>One line of <c>xl list</c>.</summary>
/// <param name="DomId">Domid.</param>
/// <param name="Name">Name from XenStore ("" when it has none).</param>
/// <param name="Pages">Pages of memory.</param>
/// <param name="State">running, dead (process gone, not yet reaped), creating or dying.</param>
/// <param name="Pid">Owning process.</param>
public sealed record DomainListEntry(ushort DomId, string Name, uint Pages, string State, int Pid);

/// <summary>A toolstack request that names something that is not there or cannot be done (bad input, not a crash).</summary>
public sealed class ToolstackException : Exception
{
    /// <summary>An error with a message.</summary>
    public ToolstackException(string message) : base(message) { }

    /// <summary>An error with a message and a kind.</summary>
    public ToolstackException(string message, bool isUsageError) : base(message) => IsUsageError = isUsageError;

    /// <summary>An error with a cause.</summary>
    public ToolstackException(string message, Exception innerException) : base(message, innerException) { }

    /// <summary>An error without a message.</summary>
    public ToolstackException() { }

    /// <summary>True when the request itself was wrong (dom0 named for destroy, unknown device type); false for a state problem (no such domain, no dom0).</summary>
    public bool IsUsageError { get; }
}
