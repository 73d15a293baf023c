using System.Globalization;
using System.Text;
using Tolapai.Xen.Hypervisor;

namespace Tolapai.Xen.Toolstack;

/// <summary>How <see cref="DomainToolstack.MigrateAsync(ushort, DomainToolstack, MigrationOptions?, CancellationToken)"/> moves a guest.</summary>
public sealed record MigrationOptions
{
    /// <summary>Pre-copy rounds while the guest runs (<c>xl migrate --live</c>); false: suspend first, then copy everything.</summary>
    public bool Live { get; init; }

    /// <summary>At most this many pre-copy rounds (the first copies every page).</summary>
    public int MaxRounds { get; init; } = 8;

    /// <summary>Stop pre-copying once a round leaves no more than this many dirty pages.</summary>
    public uint StopAtDirtyPages { get; init; } = 64;

    /// <summary>How long the guest has to quiesce its devices and suspend.</summary>
    public TimeSpan SuspendTimeout { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>How long the guest has to come up on the destination before the migration is called failed.</summary>
    public TimeSpan ResumeTimeout { get; init; } = TimeSpan.FromSeconds(20);

    /// <summary>How long the destination's backends have to take up the guest's devices (reach InitWait) before the migration is refused.</summary>
    public TimeSpan DeviceReadyTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Called with a line for each step (rounds, suspend, resume).</summary>
    public Action<string>? Log { get; init; }
}

/// <summary>What a migration did.</summary>
/// <param name="SourceDomId">The domid on the source host (released now).</param>
/// <param name="DestinationDomId">The domid on the destination host.</param>
/// <param name="Live">Whether pre-copy rounds ran.</param>
/// <param name="Rounds">Pre-copy rounds (0 for a cold migration), not counting the final stop-and-copy.</param>
/// <param name="PagesSent">Pages copied in all, the final copy included.</param>
/// <param name="FinalPages">Pages copied while the guest was suspended.</param>
/// <param name="Downtime">From the suspend request to the guest running on the destination again (its devices reconnected).</param>
/// <param name="Total">The whole migration.</param>
public sealed record MigrationResult(ushort SourceDomId, ushort DestinationDomId, bool Live, int Rounds, long PagesSent, long FinalPages, TimeSpan Downtime, TimeSpan Total);

/// <summary>
/// What a suspended guest needs to resume: the host and domain it now lives in and its new
/// xenstore ring — Xen's new start_info after a restore. The toolstack writes it as a file named
/// after the guest process (pid and start time) under <c>&lt;run-dir&gt;/resume/</c> of the host the
/// guest suspended on; the guest, waiting there, reads and deletes it. A ticket naming the same
/// host and domain is a cancelled suspend: the guest resumes where it was.
/// </summary>
/// <param name="RunDirectory">The host the guest resumes on.</param>
/// <param name="DomId">Its domid there.</param>
/// <param name="Generation">That domain slot's generation (guards against a stale ticket).</param>
/// <param name="XenStoreFrame">The xenstore page (the same frame as before).</param>
/// <param name="XenStorePort">The guest's end of its new xenstore event channel.</param>
/// <param name="InPlace">A cancelled suspend: the guest resumes in the domain it suspended in, on the same xenstore connection.</param>
public sealed record ResumeTicket(string RunDirectory, ushort DomId, uint Generation, uint XenStoreFrame, uint XenStorePort, bool InPlace = false)
{
    /// <summary>The folder of tickets in a run directory.</summary>
    public const string FolderName = "resume";

    /// <summary>The start info this ticket amounts to.</summary>
    public GuestStartInfo StartInfo => new(RunDirectory, DomId, XenStoreFrame, XenStorePort);

    /// <summary>Where the ticket of process <paramref name="pid"/> (started at <paramref name="startTime"/>) lives in <paramref name="runDirectory"/>.</summary>
    public static string PathFor(string runDirectory, int pid, ulong startTime) =>
        Path.Combine(runDirectory, FolderName, string.Create(CultureInfo.InvariantCulture, $"{pid}-{startTime}"));

    /// <summary>Writes the ticket atomically (a temporary file renamed into place).</summary>
    public void WriteTo(string runDirectory, int pid, ulong startTime)
    {
        string path = PathFor(runDirectory, pid, startTime);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        string tmp = path + ".tmp";
        File.WriteAllText(tmp, string.Create(CultureInfo.InvariantCulture,
            $"run-dir={RunDirectory}\ndomid={DomId}\ngeneration={Generation}\nstore-gfn={XenStoreFrame}\nstore-port={XenStorePort}\nin-place={(InPlace ? 1 : 0)}\n"), Encoding.UTF8);
        File.Move(tmp, path, overwrite: true);
    }

    /// <summary>Reads and removes the ticket of this process, or null when there is none (yet). A malformed ticket is an <see cref="InvalidDataException"/>.</summary>
    public static ResumeTicket? TryTake(string runDirectory, int pid, ulong startTime)
    {
        string path = PathFor(runDirectory, pid, startTime);
        string text;
        try
        {
            text = File.ReadAllText(path, Encoding.UTF8);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }

        File.Delete(path);
        return Parse(text, path);
    }

    /// <summary>Parses a ticket's text.</summary>
    public static ResumeTicket Parse(string text, string what)
    {
        ArgumentNullException.ThrowIfNull(text);
        var keys = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            int eq = line.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
                throw new InvalidDataException($"{what}: '{line}' is not key=value");
            keys[line[..eq]] = line[(eq + 1)..];
        }

        string dir = keys.GetValueOrDefault("run-dir") is { Length: > 0 } d && Path.IsPathFullyQualified(d) ? d
            : throw new InvalidDataException($"{what}: run-dir is missing or not an absolute path");
        return new ResumeTicket(dir, (ushort)Number(keys, "domid", 0x7FEF, what), Number(keys, "generation", uint.MaxValue, what),
            Number(keys, "store-gfn", uint.MaxValue, what), Number(keys, "store-port", uint.MaxValue, what), Number(keys, "in-place", 1, what) == 1);
    }

    private static uint Number(Dictionary<string, string> keys, string key, uint max, string what) =>
        keys.GetValueOrDefault(key) is { } t && uint.TryParse(t, NumberStyles.None, CultureInfo.InvariantCulture, out uint v) && v <= max ? v
            : throw new InvalidDataException($"{what}: {key} is missing or not a number up to {max}");
}

/// <summary>
/// What the toolstack keeps of a domain outside XenStore (libxl's per-domain userdata): its
/// name and devices, in <c>&lt;run-dir&gt;/dom&lt;N&gt;.cfg</c>. A dom0 that comes back after a crash
/// lost its xenstored tree; this is what lets it rebuild a surviving guest's home and devices.
/// </summary>
/// <param name="Name">Domain name.</param>
/// <param name="Devices">Devices as "type/devid".</param>
public sealed record DomainRecord(string Name, IReadOnlyList<string> Devices)
{
    /// <summary>The record's file.</summary>
    public static string PathFor(string runDirectory, ushort domid) => Path.Combine(runDirectory, string.Create(CultureInfo.InvariantCulture, $"dom{domid}.cfg"));

    /// <summary>Writes it atomically.</summary>
    public void Write(string runDirectory, ushort domid)
    {
        string path = PathFor(runDirectory, domid);
        var sb = new StringBuilder();
        sb.Append("name=").Append(Name).Append('\n');
        foreach (string d in Devices)
            sb.Append("device=").Append(d).Append('\n');
        File.WriteAllText(path + ".tmp", sb.ToString(), Encoding.UTF8);
        File.Move(path + ".tmp", path, overwrite: true);
    }

    /// <summary>Reads a domain's record; null when there is none or it is malformed (a guest without one cannot be rebuilt).</summary>
    public static DomainRecord? TryRead(string runDirectory, ushort domid)
    {
        string[] lines;
        try
        {
            lines = File.ReadAllLines(PathFor(runDirectory, domid), Encoding.UTF8);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }

        string? name = null;
        List<string> devices = [];
        foreach (string line in lines)
        {
            if (line.StartsWith("name=", StringComparison.Ordinal))
                name = line[5..];
            else if (line.StartsWith("device=", StringComparison.Ordinal) && IsDevice(line[7..]))
                devices.Add(line[7..]);
            else if (line.Length > 0)
                return null;
        }

        return name is { Length: > 0 } ? new DomainRecord(name, devices) : null;
    }

    private static bool IsDevice(string d)
    {
        int slash = d.IndexOf('/', StringComparison.Ordinal);
        return slash > 0 && DomainToolstack.SupportedDeviceTypes.Contains(d[..slash])
            && uint.TryParse(d[(slash + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out _);
    }
}

/// <summary>A guest domain a migration or a dom0's recovery rebuilds on a host.</summary>
internal sealed record IncomingDomain(string Name, int Pid, ulong StartTime, uint Pages, uint GrantFrames, IReadOnlyList<string> DeviceTypes, ushort? WantedDomId = null)
{
    public uint StoreFrame => Pages - 1;

    public static IncomingDomain From(DomainInfo info, string name, IReadOnlyList<string> deviceTypes, ushort? wanted = null) =>
        new(name, info.Pid, info.StartTime, info.Pages, info.GrantFrames, deviceTypes, wanted);
}
