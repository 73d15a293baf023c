using System.Net.Sockets;
using System.Runtime.InteropServices;
using Tolapai.Xen.Hypervisor;

namespace Tolapai.Xen.XenStore;

/// <summary>
/// xenstored for one host: the tree, watches, transactions and quotas, served on the
/// <c>xs_wire.h</c> protocol to dom0 tools on the Unix socket <c>&lt;run-dir&gt;/xenstored/socket</c>
/// (Xen's own clients reach it with <c>XENSTORED_PATH</c>) and to guests on channels whose
/// identity is fixed by the daemon (<see cref="ConnectDomain"/>).
/// </summary>
/// <remarks>
/// One lock orders every request against the tree: requests are short and never wait inside it.
/// Each connection has its own reader and writer tasks, so a slow or hostile client holds only itself up.
/// </remarks>
public sealed partial class XenStoreDaemon : IAsyncDisposable
{
    /// <summary>Folder of the socket under the run directory.</summary>
    public const string SocketFolderName = "xenstored";

    /// <summary>File name of the socket.</summary>
    public const string SocketFileName = "socket";

    private readonly Lock _gate = new();
    private readonly XsTree _tree = new();
    private readonly List<XsConnection> _connections = [];
    private readonly Dictionary<uint, XsDomain> _domains = [];
    private readonly List<Task> _running = [];
    private readonly CancellationTokenSource _stop = new();
    private Socket? _listener;
    private Task? _acceptLoop;
    private uint _nextTransactionId;
    private int _disposed;

    /// <summary>A daemon with no socket yet (guest channels only); see <see cref="Start"/>.</summary>
    /// <param name="options">Quotas; Xen's defaults when null.</param>
    /// <param name="host">The hypervisor whose guests' rings XS_INTRODUCE attaches; without it INTRODUCE only records the domain.</param>
    public XenStoreDaemon(XenStoreOptions? options = null, Host? host = null)
    {
        Options = options ?? new XenStoreOptions();
        Host = host;
    }

    /// <summary>The hypervisor of this dom0, if rings are served.</summary>
    public Host? Host { get; }

    /// <summary>Quotas in force.</summary>
    public XenStoreOptions Options { get; }

    /// <summary>The socket path, once listening.</summary>
    public string? SocketPath { get; private set; }

    /// <summary>Where a run directory's XenStore socket is.</summary>
    public static string SocketPathFor(string runDirectory) => Path.Combine(runDirectory, SocketFolderName, SocketFileName);

    /// <summary>
    /// Starts a daemon listening on <c>&lt;runDirectory&gt;/xenstored/socket</c>. A stale socket
    /// file (nobody listening) is replaced; a live one means another daemon owns the run directory.
    /// </summary>
    /// <exception cref="IOException">Another daemon is listening on that socket.</exception>
    public static XenStoreDaemon Start(string runDirectory, XenStoreOptions? options = null, Host? host = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(runDirectory);
        var daemon = new XenStoreDaemon(options, host);
        daemon.Listen(SocketPathFor(runDirectory));
        return daemon;
    }

    private void Listen(string path)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        if (File.Exists(path))
        {
            using var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            try
            {
                probe.Connect(new UnixDomainSocketEndPoint(path));
                throw new IOException($"another xenstored is listening on {path}");
            }
            catch (SocketException)
            {
                File.Delete(path); // stale: its daemon is gone
            }
        }
        var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(path));
        if (!OperatingSystem.IsWindows())
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite); // as xenstored: 0600
        listener.Listen(64);
        _listener = listener;
        SocketPath = path;
        _acceptLoop = AcceptLoopAsync(listener);
    }

    private async Task AcceptLoopAsync(Socket listener)
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await listener.AcceptAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException or OperationCanceledException)
            {
                return;
            }
            // Socket clients are dom0's tools: privileged, as on xenstored's socket.
            Attach(client, 0);
        }
    }

    /// <summary>
    /// Opens a channel for guest <paramref name="domid"/>: the daemon keeps one end, whose requests
    /// are checked as that domain's (the identity comes from the channel, as with a guest's ring),
    /// and returns the other. Used by in-process toolstacks and by tests.
    /// </summary>
    public Socket ConnectDomain(uint domid)
    {
        if (domid >= XsLimits.DomIdFirstReserved)
            throw new ArgumentOutOfRangeException(nameof(domid), domid, "not a valid domid");
        (Socket mine, Socket theirs) = SocketPairOf();
        Attach(mine, domid);
        return theirs;
    }

    /// <summary>Two connected Unix stream sockets (socketpair(2)).</summary>
    internal static (Socket, Socket) SocketPairOf()
    {
        Span<int> fds = stackalloc int[2];
        if (SocketPair(1 /* AF_UNIX */, 1 | 0x80000 /* SOCK_STREAM | SOCK_CLOEXEC */, 0, fds) != 0)
            throw new IOException($"socketpair failed: errno {Marshal.GetLastPInvokeError()}");
        return (new Socket(new SafeSocketHandle(fds[0], ownsHandle: true)), new Socket(new SafeSocketHandle(fds[1], ownsHandle: true)));
    }

    [LibraryImport("libc", EntryPoint = "socketpair", SetLastError = true)]
    private static partial int SocketPair(int domain, int type, int protocol, Span<int> fds);

    private void Attach(Socket socket, uint domid)
    {
        var conn = new XsConnection(this, socket, domid, Options.OutstandingRequests);
        lock (_gate)
        {
            if (domid != 0 && _domains.TryGetValue(domid, out XsDomain? d))
                conn.Target = d.Target;
            _connections.Add(conn);
            _running.RemoveAll(t => t.IsCompleted);
            _running.Add(conn.RunAsync());
        }
    }

    /// <summary>Drops a closed connection's watches and transactions.</summary>
    internal void Forget(XsConnection conn)
    {
        lock (_gate)
        {
            _connections.Remove(conn);
            conn.Watches.Clear();
            conn.Transactions.Clear();
        }
    }

    /// <summary>Number of open client connections (tests use it to see a hostile client dropped).</summary>
    public int ConnectionCount
    {
        get
        {
            lock (_gate)
                return _connections.Count;
        }
    }

    /// <summary>Whether a domain has been introduced (dom0 always is).</summary>
    public bool IsIntroduced(uint domid)
    {
        lock (_gate)
            return domid == 0 || _domains.ContainsKey(domid);
    }

    /// <summary>Stops listening, closes every connection, removes the socket file. A second call does nothing.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        await _stop.CancelAsync().ConfigureAwait(false);
        _listener?.Dispose();
        if (_acceptLoop is not null)
            await _acceptLoop.ConfigureAwait(false);
        XsConnection[] open;
        lock (_gate)
            open = [.. _connections];
        foreach (XsConnection c in open)
            c.Close("daemon stopped");
        XsDomain[] domains;
        lock (_gate)
            domains = [.. _domains.Values];
        foreach (XsDomain d in domains)
            d.DetachRing();

        // Connections, and rings detached by XS_RELEASE, until all have stopped.
        Task[] running;
        lock (_gate)
            running = [.. _running];
        await Task.WhenAll(running).ConfigureAwait(false);
        if (SocketPath is not null)
            File.Delete(SocketPath);
        _stop.Dispose();
    }
}

/// <summary>An introduced domain (XS_INTRODUCE): its ring frame and event channel as given, and its target.</summary>
internal sealed class XsDomain(uint domid, ulong gfn, uint port)
{
    public uint DomId { get; } = domid;

    public ulong Gfn { get; } = gfn;

    public uint Port { get; } = port;

    public uint? Target { get; set; }

    /// <summary>The ring pump when the daemon serves this domain's xenstore page.</summary>
    public XsRingPump? Ring { get; set; }

    /// <summary>dom0's end of the store event channel.</summary>
    public uint LocalPort { get; set; }

    public Host? Host { get; set; }

    /// <summary>Stops the ring and closes dom0's end of the event channel.</summary>
    public void DetachRing()
    {
        XsRingPump? ring = Ring;
        Ring = null;
        if (ring is null)
            return;
        if (Host is not null)
            _ = Host.CloseEventChannel(0, LocalPort);
        ring.Dispose();
    }
}
