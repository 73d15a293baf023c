using System.Globalization;
using System.Net.Sockets;
using System.Text;
using Tolapai.Xen.XenStore;

namespace Tolapai.XenStore.Tests;

/// <summary>A daemon listening in a fresh run directory under /dev/shm (or /tmp), removed on dispose.</summary>
public sealed class DaemonFixture : IAsyncDisposable
{
    private readonly List<IAsyncDisposable> _clients = [];

    private DaemonFixture(string runDirectory, XenStoreDaemon daemon)
    {
        RunDirectory = runDirectory;
        Daemon = daemon;
    }

    public string RunDirectory { get; }

    public XenStoreDaemon Daemon { get; }

    public string SocketPath => Daemon.SocketPath!;

    public static DaemonFixture Start(XenStoreOptions? options = null)
    {
        string root = Directory.Exists("/dev/shm") ? "/dev/shm" : Path.GetTempPath();
        string dir = Path.Combine(root, "tolapai-xs-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(dir);
        return new DaemonFixture(dir, XenStoreDaemon.Start(dir, options));
    }

    /// <summary>A dom0 client on the socket.</summary>
    public async Task<XenStoreClient> Dom0Async()
    {
        XenStoreClient c = await XenStoreClient.ConnectAsync(SocketPath);
        _clients.Add(c);
        return c;
    }

    /// <summary>A client speaking as guest <paramref name="domid"/>.</summary>
    public XenStoreClient Guest(uint domid)
    {
        var c = new XenStoreClient(Daemon.ConnectDomain(domid));
        _clients.Add(c);
        return c;
    }

    /// <summary>A raw socket on the daemon, for malformed input.</summary>
    public Socket Raw()
    {
        var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        s.Connect(new UnixDomainSocketEndPoint(SocketPath));
        return s;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (IAsyncDisposable c in _clients)
            await c.DisposeAsync();
        await Daemon.DisposeAsync();
        try
        {
            Directory.Delete(RunDirectory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

public static class Wire
{
    public static byte[] Bytes(string s) => Encoding.ASCII.GetBytes(s);

    public static string Text(byte[] b) => Encoding.ASCII.GetString(b);

    /// <summary>Builds a raw message.</summary>
    public static byte[] Message(uint type, uint reqId, uint txId, byte[] payload, uint? len = null)
    {
        byte[] m = new byte[XsHeader.Size + payload.Length];
        XsHeader h = default;
        h.Type = type;
        h.ReqId = reqId;
        h.TxId = txId;
        h.Len = len ?? (uint)payload.Length;
        h.Write(m);
        payload.CopyTo(m, XsHeader.Size);
        return m;
    }

    /// <summary>Reads one message; null when the daemon closed the connection.</summary>
    public static async Task<(XsHeader Header, byte[] Payload)?> ReadAsync(Socket s)
    {
        byte[] h = new byte[XsHeader.Size];
        if (!await Fill(s, h))
            return null;
        XsHeader header = XsHeader.Read(h);
        byte[] p = new byte[header.Len];
        if (!await Fill(s, p))
            return null;
        return (header, p);
    }

    private static async Task<bool> Fill(Socket s, byte[] buffer)
    {
        int done = 0;
        while (done < buffer.Length)
        {
            int n = await s.ReceiveAsync(buffer.AsMemory(done), SocketFlags.None);
            if (n == 0)
                return false;
            done += n;
        }
        return true;
    }

    /// <summary>The next watch event, failing the test rather than hanging if none comes.</summary>
    public static async Task<XsWatchEvent> NextEventAsync(XenStoreClient c) =>
        await c.WatchEvents.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10));
}

/// <summary>Seeds: TOLAPAI_SEED when set, else random; tests print them.</summary>
public static class Seeds
{
    public static int Next() =>
        Environment.GetEnvironmentVariable("TOLAPAI_SEED") is { } s ? int.Parse(s, CultureInfo.InvariantCulture) : Random.Shared.Next();
}
