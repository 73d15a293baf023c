using System.Net.Sockets;
using Tolapai.Xen.EventChannel;

namespace Tolapai.Xen.XenStore;

/// <summary>
/// Moves bytes between a <see cref="XenStoreDomainInterface"/> page and a local socket, so the
/// daemon (server side) and <see cref="XenStoreClient"/> (guest side) speak to the ring exactly
/// as they speak to a socket. One thread takes bytes out of the incoming ring (waiting on the
/// event channel when it is empty); one task puts the socket's bytes into the outgoing ring
/// (waiting for the peer's "consumed" event when it is full). The peer's indexes are checked on
/// every read: a producer more than a ring ahead of the consumer stops this ring only.
/// </summary>
internal sealed class XsRingPump : IDisposable
{
    private readonly nint _page;
    private readonly EventChannelPort _port;
    private readonly Socket _socket;
    private readonly Action? _onStop;
    private readonly bool _server;
    private readonly SemaphoreSlim _peerConsumed = new(0);
    private readonly Thread _inThread;
    private readonly Task _outTask;
    private int _stopped;

    public unsafe XsRingPump(byte* page, EventChannelPort port, Socket socket, bool server, Action? onStop = null)
    {
        _page = (nint)page;
        _port = port;
        _socket = socket;
        _server = server;
        _onStop = onStop;
        if (server)
        {
            Iface->ServerFeatures = XenStoreDomainInterface.FeatureError;
            Volatile.Write(ref Iface->Connection, 0);
        }
        _inThread = new Thread(InLoop) { IsBackground = true, Name = server ? "xenstored ring" : "xenstore guest ring" };
        _inThread.Start();
        _outTask = OutLoopAsync();
    }

    /// <summary>Why the ring was stopped, if it was.</summary>
    public string? Failure { get; private set; }

    private unsafe XenStoreDomainInterface* Iface => (XenStoreDomainInterface*)_page;

    private unsafe ref uint InCons => ref _server ? ref Iface->ReqCons : ref Iface->RspCons;

    private unsafe ref uint InProd => ref _server ? ref Iface->ReqProd : ref Iface->RspProd;

    private unsafe ref uint OutCons => ref _server ? ref Iface->RspCons : ref Iface->ReqCons;

    private unsafe ref uint OutProd => ref _server ? ref Iface->RspProd : ref Iface->ReqProd;

    private unsafe byte* InRing => (byte*)_page + (_server ? XenStoreDomainInterface.ReqOffset : XenStoreDomainInterface.RspOffset);

    private unsafe byte* OutRing => (byte*)_page + (_server ? XenStoreDomainInterface.RspOffset : XenStoreDomainInterface.ReqOffset);

    private bool Stopped => Volatile.Read(ref _stopped) != 0;

    private unsafe void InLoop()
    {
        const uint Size = XenStoreDomainInterface.RingSize;
        byte[] buffer = new byte[Size];
        try
        {
            while (!Stopped)
            {
                uint cons = Volatile.Read(ref InCons);
                uint prod = Volatile.Read(ref InProd); // acquire: the bytes are written before prod is
                uint avail = prod - cons;
                if (avail > Size)
                {
                    Stop($"bogus ring index: prod {prod} cons {cons}");
                    return;
                }
                if (avail > 0)
                {
                    for (uint i = 0; i < avail; i++)
                        buffer[i] = InRing[(cons + i) & (Size - 1)];
                    // Release: the copy is done before the peer may reuse the bytes.
                    Volatile.Write(ref InCons, cons + avail);
                    _port.Notify(); // the peer may be waiting for room
                    _socket.Send(buffer, 0, (int)avail, SocketFlags.None);
                    continue;
                }
                // The one event channel says both "bytes for you" and "I consumed yours":
                // every wake also tells the outgoing side to look again.
                WaitResult r = _port.Wait(spinBudget: 64, TimeSpan.FromMilliseconds(500));
                if (r is WaitResult.NotifiedSpinning or WaitResult.NotifiedParked)
                    _peerConsumed.Release();
                if (r == WaitResult.Closed)
                {
                    Stop("event channel closed");
                    return;
                }
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            Stop("local side closed");
        }
    }

    private async Task OutLoopAsync()
    {
        byte[] buffer = new byte[XsHeader.Size + XsLimits.PayloadMax];
        try
        {
            while (!Stopped)
            {
                int n = await _socket.ReceiveAsync(buffer, SocketFlags.None).ConfigureAwait(false);
                if (n == 0)
                {
                    Stop("local side closed");
                    return;
                }
                int done = 0;
                while (done < n)
                {
                    int k = TryPut(buffer, done, n - done);
                    if (k < 0)
                        return; // bogus index: stopped
                    if (k == 0)
                    {
                        await _peerConsumed.WaitAsync(500).ConfigureAwait(false);
                        if (Stopped)
                            return;
                        continue;
                    }
                    done += k;
                }
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            Stop("local side closed");
        }
    }

    /// <summary>Puts up to <paramref name="count"/> bytes in the outgoing ring: bytes put, 0 when full, −1 on a bogus index.</summary>
    private unsafe int TryPut(byte[] buffer, int offset, int count)
    {
        const uint Size = XenStoreDomainInterface.RingSize;
        uint prod = Volatile.Read(ref OutProd);
        uint cons = Volatile.Read(ref OutCons);
        uint used = prod - cons;
        if (used > Size)
        {
            Stop($"bogus ring index: prod {prod} cons {cons}");
            return -1;
        }
        uint k = Math.Min(Size - used, (uint)count);
        if (k == 0)
            return 0;
        for (uint i = 0; i < k; i++)
            OutRing[(prod + i) & (Size - 1)] = buffer[offset + (int)i];
        // Release: the bytes are in the ring before prod says so; then notify.
        Volatile.Write(ref OutProd, prod + k);
        _port.Notify();
        return (int)k;
    }

    private unsafe void Stop(string reason)
    {
        if (Interlocked.Exchange(ref _stopped, 1) != 0)
            return;
        Failure = reason;
        if (_server && reason.StartsWith("bogus", StringComparison.Ordinal))
            Volatile.Write(ref Iface->Error, XenStoreDomainInterface.ErrorRingIndex);
        _socket.Dispose(); // the daemon's end of this connection closes: watches and transactions go
        _peerConsumed.Release();
        if (Thread.CurrentThread != _inThread)
            _port.WakeSelf(); // the in-loop may be parked on the event channel: it sees the stop now
        _onStop?.Invoke();
    }

    /// <summary>Stops both directions and waits for them.</summary>
    public void Dispose()
    {
        Stop("disposed");
        if (Thread.CurrentThread != _inThread)
            _inThread.Join();
        try
        {
            _outTask.Wait();
        }
        catch (AggregateException)
        {
            // Its failure is already recorded.
        }
        _peerConsumed.Dispose();
    }
}
