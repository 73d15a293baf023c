using System.Runtime.CompilerServices;
using Tolapai.Xen.EventChannel;
using Tolapai.Xen.GrantTable;
using Tolapai.Xen.Memory;

namespace Tolapai.Xen.Hypervisor;

/// <summary>
/// One emulated host: a run directory holding the hypervisor region (domain table, event
/// channel table, active-grant table) and one memory file per domain. "Hypercalls" are
/// methods here that act on the shared region with atomic operations; any process of the host
/// can make them. Region layout:
/// <code>
///  0        64                     64+64·D                         +64·D·P            +8·D·G
///  +--------+----------------------+-------------------------------+------------------+
///  | header | DomainEntry[D]       | EventChannelEntry[D][P]       | ActiveGrant[D][G]|
///  +--------+----------------------+-------------------------------+------------------+
/// </code>
/// D = MaxDomains, P = PortsPerDomain, G = MaxGrantEntries; every entry of the first two
/// tables is one cache line.
/// </summary>
public sealed unsafe partial class Host : IDisposable
{
    /// <summary>File name of the hypervisor region inside the run directory.</summary>
    public const string RegionFileName = "hypervisor";

    private readonly SharedFile _region;
    private readonly HypervisorHeader* _header;
    private readonly DomainEntry* _domains;
    private readonly EventChannelEntry* _ports;
    private readonly ActiveGrantEntry* _activeGrants;
    private readonly GuestMemory?[] _memory;

    // Mappings of destroyed or re-created domains: kept mapped until the host is disposed, so
    // a pointer this process still holds into them never faults (a deleted tmpfs file stays
    // readable while mapped).
    private readonly List<GuestMemory> _retired = [];
    private readonly Lock _memoryLock = new();

    private Host(string runDirectory, SharedFile region)
    {
        RunDirectory = runDirectory;
        _region = region;
        _header = (HypervisorHeader*)region.Base;
        if (_header->Magic != HypervisorHeader.MagicValue || _header->Version != HypervisorHeader.CurrentVersion)
        {
            region.Dispose();
            ThrowHelper.ThrowInvalidData($"{region.Path} is not a version {HypervisorHeader.CurrentVersion} hypervisor region.");
        }

        MaxDomains = _header->MaxDomains;
        PortsPerDomain = _header->PortsPerDomain;
        MaxGrantEntries = _header->MaxGrantEntries;
        if (region.Length < RegionSize(MaxDomains, PortsPerDomain, MaxGrantEntries))
        {
            region.Dispose();
            ThrowHelper.ThrowInvalidData($"{region.Path} is shorter than its header says.");
        }

        _domains = (DomainEntry*)(region.Base + sizeof(HypervisorHeader));
        _ports = (EventChannelEntry*)(_domains + MaxDomains);
        _activeGrants = (ActiveGrantEntry*)(_ports + (MaxDomains * PortsPerDomain));
        _memory = new GuestMemory?[MaxDomains];
    }

    /// <summary>The run directory.</summary>
    public string RunDirectory { get; }

    /// <summary>Domain-table slots.</summary>
    public uint MaxDomains { get; }

    /// <summary>Event channel ports per domain.</summary>
    public uint PortsPerDomain { get; }

    /// <summary>Active-grant entries per domain.</summary>
    public uint MaxGrantEntries { get; }

    /// <summary>Default parent of run directories: /dev/shm when present (RAM-backed), else the temp directory.</summary>
    public static string DefaultRoot => Directory.Exists("/dev/shm") ? "/dev/shm" : Path.GetTempPath();

    /// <summary>Bytes of the hypervisor region for the given geometry.</summary>
    public static long RegionSize(uint maxDomains, uint portsPerDomain, uint maxGrantEntries) =>
        sizeof(HypervisorHeader)
        + ((long)maxDomains * sizeof(DomainEntry))
        + ((long)maxDomains * portsPerDomain * sizeof(EventChannelEntry))
        + ((long)maxDomains * maxGrantEntries * sizeof(ActiveGrantEntry));

    /// <summary>Creates a new host: makes the run directory and a zeroed hypervisor region. Throws <see cref="IOException"/> if a region is already there.</summary>
    public static Host Create(string runDirectory, HostOptions? options = null)
    {
        options ??= new HostOptions();
        if (options.MaxDomains is 0 or > 0x7FF0 || options.PortsPerDomain < 2 || options.MaxGrantEntries == 0)
        {
            ThrowHelper.ThrowArgument(nameof(options), "MaxDomains must be 1..32752, PortsPerDomain ≥ 2, MaxGrantEntries ≥ 1.");
        }

        Directory.CreateDirectory(runDirectory);
        string path = Path.Combine(runDirectory, RegionFileName);
        string temp = path + ".new";
        using (SharedFile region = SharedFile.Create(temp, RegionSize(options.MaxDomains, options.PortsPerDomain, options.MaxGrantEntries)))
        {
            HypervisorHeader* h = (HypervisorHeader*)region.Base;
            h->Version = HypervisorHeader.CurrentVersion;
            h->MaxDomains = options.MaxDomains;
            h->PortsPerDomain = options.PortsPerDomain;
            h->MaxGrantEntries = options.MaxGrantEntries;
            // Release: the geometry is visible before the magic that says the region is ready.
            Volatile.Write(ref h->Magic, HypervisorHeader.MagicValue);
        }

        // Rename is atomic: an opener sees either no region or a complete one. A live host's
        // region is never replaced: creating over it is an error, not a silent reset.
        try
        {
            File.Move(temp, path, overwrite: false);
        }
        catch (IOException)
        {
            File.Delete(temp);
            throw new IOException($"{path} exists: a host already lives in {runDirectory}; open it or remove the directory.");
        }

        return Open(runDirectory);
    }

    /// <summary>Attaches to an existing host.</summary>
    public static Host Open(string runDirectory) =>
        new(runDirectory, SharedFile.Open(Path.Combine(runDirectory, RegionFileName), sizeof(HypervisorHeader)));

    /// <summary>Path of a domain's memory file.</summary>
    public string MemoryPath(ushort domid) => Path.Combine(RunDirectory, $"dom{domid}.mem");

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal DomainEntry* DomainSlot(uint domid) => domid < MaxDomains ? _domains + domid : null;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal EventChannelEntry* PortEntry(uint domid, uint port) =>
        domid < MaxDomains && port < PortsPerDomain ? _ports + ((domid * PortsPerDomain) + port) : null;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal ActiveGrantEntry* ActiveGrant(uint domid, uint gref) =>
        domid < MaxDomains && gref < MaxGrantEntries ? _activeGrants + (((long)domid * MaxGrantEntries) + gref) : null;

    /// <inheritdoc/>
    public void Dispose()
    {
        lock (_memoryLock)
        {
            for (int i = 0; i < _memory.Length; i++)
            {
                _memory[i]?.Dispose();
                _memory[i] = null;
            }

            foreach (GuestMemory m in _retired)
            {
                m.Dispose();
            }

            _retired.Clear();
        }

        _region.Dispose();
    }
}
