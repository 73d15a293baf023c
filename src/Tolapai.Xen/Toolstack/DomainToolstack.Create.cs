using System.Diagnostics;
using System.Globalization;
using Tolapai.Xen.Hypervisor;
using Tolapai.Xen.Memory;
using Tolapai.Xen.XenStore;
using Tolapai.Xen.Xenbus;

namespace Tolapai.Xen.Toolstack;

/// <summary>Building a domain: <c>xl create</c> and <c>xl device-add</c>.</summary>
public sealed partial class DomainToolstack
{
    // The guest starts "paused", as a Xen domain is built paused and unpaused at the end: a
    // shell waits for its xenstore port on stdin, then execs the guest command with it. Its pid
    // is the guest's from the start, so the domain table names the right process at once.
    private const string LauncherScript =
        "exec >\"$1\" 2>&1; shift; IFS= read -r p || exit 125; "
        + "case \"$p\" in ''|*[!0-9]*) exit 125;; esac; "
        + "TOLAPAI_XENSTORE_PORT=$p; export TOLAPAI_XENSTORE_PORT; exec \"$@\" </dev/null";

    private const string LauncherShell = "/bin/sh";

    /// <summary>
    /// <c>xl create</c>: allocates the next free domid, creates the domain and its memory,
    /// allocates its xenstore event channel, writes its <c>/local/domain/&lt;id&gt;</c> entries
    /// with Xen's permissions, adds its devices, introduces it to xenstored, and starts
    /// <paramref name="command"/> as the guest process with its <see cref="GuestStartInfo"/> in
    /// the environment (stdout and stderr to <see cref="RunDirectories.GuestLogPath"/>). If the
    /// command cannot be started, everything is undone.
    /// </summary>
    public async Task<CreatedDomain> CreateAsync(DomainConfig config, IReadOnlyList<string> command, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(command);
        if (command.Count == 0)
            throw new ToolstackException("no guest command given", isUsageError: true);
        if (config.GrantFrames == 0 || (ulong)config.GrantFrames * 512 > Host.MaxGrantEntries)
            throw new ToolstackException($"grant frames must be 1..{Host.MaxGrantEntries / 512} on this host", isUsageError: true);
        if (config.MemoryPages < config.GrantFrames + 2 || config.MemoryPages > (1u << 20))
            throw new ToolstackException($"memory pages must be {config.GrantFrames + 2}..{1u << 20} (grant table, one data page and the xenstore page at least)", isUsageError: true);
        if (config.Name is { } n && !IsValidName(n))
            throw new ToolstackException($"bad domain name '{n}': 1..64 of [A-Za-z0-9_.-]", isUsageError: true);
        foreach (string type in config.Devices)
            CheckDeviceType(type);
        string executable = ResolveExecutable(command[0]);

        using FileLock toolstackLock = await LockAsync(cancellationToken).ConfigureAwait(false);
        if (config.Name is { } wanted && await FindByNameAsync(wanted).ConfigureAwait(false) is ushort other)
            throw new ToolstackException($"a domain named '{wanted}' already exists (domid {other})", isUsageError: true);
        ushort domid = await NextFreeDomIdAsync().ConfigureAwait(false);
        string name = config.Name ?? "domu-" + Id(domid);
        uint storeFrame = config.MemoryPages - 1; // the top page, as Xen puts special pages at the top
        string log = RunDirectories.GuestLogPath(RunDirectory, domid);

        using Process launcher = StartLauncher(domid, storeFrame, executable, command, log, config);
        bool built = false;
        try
        {
            XenError created = Host.CreateDomain(domid, config.MemoryPages, config.GrantFrames, launcher.Id);
            if (created != XenError.Ok)
                throw new ToolstackException($"cannot create domain {domid}: {created}");
            XenError alloc = Host.AllocUnbound(domid, 0, out uint port);
            if (alloc != XenError.Ok)
                throw new ToolstackException($"cannot allocate the xenstore event channel of domain {domid}: {alloc}");
            await WriteDomainEntriesAsync(domid, name, config.MemoryPages).ConfigureAwait(false);
            List<string> devices = [];
            foreach (string type in config.Devices)
                devices.Add(type + "/" + Id(await AddDeviceLockedAsync(domid, type).ConfigureAwait(false)));
            new DomainRecord(name, devices).Write(RunDirectory, domid);
            await XenStore.IntroduceAsync(domid, storeFrame, port).ConfigureAwait(false);

            // Unpause: the guest learns its port and becomes the command.
            await launcher.StandardInput.WriteLineAsync(port.ToString(CultureInfo.InvariantCulture)).ConfigureAwait(false);
            launcher.StandardInput.Close();
            await WaitForExecAsync(launcher, executable, command, log, cancellationToken).ConfigureAwait(false);
            built = true;
            return new CreatedDomain(domid, name, launcher.Id, log, new GuestStartInfo(RunDirectory, domid, storeFrame, port));
        }
        finally
        {
            if (!built)
            {
                try
                {
                    launcher.Kill();
                }
                catch (InvalidOperationException)
                {
                    // Already exited.
                }
                try
                {
                    await TeardownLockedAsync(domid).ConfigureAwait(false);
                }
                catch (Exception e) when (e is XenStoreException or IOException)
                {
                    // The error that stopped the build is the one to report; what is left of
                    // the domain (its process is gone) is finished by the dom0's reaper.
                }
            }
        }
    }

    /// <summary><c>xl device-add &lt;domid&gt; &lt;type&gt;</c>: the next free devid's frontend and backend directories; returns the devid.</summary>
    public async Task<uint> AddDeviceAsync(ushort domid, string type, CancellationToken cancellationToken = default)
    {
        CheckDeviceType(type);
        CheckGuestDomId(domid);
        using FileLock toolstackLock = await LockAsync(cancellationToken).ConfigureAwait(false);
        if (Host.Lookup(domid) is null || !await XenStore.ExistsAsync(XsPath.DomainPath(domid)).ConfigureAwait(false))
            throw new ToolstackException($"domain {domid} does not exist");
        uint devid = await AddDeviceLockedAsync(domid, type).ConfigureAwait(false);
        if (DomainRecord.TryRead(RunDirectory, domid) is { } record)
            (record with { Devices = [.. record.Devices, type + "/" + Id(devid)] }).Write(RunDirectory, domid);
        return devid;
    }

    /// <summary>
    /// Writes a device's two directories as Xen's toolstack does (and the seed's
    /// xenstore_script.sh did): the frontend's owned by the guest and readable by the backend,
    /// the backend's owned by dom0 and readable by the guest; both start Initialising.
    /// </summary>
    private async Task<uint> AddDeviceLockedAsync(ushort domid, string type)
    {
        string[] existing = await TryDirectoryAsync(XsPath.DomainPath(domid) + "/device/" + type).ConfigureAwait(false);
        uint devid = 0;
        while (existing.Contains(Id(devid)))
            devid++;
        string front = XenbusPaths.Frontend(domid, type, devid);
        string back = XenbusPaths.Backend(domid, type, devid);
        string initialising = XenbusPaths.Format(XenbusState.Initialising);
        await InTransactionAsync(async tx =>
        {
            // A backend directory left from an earlier domain with this domid (a backend that was
            // still finishing with it may have written keys after the teardown removed it) goes
            // first: keys under it would keep the permissions they were made with, not the new
            // guest's read access.
            await RemoveIfPresentAsync(back, tx).ConfigureAwait(false);
            await XenStore.MkdirAsync(front, tx).ConfigureAwait(false);
            await XenStore.SetPermsAsync(front, [new(domid, XsAccess.None), new(0, XsAccess.Read)], tx).ConfigureAwait(false);
            await XenStore.WriteAsync(XenbusPaths.Key(front, XenbusPaths.BackendKey), back, tx).ConfigureAwait(false);
            await XenStore.WriteAsync(XenbusPaths.Key(front, XenbusPaths.BackendIdKey), "0", tx).ConfigureAwait(false);
            await XenStore.WriteAsync(XenbusPaths.Key(front, XenbusPaths.StateKey), initialising, tx).ConfigureAwait(false);
            await XenStore.MkdirAsync(back, tx).ConfigureAwait(false);
            await XenStore.SetPermsAsync(back, [new(0, XsAccess.None), new(domid, XsAccess.Read)], tx).ConfigureAwait(false);
            await XenStore.WriteAsync(XenbusPaths.Key(back, XenbusPaths.FrontendKey), front, tx).ConfigureAwait(false);
            await XenStore.WriteAsync(XenbusPaths.Key(back, XenbusPaths.FrontendIdKey), Id(domid), tx).ConfigureAwait(false);
            await XenStore.WriteAsync(XenbusPaths.Key(back, "online"), "1", tx).ConfigureAwait(false);
            await XenStore.WriteAsync(XenbusPaths.Key(back, XenbusPaths.StateKey), initialising, tx).ConfigureAwait(false);
        }).ConfigureAwait(false);
        return devid;
    }

    private async Task RemoveIfPresentAsync(string path, uint tx)
    {
        try
        {
            await XenStore.RmAsync(path, tx).ConfigureAwait(false);
        }
        catch (XenStoreException e) when (e.ErrorName == "ENOENT")
        {
            // Nothing there: the usual case.
        }
    }

    /// <summary>
    /// The domain's home as libxl writes it: <c>/local/domain/&lt;id&gt;</c> owned by dom0 and
    /// readable by the guest (so it cannot rename itself), with the guest's own directories
    /// (device, control, data, drivers, feature, attr, error) owned by the guest.
    /// </summary>
    private async Task WriteDomainEntriesAsync(ushort domid, string name, uint memoryPages)
    {
        string home = XsPath.DomainPath(domid);
        XsPermission[] readOnly = [new(0, XsAccess.None), new(domid, XsAccess.Read)];
        XsPermission[] guestOwned = [new(domid, XsAccess.None)];
        string kib = ((ulong)memoryPages * (GuestMemory.PageSize / 1024)).ToString(CultureInfo.InvariantCulture);
        await InTransactionAsync(async tx =>
        {
            await XenStore.MkdirAsync(home, tx).ConfigureAwait(false);
            await XenStore.SetPermsAsync(home, readOnly, tx).ConfigureAwait(false);
            await XenStore.WriteAsync(home + "/name", name, tx).ConfigureAwait(false);
            await XenStore.WriteAsync(home + "/domid", Id(domid), tx).ConfigureAwait(false);
            await XenStore.WriteAsync(home + "/memory/static-max", kib, tx).ConfigureAwait(false);
            await XenStore.WriteAsync(home + "/memory/target", kib, tx).ConfigureAwait(false);
            foreach (string dir in (string[])["device", "control", "data", "drivers", "feature", "attr", "error"])
            {
                await XenStore.MkdirAsync(home + "/" + dir, tx).ConfigureAwait(false);
                await XenStore.SetPermsAsync(home + "/" + dir, guestOwned, tx).ConfigureAwait(false);
            }
            await XenStore.WriteAsync(home + "/control/shutdown", "", tx).ConfigureAwait(false);
            await XenStore.SetPermsAsync(home + "/control/shutdown", guestOwned, tx).ConfigureAwait(false);
        }).ConfigureAwait(false);
    }

    private async Task<ushort> NextFreeDomIdAsync()
    {
        for (uint id = 1; id < Host.MaxDomains; id++)
        {
            // A slot whose XenStore home is still there awaits its teardown: not free yet.
            if (Host.Lookup((ushort)id) is null && !await XenStore.ExistsAsync(XsPath.DomainPath(id)).ConfigureAwait(false))
                return (ushort)id;
        }
        throw new ToolstackException($"no free domid: all {Host.MaxDomains - 1} guest slots of this host are in use (dom0 --max-domains)");
    }

    private Process StartLauncher(ushort domid, uint storeFrame, string executable, IReadOnlyList<string> command, string log, DomainConfig config)
    {
        var psi = new ProcessStartInfo(LauncherShell)
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            WorkingDirectory = config.WorkingDirectory ?? Environment.CurrentDirectory,
        };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(LauncherScript);
        psi.ArgumentList.Add("tolapai-domain-launcher");
        psi.ArgumentList.Add(log);
        psi.ArgumentList.Add(executable);
        for (int i = 1; i < command.Count; i++)
            psi.ArgumentList.Add(command[i]);
        if (config.Environment is not null)
        {
            foreach ((string k, string v) in config.Environment)
                psi.Environment[k] = v;
        }
        psi.Environment[GuestStartInfo.RunDirectoryVariable] = RunDirectory;
        psi.Environment[GuestStartInfo.DomIdVariable] = Id(domid);
        psi.Environment[GuestStartInfo.XenStoreFrameVariable] = Id(storeFrame);
        psi.Environment.Remove(GuestStartInfo.XenStorePortVariable);
        try
        {
            return Process.Start(psi) ?? throw new ToolstackException($"cannot start {LauncherShell}");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new ToolstackException($"cannot start {LauncherShell}: {e.Message}", e);
        }
    }

    /// <summary>Waits until the launcher has become the guest command (its argv is the command's) or has failed.</summary>
    private static async Task WaitForExecAsync(Process launcher, string executable, IReadOnlyList<string> command, string log, CancellationToken cancellationToken)
    {
        string expected = string.Join('\0', [executable, .. command.Skip(1)]) + "\0";
        string cmdline = $"/proc/{launcher.Id.ToString(CultureInfo.InvariantCulture)}/cmdline";
        long deadline = Environment.TickCount64 + 10_000;
        while (true)
        {
            if (launcher.HasExited)
            {
                int code = launcher.ExitCode;
                if (code is 125 or 126 or 127)
                    throw new ToolstackException($"cannot start '{command[0]}' (exit {code}): {LastLine(log)}");
                return; // it ran and ended by itself: a guest that died, which the dom0 reaps
            }
            try
            {
                if (File.ReadAllText(cmdline) == expected)
                    return;
            }
            catch (IOException)
            {
                // Between exit and reaping: the next round sees HasExited.
            }
            if (Environment.TickCount64 > deadline)
                throw new ToolstackException($"'{command[0]}' did not start within 10 s");
            await Task.Delay(2, cancellationToken).ConfigureAwait(false);
        }
    }

    private static string LastLine(string log)
    {
        try
        {
            string[] lines = File.ReadAllLines(log);
            return lines.Length > 0 ? lines[^1] : "no output";
        }
        catch (IOException)
        {
            return "no output";
        }
    }

    /// <summary>The command as a path: as given when it has a '/', else looked up in PATH, and executable.</summary>
    private static string ResolveExecutable(string word)
    {
        if (word.Length == 0)
            throw new ToolstackException("the guest command is empty", isUsageError: true);
        if (word.Contains('/', StringComparison.Ordinal))
        {
            string full = Path.GetFullPath(word);
            return IsExecutable(full) ? full : throw new ToolstackException($"cannot run '{word}': no such executable file", isUsageError: true);
        }
        foreach (string dir in (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            string candidate = Path.Combine(dir, word);
            if (IsExecutable(candidate))
                return candidate;
        }
        throw new ToolstackException($"cannot run '{word}': not found in PATH", isUsageError: true);
    }

    private static bool IsExecutable(string path) =>
        File.Exists(path) && !OperatingSystem.IsWindows()
        && (File.GetUnixFileMode(path) & (UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute)) != 0;

    private static bool IsValidName(string name) =>
        name.Length is > 0 and <= 64 && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.');

    private static void CheckDeviceType(string type)
    {
        if (!SupportedDeviceTypes.Contains(type))
            throw new ToolstackException($"unknown device type '{type}' (known: {string.Join(", ", SupportedDeviceTypes)})", isUsageError: true);
    }

    private static void CheckGuestDomId(ushort domid)
    {
        if (domid == 0)
            throw new ToolstackException("domain 0 is the dom0 itself, not a guest", isUsageError: true);
    }
}
