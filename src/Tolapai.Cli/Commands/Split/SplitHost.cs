using System.Diagnostics;
using Tolapai.Ixp.Backend;
using Tolapai.Xen.Hypervisor;
using Tolapai.Xen.Toolstack;

namespace Tolapai.Cli.Commands.Split;

/// <summary>
/// The host a split-driver command runs its guests on: an embedded dom0 in this process (a fresh
/// run directory under /dev/shm, xenstored, the accelerator and the ixp backend; removed again
/// at the end) or the dom0 already running on a given run directory. Guests are made with the
/// toolstack, exactly as <c>tolapai xl create</c> makes them, and destroyed if still there at the end.
/// </summary>
internal sealed class SplitHost : IAsyncDisposable
{
    private readonly Dom0Host? _dom0;
    private readonly List<CreatedDomain> _guests = [];

    private SplitHost(string runDirectory, DomainToolstack toolstack, Dom0Host? dom0, IxpBackendService? service)
    {
        RunDirectory = runDirectory;
        Toolstack = toolstack;
        _dom0 = dom0;
        Service = service;
    }

    /// <summary>The run directory.</summary>
    public string RunDirectory { get; }

    /// <summary>The toolstack.</summary>
    public DomainToolstack Toolstack { get; }

    /// <summary>The embedded dom0's accelerator and backend, or null on a running dom0.</summary>
    public IxpBackendService? Service { get; }

    /// <summary>Starts an embedded dom0 with <paramref name="service"/> (when <paramref name="runDirectory"/> is null) or opens the running one.</summary>
    public static async Task<SplitHost> StartAsync(string? runDirectory, IxpBackendService? service, CancellationToken cancellationToken)
    {
        if (runDirectory is not null)
        {
            return new SplitHost(runDirectory, await DomainToolstack.OpenAsync(runDirectory, cancellationToken).ConfigureAwait(false), null, null);
        }

        ArgumentNullException.ThrowIfNull(service);
        string dir = Path.Combine(Host.DefaultRoot, $"tolapai-{Environment.ProcessId}-{Guid.NewGuid().ToString("N")[..8]}");
        Dom0Host dom0 = await Dom0Host.StartAsync(new Dom0Options
        {
            RunDirectory = dir,
            Services = [service],
            ShutdownGrace = TimeSpan.FromSeconds(2),
            MaxGrantEntries = 1 << 16,
        }, cancellationToken).ConfigureAwait(false);
        return new SplitHost(dir, dom0.Toolstack, dom0, service);
    }

    /// <summary>Starts a guest running this program's <c>domu</c> with <paramref name="domuArguments"/>.</summary>
    public async Task<CreatedDomain> CreateGuestAsync(string name, uint pages, IReadOnlyList<string> domuArguments, CancellationToken cancellationToken)
    {
        string[] command = [.. SelfCommand(), "domu", .. domuArguments];
        CreatedDomain d = await Toolstack.CreateAsync(
            new DomainConfig { Name = name, MemoryPages = pages, GrantFrames = Math.Min(64, (pages / 512) + 2) },
            command,
            cancellationToken).ConfigureAwait(false);
        _guests.Add(d);
        return d;
    }

    /// <summary>Waits until the guest's process has ended.</summary>
    public static async Task WaitForExitAsync(CreatedDomain guest, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(guest);
        Process? p;
        try
        {
            p = Process.GetProcessById(guest.Pid);
        }
        catch (ArgumentException)
        {
            return; // already ended
        }

        using (p)
        {
            await p.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>The last lines of a guest's console log, for an error message.</summary>
    public static string LogTail(CreatedDomain guest, int lines = 5)
    {
        ArgumentNullException.ThrowIfNull(guest);
        try
        {
            return string.Join(" | ", File.ReadAllLines(guest.LogPath).TakeLast(lines));
        }
        catch (IOException)
        {
            return "(no console log)";
        }
    }

    /// <summary>How to start this program again: the apphost, or dotnet with the entry assembly.</summary>
    public static string[] SelfCommand()
    {
        string host = Environment.ProcessPath ?? "dotnet";
        return Path.GetFileNameWithoutExtension(host) == "dotnet"
            ? [host, typeof(SplitHost).Assembly.Location]
            : [host];
    }

    /// <summary>Destroys the guests still there and stops the embedded dom0 (or lets go of the running one).</summary>
    public async ValueTask DisposeAsync()
    {
        foreach (CreatedDomain d in _guests)
        {
            if (ProcessIdentity.StartTime(d.Pid) is not null && Toolstack.Host.Lookup(d.DomId) is { Pid: var pid } && pid == d.Pid)
            {
                try
                {
                    await Toolstack.DestroyAsync(d.DomId, TimeSpan.FromSeconds(2), CancellationToken.None).ConfigureAwait(false);
                }
                catch (ToolstackException)
                {
                    // Gone meanwhile: the reaper got there first.
                }
            }
        }

        if (_dom0 is not null)
        {
            await _dom0.StopAsync(CancellationToken.None).ConfigureAwait(false);
        }
        else
        {
            await Toolstack.DisposeAsync().ConfigureAwait(false);
        }
    }
}
