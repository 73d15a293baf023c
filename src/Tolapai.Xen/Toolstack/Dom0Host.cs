using System.Globalization;
using Tolapai.Xen.Hypervisor;
using Tolapai.Xen.XenStore;

namespace Tolapai.Xen.Toolstack;

/// <summary>
/// The dom0 of one host, as a library: it owns the run directory (an flock held for its life,
/// so a second dom0 is refused and a SIGKILLed one's directory is recognised as stale and
/// recovered), creates the hypervisor region and dom0's domain, runs xenstored with dom0's
/// entries, runs the <see cref="IDom0Service"/>s given, and reaps guests whose process died.
/// <c>tolapai dom0</c> runs one until a signal; <c>tolapai perf</c> embeds one in its own process.
/// </summary>
public sealed class Dom0Host : IAsyncDisposable
{
    private readonly Dom0Options _options;
    private readonly FileLock _lock;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<IDom0Service> _started = [];
    private Task? _reaper;
    private int _stopped;

    private Dom0Host(Dom0Options options, string runDirectory, FileLock runLock, Host host, XenStoreDaemon daemon)
    {
        _options = options;
        RunDirectory = runDirectory;
        _lock = runLock;
        Host = host;
        XenStore = daemon;
    }

    /// <summary>The run directory.</summary>
    public string RunDirectory { get; }

    /// <summary>The hypervisor region.</summary>
    public Host Host { get; }

    /// <summary>xenstored.</summary>
    public XenStoreDaemon XenStore { get; }

    /// <summary>Where Xen's clients find xenstored (<c>XENSTORED_PATH</c>).</summary>
    public string SocketPath => XenStore.SocketPath!;

    /// <summary>A toolstack in this process (create, list, destroy guests) on this host.</summary>
    public DomainToolstack Toolstack { get; private set; } = null!;

    /// <summary>The services running, in start order.</summary>
    public IReadOnlyList<IDom0Service> Services => _started;

    /// <summary>Set when the run directory held a dead dom0's files, which were removed first.</summary>
    public string? RecoveredFrom { get; private set; }

    /// <summary>True when the run directory's files stay after the dom0 stops (<see cref="Dom0Options.Keep"/>); services leave theirs too.</summary>
    public bool KeepsFiles => _options.Keep;

    /// <summary>Raised (on the reaper's task) after a guest is torn down: reaped, or at dom0 shutdown.</summary>
    public event EventHandler<DomainGoneEventArgs>? DomainGone;

    /// <summary>
    /// Starts a dom0 on <see cref="Dom0Options.RunDirectory"/>. A <see cref="Dom0RunningException"/>
    /// when another dom0 holds it; a stale directory (its dom0 is dead) is cleaned first, with
    /// a log line, and <see cref="RecoveredFrom"/> says so.
    /// </summary>
    public static async Task<Dom0Host> StartAsync(Dom0Options? options = null, CancellationToken cancellationToken = default)
    {
        options ??= new Dom0Options();
        if (options.MaxDomains is < 2 or > 0x7FF0)
            throw new ArgumentOutOfRangeException(nameof(options), options.MaxDomains, "MaxDomains must be 2..32752 (dom0 and at least one guest)");
        string dir = RunDirectories.Resolve(options.RunDirectory);
        Directory.CreateDirectory(dir);
        FileLock runLock = FileLock.TryAcquire(RunDirectories.Dom0LockPath(dir))
            ?? throw new Dom0RunningException(
                $"another dom0{(RunDirectories.ReadDom0Pid(dir) is int pid ? $" (pid {pid.ToString(CultureInfo.InvariantCulture)})" : "")} is running on {dir}");
        Host? host = null;
        XenStoreDaemon? daemon = null;
        string? recovered;
        List<Orphan> orphans = [];
        try
        {
            recovered = RecoverStale(dir, options, orphans);
            host = Host.Create(dir, new HostOptions { MaxDomains = options.MaxDomains, PortsPerDomain = options.PortsPerDomain, MaxGrantEntries = options.MaxGrantEntries });
            XenError own = host.CreateDomain(0, options.Dom0Pages, 1);
            if (own != XenError.Ok)
                throw new IOException($"cannot create domain 0: {own}");
            daemon = XenStoreDaemon.Start(dir, options.XenStore, host);
        }
        catch
        {
            host?.Dispose();
            if (!options.Keep)
                RemoveHostFiles(dir);
            runLock.Dispose();
            throw;
        }

        // From here the host object owns everything: a failure stops it as a whole.
        var dom0 = new Dom0Host(options, dir, runLock, host, daemon) { RecoveredFrom = recovered };
        try
        {
            XenStoreClient client = await XenStoreClient.ConnectAsync(daemon.SocketPath!, cancellationToken).ConfigureAwait(false);
            dom0.Toolstack = DomainToolstack.InProcess(dir, host, client);
            await dom0.WriteDom0EntriesAsync().ConfigureAwait(false);
            (int self, ulong start) = ProcessIdentity.Current();
            File.WriteAllText(RunDirectories.Dom0PidPath(dir), string.Create(CultureInfo.InvariantCulture, $"{self} {start}\n"));
            foreach (IDom0Service service in options.Services)
            {
                await service.StartAsync(dom0, cancellationToken).ConfigureAwait(false);
                dom0._started.Add(service);
                options.Log?.Invoke($"started {service.Name}");
            }
        }
        catch
        {
            await dom0.StopAsync(CancellationToken.None).ConfigureAwait(false);
            throw;
        }
        await dom0.AdoptAsync(orphans, cancellationToken).ConfigureAwait(false);
        dom0._reaper = dom0.ReapLoopAsync();
        return dom0;
    }

    /// <summary>A guest that outlived its dom0 and suspended, to be rebuilt on this host.</summary>
    private sealed record Orphan(ushort DomId, IncomingDomain Guest, string MemoryFile);

    /// <summary>Rebuilds each orphan (same domid, its memory copied, home and devices from its record) and hands it a resume ticket; one that cannot be rebuilt is killed.</summary>
    private async Task AdoptAsync(List<Orphan> orphans, CancellationToken cancellationToken)
    {
        foreach (Orphan o in orphans)
        {
            try
            {
                await Toolstack.AdoptAsync(o.Guest, o.MemoryFile, cancellationToken).ConfigureAwait(false);
                _options.Log?.Invoke($"adopted guest domain {o.DomId} (pid {o.Guest.Pid.ToString(CultureInfo.InvariantCulture)}): it resumes on this host");
            }
            catch (Exception e) when (e is ToolstackException or XenStoreException or IOException or InvalidDataException)
            {
                _options.Log?.Invoke($"cannot adopt guest domain {o.DomId}: {e.Message}; killing it");
                _ = Signals.Send(o.Guest.Pid, o.Guest.StartTime, Signals.SigKill);
            }
            finally
            {
                File.Delete(o.MemoryFile);
                string console = RunDirectories.GuestLogPath(RunDirectory, o.DomId);
                if (File.Exists(console + ".adopt"))
                    File.Move(console + ".adopt", console, overwrite: true);
            }
        }
    }

    /// <summary>dom0's home, as xen-init-dom0 writes it.</summary>
    private async Task WriteDom0EntriesAsync()
    {
        XenStoreClient xs = Toolstack.XenStore;
        string kib = ((ulong)_options.Dom0Pages * 4).ToString(CultureInfo.InvariantCulture);
        await xs.WriteAsync("/local/domain/0/name", "Domain-0").ConfigureAwait(false);
        await xs.WriteAsync("/local/domain/0/domid", "0").ConfigureAwait(false);
        await xs.WriteAsync("/local/domain/0/memory/static-max", kib).ConfigureAwait(false);
        await xs.WriteAsync("/local/domain/0/memory/target", kib).ConfigureAwait(false);
        await xs.MkdirAsync("/local/domain/0/backend").ConfigureAwait(false);
        await xs.MkdirAsync("/local/domain/0/device").ConfigureAwait(false);
        await xs.MkdirAsync("/vm").ConfigureAwait(false);
        await xs.MkdirAsync("/tool/xenstored").ConfigureAwait(false);
    }

    /// <summary>
    /// A run directory with a host region but no dom0 holding its lock belonged to a dom0 that
    /// died. Its guests are still running without a host: each is given
    /// <see cref="Dom0Options.AdoptTimeout"/> to notice and suspend (it holds its requests);
    /// those that did and have a <see cref="DomainRecord"/> are kept in <paramref name="orphans"/>
    /// (their memory file set aside) to be rebuilt once this host is up; the rest are killed.
    /// The old host's files are removed. Returns a description of what was recovered, or null
    /// when the directory was clean.
    /// </summary>
    private static string? RecoverStale(string dir, Dom0Options options, List<Orphan> orphans)
    {
        Action<string>? log = options.Log;
        string region = Path.Combine(dir, Host.RegionFileName);
        bool stale = File.Exists(region) || File.Exists(RunDirectories.Dom0PidPath(dir)) || File.Exists(XenStoreDaemon.SocketPathFor(dir));
        if (!stale)
            return null;
        int? oldPid = RunDirectories.ReadDom0Pid(dir);
        string what = $"stale run directory {dir} (dom0{(oldPid is int p ? " pid " + p.ToString(CultureInfo.InvariantCulture) : "")} is gone)";
        log?.Invoke($"recovering {what}");
        try
        {
            using Host old = Host.Open(dir);
            List<DomainInfo> live = [];
            for (uint id = 1; id < old.MaxDomains; id++)
            {
                if (old.Lookup((ushort)id) is { State: DomainState.Running } info && ProcessIdentity.IsAlive(info.Pid, info.StartTime))
                    live.Add(info);
            }
            long deadline = Environment.TickCount64 + (long)options.AdoptTimeout.TotalMilliseconds;
            while (live.Any(d => old.Lookup(d.DomId) is not { Shutdown: ShutdownReason.Suspend } && ProcessIdentity.IsAlive(d.Pid, d.StartTime))
                   && Environment.TickCount64 < deadline)
                Thread.Sleep(10);
            foreach (DomainInfo info in live)
            {
                DomainRecord? record = DomainRecord.TryRead(dir, info.DomId);
                string memory = old.MemoryPath(info.DomId);
                if (old.Lookup(info.DomId) is { Shutdown: ShutdownReason.Suspend } && record is not null && File.Exists(memory))
                {
                    string aside = memory + ".adopt";
                    File.Move(memory, aside, overwrite: true);
                    // The guest's console log stays its log (it keeps writing to it).
                    string console = RunDirectories.GuestLogPath(dir, info.DomId);
                    if (File.Exists(console))
                        File.Move(console, console + ".adopt", overwrite: true);
                    var types = record.Devices.Select(d => d[..d.IndexOf('/', StringComparison.Ordinal)]).ToArray();
                    orphans.Add(new Orphan(info.DomId, IncomingDomain.From(info, record.Name, types, info.DomId), aside));
                    log?.Invoke($"guest domain {info.DomId} (pid {info.Pid.ToString(CultureInfo.InvariantCulture)}) survived and suspended: adopting it");
                }
                else if (Signals.Send(info.Pid, info.StartTime, Signals.SigKill))
                {
                    log?.Invoke($"killed orphaned guest domain {info.DomId} (pid {info.Pid.ToString(CultureInfo.InvariantCulture)})");
                }
            }
        }
        catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException)
        {
            log?.Invoke($"old hypervisor region unreadable ({e.Message}): removing it");
        }
        RemoveHostFiles(dir);
        return what;
    }

    private static void RemoveHostFiles(string dir)
    {
        foreach (string f in RunDirectories.HostFiles(dir).ToArray())
        {
            if (File.Exists(f))
                File.Delete(f);
        }
        string socketDir = Path.Combine(dir, XenStoreDaemon.SocketFolderName);
        if (Directory.Exists(socketDir) && !Directory.EnumerateFileSystemEntries(socketDir).Any())
            Directory.Delete(socketDir);
        string ticketDir = Path.Combine(dir, ResumeTicket.FolderName);
        if (Directory.Exists(ticketDir) && !Directory.EnumerateFileSystemEntries(ticketDir).Any())
            Directory.Delete(ticketDir);
    }

    private async Task ReapLoopAsync()
    {
        try
        {
            using var timer = new PeriodicTimer(_options.ReapInterval);
            while (await timer.WaitForNextTickAsync(_stop.Token).ConfigureAwait(false))
            {
                try
                {
                    await ReapOnceAsync(_stop.Token).ConfigureAwait(false);
                }
#pragma warning disable CA1031 // The reaper never dies of one bad pass: it says why and tries again next tick.
                catch (Exception e) when (e is not OperationCanceledException)
#pragma warning restore CA1031
                {
                    _options.Log?.Invoke($"reaper: {e.GetType().Name}: {e.Message}");
                }
            }
        }
        catch (OperationCanceledException)
        {
            // Stopping.
        }
    }

    /// <summary>
    /// One pass of the reaper: guests whose process is gone (pid + start time), or whose
    /// heartbeat is stale when <see cref="Dom0Options.HeartbeatTimeout"/> is set, are torn
    /// down; so are XenStore homes left by a toolstack that died mid-teardown. Returns the
    /// domids torn down.
    /// </summary>
    public async Task<IReadOnlyList<ushort>> ReapOnceAsync(CancellationToken cancellationToken = default)
    {
        var victims = new List<(ushort, string)>();
        for (uint id = 1; id < Host.MaxDomains; id++)
        {
            if (Host.Lookup((ushort)id) is not { State: DomainState.Running } info)
                continue;
            if (!ProcessIdentity.IsAlive(info.Pid, info.StartTime))
                victims.Add(((ushort)id, "process died"));
            else if (_options.HeartbeatTimeout is { } limit && Host.HeartbeatAge((ushort)id) is long age && age > (long)(limit.TotalMilliseconds * 1e6))
                victims.Add(((ushort)id, "heartbeat stale"));
        }
        foreach (string name in await Toolstack.XenStore.DirectoryAsync("/local/domain").ConfigureAwait(false))
        {
            if (ushort.TryParse(name, NumberStyles.None, CultureInfo.InvariantCulture, out ushort id) && id != 0 && id < Host.MaxDomains
                && Host.Lookup(id) is null && !victims.Exists(v => v.Item1 == id))
            {
                victims.Add((id, "left over"));
            }
        }
        if (victims.Count == 0)
            return [];

        var reaped = new List<ushort>();
        using FileLock toolstackLock = await FileLock.AcquireAsync(RunDirectories.ToolstackLockPath(RunDirectory), TimeSpan.FromSeconds(30), cancellationToken).ConfigureAwait(false);
        foreach ((ushort id, string reason) in victims)
        {
            // Again under the lock: an xl may have destroyed or rebuilt it meanwhile.
            DomainInfo? info = Host.Lookup(id);
            bool still = reason switch
            {
                "left over" => info is null && await Toolstack.XenStore.ExistsAsync(XsPath.DomainPath(id)).ConfigureAwait(false),
                "process died" => info is { State: DomainState.Running } i && !ProcessIdentity.IsAlive(i.Pid, i.StartTime),
                _ => info is { State: DomainState.Running },
            };
            if (!still)
                continue;
            if (reason == "heartbeat stale" && info is { } hung)
            {
                Signals.Send(hung.Pid, hung.StartTime, Signals.SigKill);
                await DomainToolstack.WaitForExitAsync(hung, TimeSpan.FromSeconds(10), cancellationToken).ConfigureAwait(false);
            }
            await Toolstack.TeardownLockedAsync(id).ConfigureAwait(false);
            _options.Log?.Invoke($"reaped domain {id.ToString(CultureInfo.InvariantCulture)}: {reason}");
            reaped.Add(id);
            DomainGone?.Invoke(this, new DomainGoneEventArgs(id, reason));
        }
        return reaped;
    }

    /// <summary>
    /// Stops the dom0: the reaper stops; every live guest is asked to power off and given
    /// <see cref="Dom0Options.ShutdownGrace"/>, then killed; each is torn down (devices Closed,
    /// released in xenstored, entries removed, destroyed); the services stop in reverse order;
    /// xenstored stops; the run directory's files are removed unless <see cref="Dom0Options.Keep"/>.
    /// </summary>
    public async Task StopAsync(CancellationToken cancellationToken = default)
    {
        if (Interlocked.Exchange(ref _stopped, 1) != 0)
            return;
        await _stop.CancelAsync().ConfigureAwait(false);
        if (_reaper is not null)
            await _reaper.ConfigureAwait(false);

        if (Toolstack is not null)
        {
            // Guests first, while their backends still run, so each sees its frontend close.
            using FileLock toolstackLock = await FileLock.AcquireAsync(RunDirectories.ToolstackLockPath(RunDirectory), TimeSpan.FromSeconds(30), cancellationToken).ConfigureAwait(false);
            var guests = new List<(ushort Id, DomainInfo Info)>();
            for (uint id = 1; id < Host.MaxDomains; id++)
            {
                if (Host.Lookup((ushort)id) is { } info)
                    guests.Add(((ushort)id, info));
            }
            foreach ((ushort id, DomainInfo info) in guests)
            {
                if (ProcessIdentity.IsAlive(info.Pid, info.StartTime))
                {
                    _options.Log?.Invoke($"asking domain {id.ToString(CultureInfo.InvariantCulture)} to power off");
                    await TryAsync(Toolstack.XenStore.WriteAsync(XsPath.DomainPath(id) + "/control/shutdown", "poweroff")).ConfigureAwait(false);
                }
            }
            foreach ((ushort id, DomainInfo info) in guests)
            {
                // One grace period for all: they power off in parallel.
                await Toolstack.ShutdownProcessAsync(id, info, _options.ShutdownGrace, cancellationToken).ConfigureAwait(false);
                await Toolstack.TeardownLockedAsync(id).ConfigureAwait(false);
                _options.Log?.Invoke($"domain {id.ToString(CultureInfo.InvariantCulture)} destroyed");
                DomainGone?.Invoke(this, new DomainGoneEventArgs(id, "dom0 shutdown"));
            }
        }

        for (int i = _started.Count - 1; i >= 0; i--)
        {
            await _started[i].StopAsync(cancellationToken).ConfigureAwait(false);
            _options.Log?.Invoke($"stopped {_started[i].Name}");
        }
        _started.Clear();

        if (Toolstack is not null)
            await Toolstack.DisposeAsync().ConfigureAwait(false);
        await XenStore.DisposeAsync().ConfigureAwait(false);
        _ = Host.DestroyDomain(0);
        Host.Dispose();
        if (!_options.Keep)
        {
            RemoveHostFiles(RunDirectory);
            File.Delete(RunDirectories.Dom0LockPath(RunDirectory));
            if (!Directory.EnumerateFileSystemEntries(RunDirectory).Any())
                Directory.Delete(RunDirectory);
        }
        _lock.Dispose();
        _stop.Dispose();
    }

    private static async Task TryAsync(Task t)
    {
        try
        {
            await t.ConfigureAwait(false);
        }
        catch (XenStoreException)
        {
            // A guest without a control directory is killed after the grace period.
        }
    }

    /// <summary>Same as <see cref="StopAsync"/>.</summary>
    public async ValueTask DisposeAsync() => await StopAsync().ConfigureAwait(false);
}
