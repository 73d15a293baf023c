using System.Net.Sockets;
using System.Threading.Channels;

namespace Tolapai.Xen.XenStore;

/// <summary>A registered watch: the absolute path, the token, and whether the client gave a relative path (events then come back relative).</summary>
internal sealed record XsWatch(string Path, string Token, bool Relative);

/// <summary>A message waiting to be written to a client; replies count against the outstanding-requests quota.</summary>
internal readonly record struct XsOutgoing(byte[] Bytes, bool IsReply);

/// <summary>
/// One client: a dom0 tool on the Unix socket or a guest's channel. Requests are read and
/// processed one after another (as xenstored does per connection); replies and watch events
/// leave through one queue in the order they were made, written by this connection's own writer
/// task, so a client that does not read stalls only itself.
/// </summary>
internal sealed class XsConnection : IDisposable
{
    private readonly XenStoreDaemon _daemon;
    private readonly Socket _socket;
    private readonly Channel<XsOutgoing> _out = Channel.CreateUnbounded<XsOutgoing>(new UnboundedChannelOptions { SingleReader = true });
    private readonly SemaphoreSlim _outstanding;
    private readonly CancellationTokenSource _cts = new();
    private int _queuedEvents;
    private int _closed;

    public XsConnection(XenStoreDaemon daemon, Socket socket, uint domid, int outstandingRequests)
    {
        _daemon = daemon;
        _socket = socket;
        DomId = domid;
        _outstanding = new SemaphoreSlim(outstandingRequests, outstandingRequests);
    }

    /// <summary>The domain this connection speaks for; what permissions are checked against.</summary>
    public uint DomId { get; }

    /// <summary>dom0 is privileged (xenstored's domain_is_unprivileged is false for it).</summary>
    public bool Privileged => DomId == 0;

    /// <summary>A domain this one has been made the device model of (XS_SET_TARGET).</summary>
    public uint? Target { get; set; }

    public List<XsWatch> Watches { get; } = [];

    public Dictionary<uint, XsTransaction> Transactions { get; } = [];

    public bool IsClosed => Volatile.Read(ref _closed) != 0;

    /// <summary>Why the connection was closed, for tests and logs.</summary>
    public string? CloseReason { get; private set; }

    public async Task RunAsync()
    {
        try
        {
            Task writer = WriteLoopAsync();
            Task reader = ReadLoopAsync();
            await Task.WhenAll(reader, writer).ConfigureAwait(false);
        }
        finally
        {
            Dispose();
        }
    }

    /// <summary>Frees the outstanding-requests semaphore once both loops have ended (the token source goes in TearDown, after its cancel).</summary>
    public void Dispose() => _outstanding.Dispose();

    /// <summary>Queues a reply or event (called under the daemon's lock, never blocks).</summary>
    public void Enqueue(byte[] message, bool isReply)
    {
        if (!isReply && Interlocked.Increment(ref _queuedEvents) > _daemon.Options.MaxQueuedWatchEvents)
        {
            // A client that never reads its watch events would grow the daemon without bound.
            Close("too many unread watch events");
            return;
        }
        _out.Writer.TryWrite(new XsOutgoing(message, isReply));
    }

    public void Close(string reason)
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0)
            return;
        CloseReason = reason;
        _out.Writer.TryComplete();
        _daemon.Forget(this);
        // Close may be called under the daemon's lock; cancelling runs the loops' continuations,
        // so the teardown happens on the thread pool, never inline under the lock.
        ThreadPool.UnsafeQueueUserWorkItem(static c => c.TearDown(), this, preferLocal: false);
    }

    private void TearDown()
    {
        _cts.Cancel();
        try
        {
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (SocketException)
        {
            // Already gone: nothing to shut down.
        }
        _socket.Dispose();
        _cts.Dispose();
    }

    private async Task ReadLoopAsync()
    {
        byte[] header = new byte[XsHeader.Size];
        byte[] payload = new byte[XsLimits.PayloadMax];
        CancellationToken ct = _cts.Token;
        string reason = "client closed the connection";
        try
        {
            while (true)
            {
                if (!await ReadExactlyAsync(header, ct).ConfigureAwait(false))
                    break;
                XsHeader h = XsHeader.Read(header);
                if (h.Len > XsLimits.PayloadMax)
                {
                    // xenstored: "Client tried to feed us N" — the stream is out of sync, drop the client.
                    reason = $"payload length {h.Len} over {XsLimits.PayloadMax}";
                    break;
                }
                if (!await ReadExactlyAsync(payload.AsMemory(0, (int)h.Len), ct).ConfigureAwait(false))
                {
                    reason = "client closed the connection inside a message";
                    break;
                }
                // Outstanding-requests quota: stop reading (do not fail) while too many replies are unread.
                await _outstanding.WaitAsync(ct).ConfigureAwait(false);
                _daemon.Process(this, h, payload.AsSpan(0, (int)h.Len));
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException or OperationCanceledException)
        {
            reason = CloseReason ?? ex.Message;
        }
#pragma warning disable CA1031 // A bug met by one client's request must cost that client its connection, not the daemon (DESIGN.md §8 rule 8).
        catch (Exception ex)
#pragma warning restore CA1031
        {
            reason = "internal error: " + ex;
        }
        Close(reason);
    }

    private async Task<bool> ReadExactlyAsync(Memory<byte> buffer, CancellationToken ct)
    {
        int done = 0;
        while (done < buffer.Length)
        {
            int n = await _socket.ReceiveAsync(buffer[done..], SocketFlags.None, ct).ConfigureAwait(false);
            if (n == 0)
                return false;
            done += n;
        }
        return true;
    }

    private async Task WriteLoopAsync()
    {
        try
        {
            CancellationToken ct = _cts.Token;
            await foreach (XsOutgoing m in _out.Reader.ReadAllAsync(ct).ConfigureAwait(false))
            {
                int done = 0;
                while (done < m.Bytes.Length)
                    done += await _socket.SendAsync(m.Bytes.AsMemory(done), SocketFlags.None, ct).ConfigureAwait(false);
                if (m.IsReply)
                    _outstanding.Release();
                else
                    Interlocked.Decrement(ref _queuedEvents);
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException or OperationCanceledException)
        {
            Close(CloseReason ?? ex.Message);
        }
    }
}
