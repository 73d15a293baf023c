using System.Diagnostics;
using System.Globalization;
using Tolapai.Cpa;
using Tolapai.Cpa.Native;
using Tolapai.Device;
using Tolapai.Ixp.Backend;
using Tolapai.Ixp.Protocol;
using Tolapai.Xen.Hypervisor;
using Tolapai.Xen.XenStore;
using Tolapai.Xen.Xenbus;

namespace Tolapai.Ixp.Tests;

/// <summary>
/// One emulated host as the toolstack and dom0 make it: hypervisor, xenstored, the device
/// model with its native driver, and the ixp backend. Guests are child processes.
/// </summary>
internal sealed class IxpHost : IAsyncDisposable
{
    public const uint GrantFrames = 8;
    public const uint GuestPages = 1024;
    private readonly List<GuestProcess> _guests = [];

    private readonly IxpBackend? _backend;

    private IxpHost(string dir, Host host, XenStoreDaemon daemon, XenStoreClient dom0, TolapaiDevice device, NativeCyInstance native, IxpBackend? backend)
    {
        Dir = dir;
        Host = host;
        Daemon = daemon;
        Dom0 = dom0;
        Device = device;
        Native = native;
        _backend = backend;
    }

    public string Dir { get; }

    public Host Host { get; }

    public XenStoreDaemon Daemon { get; }

    public XenStoreClient Dom0 { get; }

    public TolapaiDevice Device { get; }

    public NativeCyInstance Native { get; }

    /// <summary>The backend in this process (absent when the test runs it in a child: <see cref="GuestProcess.StartBackend"/>).</summary>
    public IxpBackend Backend => _backend ?? throw new InvalidOperationException("this host's backend runs in a child process");

    /// <summary>A host; with <paramref name="inProcessBackend"/> false, no backend here (a child process serves the guests).</summary>
    public static async Task<IxpHost> StartAsync(IxpBackendOptions? options = null, DeviceOptions? deviceOptions = null, bool inProcessBackend = true)
    {
        string dir = Path.Combine(Host.DefaultRoot, "tolapai-ixp-" + Guid.NewGuid().ToString("N")[..12]);
        Host host = Host.Create(dir);
        Assert.Equal(XenError.Ok, host.CreateDomain(0, 2, 1));
        XenStoreDaemon daemon = XenStoreDaemon.Start(dir, host: host);
        XenStoreClient dom0 = await XenStoreClient.ConnectAsync(daemon.SocketPath!);
        TolapaiDevice device = TolapaiDevice.Create(deviceOptions ?? new DeviceOptions());
        Assert.Equal(CpaStatus.Success, NativeCyInstance.Create(device, CompletionMode.Polling, out NativeCyInstance? native));
        IxpBackend? backend = null;
        if (inProcessBackend)
        {
            XenStoreClient backendClient = await XenStoreClient.ConnectAsync(daemon.SocketPath!);
            backend = await IxpBackend.StartAsync(host, backendClient, native!, options);
        }

        return new IxpHost(dir, host, daemon, dom0, device, native!, backend);
    }

    /// <summary>Starts a guest process in role <paramref name="role"/> as domain <paramref name="domid"/>, as `xl create` + `xl device-add` would.</summary>
    public async Task<GuestProcess> StartGuestAsync(ushort domid, string role, params string[] options)
    {
        GuestProcess g = new(role, Dir, domid, options);
        _guests.Add(g);
        Assert.Equal(XenError.Ok, Host.CreateDomain(domid, GuestPages, GrantFrames, g.Pid));
        uint gfn = GrantFrames; // the first data frame holds the xenstore ring
        Assert.Equal(XenError.Ok, Host.AllocUnbound(domid, 0, out uint port));
        await Dom0.IntroduceAsync(domid, gfn, port);
        await AddDeviceAsync(domid);
        g.Send($"go {gfn} {port}");
        return g;
    }

    /// <summary>The toolstack's device directories, in one transaction (as libxl does).</summary>
    public async Task AddDeviceAsync(ushort domid)
    {
        string d = domid.ToString(CultureInfo.InvariantCulture);
        string home = XsPath.DomainPath(domid);
        string front = XenbusPaths.Frontend(domid, IxpKeys.DeviceType, 0);
        string back = XenbusPaths.Backend(domid, IxpKeys.DeviceType, 0);
        for (int attempt = 0; ; attempt++)
        {
            uint tx = await Dom0.TransactionStartAsync();
            await Dom0.MkdirAsync(home, tx);
            await Dom0.SetPermsAsync(home, [new(domid, XsAccess.None)], tx);
            await Dom0.MkdirAsync(front, tx);
            await Dom0.SetPermsAsync(front, [new(domid, XsAccess.None), new(0, XsAccess.Read)], tx);
            await Dom0.WriteAsync(front + "/backend", back, tx);
            await Dom0.WriteAsync(front + "/backend-id", "0", tx);
            await Dom0.WriteAsync(front + "/state", "1", tx);
            await Dom0.MkdirAsync(back, tx);
            await Dom0.SetPermsAsync(back, [new(0, XsAccess.None), new(domid, XsAccess.Read)], tx);
            await Dom0.WriteAsync(back + "/frontend", front, tx);
            await Dom0.WriteAsync(back + "/frontend-id", d, tx);
            await Dom0.WriteAsync(back + "/state", "1", tx);
            if (await Dom0.TransactionEndAsync(tx, commit: true) || attempt > 5)
            {
                return;
            }
        }
    }

    /// <summary>What `xl destroy` does: the domain goes, its device directories with it.</summary>
    public async Task DestroyGuestAsync(ushort domid)
    {
        await Dom0.ReleaseAsync(domid); // xenstored lets go of its ring, so a new domain can be introduced
        _ = Host.DestroyDomain(domid);
        await Dom0.RmAsync(XenbusPaths.Frontend(domid, IxpKeys.DeviceType, 0));
        await Dom0.RmAsync(XsPath.DomainPath(domid) + "/device");
        await Dom0.RmAsync("/local/domain/0/backend/ixp/" + domid.ToString(CultureInfo.InvariantCulture));
    }

    /// <summary>Polls <paramref name="condition"/> until true or 20 s pass.</summary>
    public static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        Stopwatch sw = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(sw.Elapsed < TimeSpan.FromSeconds(20), "timed out waiting until " + what);
            await Task.Delay(10);
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (GuestProcess g in _guests)
        {
            g.Dispose();
        }

        if (_backend is not null)
        {
            await _backend.DisposeAsync();
        }

        Native.Dispose();
        Device.Dispose();
        await Dom0.DisposeAsync();
        await Daemon.DisposeAsync();
        Host.Dispose();
        try
        {
            Directory.Delete(Dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>A Tolapai.Ixp.TestChild process: lines read with a timeout, killed on dispose if still running.</summary>
internal sealed class GuestProcess : IDisposable
{
    private readonly Process _p;
    private readonly List<string> _all = [];

    public GuestProcess(string role, string dir, ushort domid, string[] options, string? testFaults = null)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false };
        if (testFaults is not null)
        {
            psi.Environment["TOLAPAI_TEST_FAULTS"] = testFaults;
        }

        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Tolapai.Ixp.TestChild.dll"));
        psi.ArgumentList.Add(role);
        psi.ArgumentList.Add(dir);
        psi.ArgumentList.Add(domid.ToString(CultureInfo.InvariantCulture));
        foreach (string o in options)
        {
            psi.ArgumentList.Add(o);
        }

        _p = Process.Start(psi)!;
    }

    public int Pid => _p.Id;

    /// <summary>dom0's backend (device, driver, ixp backend) in a child process on <paramref name="host"/>, with <paramref name="testFaults"/> set there only; returns once it is READY.</summary>
    public static async Task<GuestProcess> StartBackend(IxpHost host, string? testFaults)
    {
        GuestProcess b = new("backend", host.Dir, 0, [], testFaults);
        try
        {
            await b.ExpectAsync("READY");
            return b;
        }
        catch
        {
            b.Dispose();
            throw;
        }
    }

    public void Send(string line)
    {
        _p.StandardInput.WriteLine(line);
        _p.StandardInput.Flush();
    }

    /// <summary>Reads lines until one starts with <paramref name="prefix"/>; fails on FAIL or end.</summary>
    public async Task<string> ExpectAsync(string prefix)
    {
        while (true)
        {
            string? got;
            try
            {
                got = await _p.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30));
            }
            catch (TimeoutException)
            {
                Assert.Fail($"no '{prefix}' from the guest in 30 s; it said: {string.Join('\n', _all)}");
                throw;
            }

            if (got is null)
            {
                Assert.Fail($"child ended before '{prefix}': {string.Join('\n', _all)} {await _p.StandardError.ReadToEndAsync()}");
            }

            _all.Add(got);
            Assert.False(got.StartsWith("FAIL", StringComparison.Ordinal), got);
            if (got.StartsWith(prefix, StringComparison.Ordinal))
            {
                return got;
            }
        }
    }

    /// <summary>Lets a finished role exit (it waits for a line) and checks its exit code.</summary>
    public async Task FinishAsync()
    {
        Send("bye");
        await _p.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(0, _p.ExitCode);
    }

    public async Task KillAsync()
    {
        _p.Kill();
        await _p.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        if (!_p.HasExited)
        {
            _p.Kill();
        }

        _p.Dispose();
    }

    private int _disposed;
}
