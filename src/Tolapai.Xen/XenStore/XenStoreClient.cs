using System.Globalization;
using System.Net.Sockets;
using System.Text;
using System.Threading.Channels;

namespace Tolapai.Xen.XenStore;

/// <summary>A reply from the daemon: its header and payload.</summary>
public readonly record struct XsReply(XsHeader Header, byte[] Payload)
{
    /// <summary>Whether the reply is an XS_ERROR.</summary>
    public bool IsError => Header.Type == (uint)XsMessageType.Error;

    /// <summary>The errno name of an error reply ("ENOENT"), else null.</summary>
    public string? ErrorName => IsError ? Encoding.ASCII.GetString(Payload).TrimEnd('\0') : null;
}

/// <summary>A watch event: the path that changed (relative if the watch was) and the watch's token.</summary>
public readonly record struct XsWatchEvent(string Path, string Token);

/// <summary>An XS_ERROR reply turned into an exception.</summary>
public sealed class XenStoreException : IOException
{
    /// <summary>An error with the daemon's errno name.</summary>
    public XenStoreException(string errorName, string message) : base(message) => ErrorName = errorName;

    /// <summary>An error without a name.</summary>
    public XenStoreException() : this("EIO", "XenStore error") { }

    /// <summary>An error with a message only.</summary>
    public XenStoreException(string message) : this("EIO", message) { }

    /// <summary>An error with a message and cause.</summary>
    public XenStoreException(string message, Exception innerException) : base(message, innerException) => ErrorName = "EIO";

    /// <summary>The errno name the daemon sent ("ENOENT", "EACCES", "EAGAIN", …).</summary>
    public string ErrorName { get; }
}

/// <summary>
/// A XenStore client on the xs_wire protocol: one request at a time (as libxenstore), watch
/// events delivered on <see cref="WatchEvents"/>. Works over the daemon's Unix socket or a
/// guest channel from <see cref="XenStoreDaemon.ConnectDomain"/>.
/// </summary>
public sealed class XenStoreClient : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly SemaphoreSlim _one = new(1, 1);
    private readonly Channel<XsWatchEvent> _events = Channel.CreateUnbounded<XsWatchEvent>();
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, Channel<XsWatchEvent>> _routes = new(StringComparer.Ordinal);
    private readonly Task _reader;
    private TaskCompletionSource<XsReply>? _pending;
    private uint _reqId;
    private IDisposable? _ring;
    private int _disposed;
    private int _dead;

    /// <summary>A client over a connected socket, which it then owns.</summary>
    public XenStoreClient(Socket socket)
    {
        ArgumentNullException.ThrowIfNull(socket);
        _socket = socket;
        _reader = ReadLoopAsync();
    }

    /// <summary>Connects to a daemon's Unix socket.</summary>
    public static async Task<XenStoreClient> ConnectAsync(string socketPath, CancellationToken cancellationToken = default)
    {
        var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await s.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            s.Dispose();
            throw;
        }
        return new XenStoreClient(s);
    }

    /// <summary>
    /// A guest's client on its own xenstore page: frame <paramref name="gfn"/> of domain
    /// <paramref name="domid"/>'s memory, notified through its event channel
    /// <paramref name="port"/> (allocated for dom0 by the toolstack and given to xenstored with
    /// XS_INTRODUCE). Call from the guest's process.
    /// </summary>
    public static unsafe XenStoreClient ConnectRing(Hypervisor.Host host, ushort domid, uint gfn, uint port)
    {
        ArgumentNullException.ThrowIfNull(host);
        Memory.GuestMemory memory = host.MapGuestMemory(domid) ?? throw new InvalidOperationException($"domain {domid} is not running");
        if (gfn < memory.FirstDataFrame || !memory.IsValidFrame(gfn))
            throw new ArgumentOutOfRangeException(nameof(gfn), gfn, "not a data frame of the guest");
        (Socket mine, Socket theirs) = XenStoreDaemon.SocketPairOf();
        byte* page = memory.Base + ((long)gfn << Memory.GuestMemory.PageShift);
        var pump = new XsRingPump(page, host.OpenPort(domid, port), mine, server: false);
        return new XenStoreClient(theirs) { _ring = pump };
    }

    /// <summary>Watch events, in the order the daemon sent them (except those of tokens given to <see cref="RouteWatchEvents"/>).</summary>
    public ChannelReader<XsWatchEvent> WatchEvents => _events.Reader;

    /// <summary>
    /// From now on, events of watches with <paramref name="token"/> go to the returned reader
    /// instead of <see cref="WatchEvents"/>, as Linux's xenbus hands each event to the watch
    /// that registered its token: one component of a guest (the shutdown watch) can keep its
    /// events apart from another reading <see cref="WatchEvents"/> (a Xenbus driver) on the one
    /// ring a guest has. Call before <see cref="WatchAsync"/>, so the event at set is routed too.
    /// </summary>
    public ChannelReader<XsWatchEvent> RouteWatchEvents(string token)
    {
        ArgumentException.ThrowIfNullOrEmpty(token);
        var channel = Channel.CreateUnbounded<XsWatchEvent>();
        if (!_routes.TryAdd(token, channel))
            throw new InvalidOperationException($"watch token '{token}' is routed already");
        if (Interlocked.CompareExchange(ref _dead, 0, 0) != 0)
            channel.Writer.TryComplete(new XenStoreException("connection to xenstored closed"));
        return channel.Reader;
    }

    /// <summary>Sends one request and returns the reply as it is, error or not.</summary>
    public Task<XsReply> SendAsync(XsMessageType type, ReadOnlyMemory<byte> payload, uint txId = 0, CancellationToken cancellationToken = default) =>
        SendRawAsync((uint)type, payload, txId, cancellationToken);

    /// <summary>Sends a request with any type number (unknown types included) and returns the reply.</summary>
    public async Task<XsReply> SendRawAsync(uint type, ReadOnlyMemory<byte> payload, uint txId = 0, CancellationToken cancellationToken = default)
    {
        await _one.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var tcs = new TaskCompletionSource<XsReply>(TaskCreationOptions.RunContinuationsAsynchronously);
            // Full fences on both sides (here and in the reader's exit) so that either the reader
            // sees this pending request when it dies, or this sees the reader dead.
            Interlocked.Exchange(ref _pending, tcs);
            if (Interlocked.CompareExchange(ref _dead, 0, 0) != 0)
                throw new XenStoreException("connection to xenstored closed");
            byte[] m = new byte[XsHeader.Size + payload.Length];
            new XsHeader((XsMessageType)type, ++_reqId, txId, (uint)payload.Length).Write(m);
            payload.Span.CopyTo(m.AsSpan(XsHeader.Size));
            try
            {
                await _socket.SendAsync(m, SocketFlags.None, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
            {
                throw new XenStoreException("connection to xenstored closed", ex);
            }
            return await tcs.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _one.Release();
        }
    }

    private async Task<byte[]> CallAsync(XsMessageType type, string path, uint txId, ReadOnlyMemory<byte> extra = default)
    {
        byte[] p = Encoding.ASCII.GetBytes(path);
        byte[] payload = new byte[p.Length + 1 + extra.Length];
        p.CopyTo(payload, 0);
        extra.Span.CopyTo(payload.AsSpan(p.Length + 1));
        return Check(await SendAsync(type, payload, txId).ConfigureAwait(false), type, path);
    }

    private async Task<byte[]> CallStringsAsync(XsMessageType type, uint txId, params string[] args)
    {
        var sb = new StringBuilder();
        foreach (string a in args)
            sb.Append(a).Append('\0');
        return Check(await SendAsync(type, Encoding.ASCII.GetBytes(sb.ToString()), txId).ConfigureAwait(false), type, args.Length > 0 ? args[0] : "");
    }

    private static byte[] Check(XsReply reply, XsMessageType type, string what) =>
        reply.IsError ? throw new XenStoreException(reply.ErrorName!, $"{type} {what}: {reply.ErrorName}") : reply.Payload;

    private static string[] Split(byte[] payload) =>
        payload.Length == 0 ? [] : Encoding.ASCII.GetString(payload).TrimEnd('\0').Split('\0');

    /// <summary>XS_READ: a node's value.</summary>
    public Task<byte[]> ReadAsync(string path, uint txId = 0) => CallAsync(XsMessageType.Read, path, txId);

    /// <summary>XS_READ as text.</summary>
    public async Task<string> ReadStringAsync(string path, uint txId = 0) => Encoding.UTF8.GetString(await ReadAsync(path, txId).ConfigureAwait(false));

    /// <summary>Whether a node exists and is readable.</summary>
    public async Task<bool> ExistsAsync(string path, uint txId = 0)
    {
        XsReply r = await SendAsync(XsMessageType.Read, Encoding.ASCII.GetBytes(path + "\0"), txId).ConfigureAwait(false);
        return !r.IsError;
    }

    /// <summary>XS_WRITE.</summary>
    public Task WriteAsync(string path, ReadOnlyMemory<byte> value, uint txId = 0) => CallAsync(XsMessageType.Write, path, txId, value);

    /// <summary>XS_WRITE of text.</summary>
    public Task WriteAsync(string path, string value, uint txId = 0) => WriteAsync(path, Encoding.UTF8.GetBytes(value), txId);

    /// <summary>XS_MKDIR.</summary>
    public Task MkdirAsync(string path, uint txId = 0) => CallAsync(XsMessageType.Mkdir, path, txId);

    /// <summary>XS_RM (recursive).</summary>
    public Task RmAsync(string path, uint txId = 0) => CallAsync(XsMessageType.Rm, path, txId);

    /// <summary>XS_DIRECTORY: child names.</summary>
    public async Task<string[]> DirectoryAsync(string path, uint txId = 0) => Split(await CallAsync(XsMessageType.Directory, path, txId).ConfigureAwait(false));

    /// <summary>XS_GET_PERMS.</summary>
    public async Task<XsPermission[]> GetPermsAsync(string path, uint txId = 0) =>
        [.. Split(await CallAsync(XsMessageType.GetPerms, path, txId).ConfigureAwait(false)).Select(s => XsPermission.TryParse(s, out XsPermission p) ? p : throw new XenStoreException("EINVAL", $"bad permission '{s}'"))];

    /// <summary>XS_SET_PERMS: the first entry is the owner and everyone else's default.</summary>
    public Task SetPermsAsync(string path, IEnumerable<XsPermission> perms, uint txId = 0) =>
        CallStringsAsync(XsMessageType.SetPerms, txId, [path, .. perms.Select(p => p.ToString())]);

    /// <summary>XS_WATCH: the first event arrives at once.</summary>
    public Task WatchAsync(string path, string token) => CallStringsAsync(XsMessageType.Watch, 0, path, token);

    /// <summary>XS_UNWATCH.</summary>
    public Task UnwatchAsync(string path, string token) => CallStringsAsync(XsMessageType.Unwatch, 0, path, token);

    /// <summary>XS_RESET_WATCHES: drops this connection's watches and transactions (a guest kernel does it when it starts).</summary>
    public Task ResetWatchesAsync() => CallStringsAsync(XsMessageType.ResetWatches, 0, "");

    /// <summary>XS_TRANSACTION_START: the new transaction's id.</summary>
    public async Task<uint> TransactionStartAsync() =>
        uint.Parse(Encoding.ASCII.GetString(await CallStringsAsync(XsMessageType.TransactionStart, 0, "").ConfigureAwait(false)).TrimEnd('\0'), CultureInfo.InvariantCulture);

    /// <summary>XS_TRANSACTION_END: false when a commit conflicted (EAGAIN), so the caller retries.</summary>
    public async Task<bool> TransactionEndAsync(uint txId, bool commit)
    {
        XsReply r = await SendAsync(XsMessageType.TransactionEnd, Encoding.ASCII.GetBytes(commit ? "T\0" : "F\0"), txId).ConfigureAwait(false);
        if (r.ErrorName == XsErrors.EAGAIN)
            return false;
        Check(r, XsMessageType.TransactionEnd, txId.ToString(CultureInfo.InvariantCulture));
        return true;
    }

    /// <summary>XS_INTRODUCE (dom0 only).</summary>
    public Task IntroduceAsync(uint domid, ulong gfn, uint port) =>
        CallStringsAsync(XsMessageType.Introduce, 0, Id(domid), gfn.ToString(CultureInfo.InvariantCulture), Id(port));

    /// <summary>XS_RELEASE (dom0 only).</summary>
    public Task ReleaseAsync(uint domid) => CallStringsAsync(XsMessageType.Release, 0, Id(domid));

    /// <summary>XS_GET_DOMAIN_PATH.</summary>
    public async Task<string> GetDomainPathAsync(uint domid) =>
        Encoding.ASCII.GetString(await CallStringsAsync(XsMessageType.GetDomainPath, 0, Id(domid)).ConfigureAwait(false)).TrimEnd('\0');

    /// <summary>XS_IS_DOMAIN_INTRODUCED (dom0 only).</summary>
    public async Task<bool> IsDomainIntroducedAsync(uint domid) =>
        (await CallStringsAsync(XsMessageType.IsDomainIntroduced, 0, Id(domid)).ConfigureAwait(false)) is [(byte)'T', ..];

    private static string Id(uint v) => v.ToString(CultureInfo.InvariantCulture);

    private async Task ReadLoopAsync()
    {
        byte[] header = new byte[XsHeader.Size];
        Exception? failure = null;
        try
        {
            while (true)
            {
                if (!await ReadExactlyAsync(header).ConfigureAwait(false))
                    break;
                XsHeader h = XsHeader.Read(header);
                if (h.Len > XsLimits.PayloadMax)
                    throw new XenStoreException("EIO", $"reply length {h.Len} over the limit");
                byte[] payload = new byte[h.Len];
                if (!await ReadExactlyAsync(payload).ConfigureAwait(false))
                    break;
                if (h.Type == (uint)XsMessageType.WatchEvent)
                {
                    string[] parts = Split(payload);
                    var ev = new XsWatchEvent(parts.Length > 0 ? parts[0] : "", parts.Length > 1 ? parts[1] : "");
                    (_routes.TryGetValue(ev.Token, out Channel<XsWatchEvent>? route) ? route : _events).Writer.TryWrite(ev);
                    continue;
                }
                Interlocked.Exchange(ref _pending, null)?.TrySetResult(new XsReply(h, payload));
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException or XenStoreException)
        {
            failure = ex;
        }
        var closed = new XenStoreException("connection to xenstored closed", failure ?? new EndOfStreamException());
        Interlocked.Exchange(ref _dead, 1);
        Interlocked.Exchange(ref _pending, null)?.TrySetException(closed);
        _events.Writer.TryComplete(closed);
        foreach (Channel<XsWatchEvent> route in _routes.Values)
            route.Writer.TryComplete(closed);
    }

    private async Task<bool> ReadExactlyAsync(Memory<byte> buffer)
    {
        int done = 0;
        while (done < buffer.Length)
        {
            int n = await _socket.ReceiveAsync(buffer[done..], SocketFlags.None).ConfigureAwait(false);
            if (n == 0)
                return false;
            done += n;
        }
        return true;
    }

    /// <summary>Closes the connection.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        try
        {
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (SocketException)
        {
            // Already closed by the daemon.
        }
        _socket.Dispose();
        await _reader.ConfigureAwait(false);
        _ring?.Dispose();
        _one.Dispose();
    }
}
