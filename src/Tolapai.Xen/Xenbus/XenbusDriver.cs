using System.Diagnostics;
using System.Text;
using System.Threading.Channels;
using Tolapai.Xen.XenStore;

namespace Tolapai.Xen.Xenbus;

/// <summary>
/// One end of a split device on XenStore, as Linux's xenbus core drives a device for its
/// driver: it switches this end's <c>state</c> key along <see cref="XenbusTransitions"/>,
/// watches the peer's <c>state</c> key, and reports the peer's changes on
/// <see cref="PeerStateChanges"/> and through <see cref="WaitForPeerStateAsync(Func{XenbusPeerState, bool}, TimeSpan, CancellationToken)"/>.
/// </summary>
/// <remarks>
/// <para>A peer that goes away takes this end down, as the xenbus drivers do: a peer at
/// Closing takes a frontend to Closing and Closed and a backend to Closing; a peer at Closed
/// takes either end through Closing to Closed; a peer whose <c>state</c> key disappears after
/// it was seen (its directory removed), or holds garbage, takes this end to Closed. Nothing
/// waits without a timeout, and the watch loop never throws: failures are
/// <see cref="XenbusResult"/>s.</para>
/// <para>The driver reads its client's <see cref="XenStoreClient.WatchEvents"/> and drops
/// events of other watches, so a client serves one driver.</para>
/// </remarks>
public sealed class XenbusDriver : IAsyncDisposable
{
    /// <summary>How long a XenStore request may take unless the caller says otherwise.</summary>
    public static readonly TimeSpan DefaultOperationTimeout = TimeSpan.FromSeconds(10);

    private const int CommitAttempts = 16;

    private readonly XenStoreClient _client;
    private readonly string _token;
    private readonly CancellationTokenSource _stop = new();
    private readonly SemaphoreSlim _switching = new(1, 1);
    private readonly Channel<XenbusPeerState> _changes = Channel.CreateUnbounded<XenbusPeerState>(new UnboundedChannelOptions { SingleWriter = true });
    private readonly TaskCompletionSource _firstRead = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Lock _lock = new();
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private XenbusPeerState _peer = XenbusPeerState.Missing;
    private bool _peerSeen;
    private bool _ended;
    private bool _read;
    private XenbusState _state;
    private long _stateWrites;
    private Task _loop = Task.CompletedTask;
    private int _disposed;

    private XenbusDriver(XenStoreClient client, XenbusSide side, string path, string peerPath, XenbusState state, TimeSpan operationTimeout)
    {
        _client = client;
        Side = side;
        Path = path;
        PeerPath = peerPath;
        _state = state;
        OperationTimeout = operationTimeout;
        _token = "xenbus/" + Guid.NewGuid().ToString("N");
    }

    /// <summary>Which end this is.</summary>
    public XenbusSide Side { get; }

    /// <summary>This end's device directory.</summary>
    public string Path { get; }

    /// <summary>The peer's device directory.</summary>
    public string PeerPath { get; }

    /// <summary>How long each XenStore request may take.</summary>
    public TimeSpan OperationTimeout { get; }

    /// <summary>This end's state as it last wrote (or, at start, read) it.</summary>
    public XenbusState State
    {
        get
        {
            lock (_lock)
                return _state;
        }
    }

    /// <summary>The peer's state as last read.</summary>
    public XenbusPeerState PeerState
    {
        get
        {
            lock (_lock)
                return _peer;
        }
    }

    /// <summary>Every change of the peer's state, in order (the first entry is the state found at start); completes when the driver stops.</summary>
    public ChannelReader<XenbusPeerState> PeerStateChanges => _changes.Reader;

    /// <summary>
    /// A frontend for device <paramref name="devid"/> of <paramref name="type"/> in guest
    /// <paramref name="domid"/>: its directory is <see cref="XenbusPaths.Frontend"/>, its peer the
    /// directory named by its <c>backend</c> key.
    /// </summary>
    /// <exception cref="XenStoreException">The directory or its <c>backend</c> key cannot be read, or the key is not a valid path.</exception>
    /// <exception cref="TimeoutException">XenStore did not answer in time.</exception>
    public static async Task<XenbusDriver> OpenFrontendAsync(XenStoreClient client, uint domid, string type, uint devid, TimeSpan? operationTimeout = null)
    {
        ArgumentNullException.ThrowIfNull(client);
        string path = XenbusPaths.Frontend(domid, type, devid);
        TimeSpan timeout = operationTimeout ?? DefaultOperationTimeout;
        string peer = await client.ReadStringAsync(XenbusPaths.Key(path, XenbusPaths.BackendKey)).WaitAsync(timeout).ConfigureAwait(false);
        return await StartAsync(client, XenbusSide.Frontend, path, peer, timeout).ConfigureAwait(false);
    }

    /// <summary>
    /// A backend in domain <paramref name="backendDomid"/> for device <paramref name="devid"/> of
    /// <paramref name="type"/> of guest <paramref name="frontendDomid"/>: its directory is
    /// <see cref="XenbusPaths.Backend"/>, its peer the directory named by its <c>frontend</c> key.
    /// </summary>
    /// <exception cref="XenStoreException">The directory or its <c>frontend</c> key cannot be read, or the key is not a valid path.</exception>
    /// <exception cref="TimeoutException">XenStore did not answer in time.</exception>
    public static async Task<XenbusDriver> OpenBackendAsync(XenStoreClient client, uint frontendDomid, string type, uint devid, uint backendDomid = 0, TimeSpan? operationTimeout = null)
    {
        ArgumentNullException.ThrowIfNull(client);
        string path = XenbusPaths.Backend(frontendDomid, type, devid, backendDomid);
        TimeSpan timeout = operationTimeout ?? DefaultOperationTimeout;
        string peer = await client.ReadStringAsync(XenbusPaths.Key(path, XenbusPaths.FrontendKey)).WaitAsync(timeout).ConfigureAwait(false);
        return await StartAsync(client, XenbusSide.Backend, path, peer, timeout).ConfigureAwait(false);
    }

    /// <summary>
    /// An end at <paramref name="path"/> whose peer is at <paramref name="peerPath"/>: reads this
    /// end's state, watches the peer's <c>state</c> key and returns once the peer's state was read.
    /// </summary>
    /// <exception cref="XenStoreException">A path is not a valid absolute XenStore path, or the watch was refused.</exception>
    /// <exception cref="TimeoutException">XenStore did not answer in time.</exception>
    public static async Task<XenbusDriver> StartAsync(XenStoreClient client, XenbusSide side, string path, string peerPath, TimeSpan? operationTimeout = null)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(peerPath);
        foreach (string p in (ReadOnlySpan<string>)[path, peerPath])
            if (!XsPath.IsValid(p, allowSpecial: false))
                throw new XenStoreException(XsErrors.EINVAL, $"'{p}' is not a valid device directory");
        TimeSpan timeout = operationTimeout ?? DefaultOperationTimeout;
        XenbusPeerState own = await ReadStateAsync(client, XenbusPaths.Key(path, XenbusPaths.StateKey), 0, timeout).ConfigureAwait(false);
        var driver = new XenbusDriver(client, side, path, peerPath, own.Condition == XenbusPeerCondition.Present ? own.State : XenbusState.Unknown, timeout);
        try
        {
            driver._loop = driver.WatchLoopAsync();
            // The watch fires once when set, so the loop's first read follows it.
            await client.WatchAsync(XenbusPaths.Key(peerPath, XenbusPaths.StateKey), driver._token).WaitAsync(timeout).ConfigureAwait(false);
            await driver._firstRead.Task.WaitAsync(timeout).ConfigureAwait(false);
        }
        catch
        {
            await driver.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        return driver;
    }

    /// <summary>
    /// Switches this end to <paramref name="to"/> if <see cref="XenbusTransitions"/> allows it
    /// given the peer's last state, writing the <c>state</c> key in a transaction that first
    /// checks the directory still exists (as <c>xenbus_switch_state</c>, so a removed device is
    /// not recreated). Staying in the same state writes nothing.
    /// </summary>
    public async Task<XenbusResult> SwitchStateAsync(XenbusState to, CancellationToken cancellationToken = default)
    {
        if (!await _switching.WaitAsync(OperationTimeout, cancellationToken).ConfigureAwait(false))
            return XenbusResult.Fail(XenbusError.Timeout, State, $"another state switch of {Path} took over {OperationTimeout}");
        try
        {
            XenbusState from = State;
            XenbusResult check = XenbusTransitions.Check(Side, from, to, PeerState);
            if (!check.IsOk || from == to)
                return check;
            return await WriteStateAsync(from, to).ConfigureAwait(false);
        }
        finally
        {
            _switching.Release();
        }
    }

    /// <summary>Closes this end: through Closing to Closed, whatever the peer does.</summary>
    public Task<XenbusResult> CloseAsync() => GoDownAsync(XenbusState.Closed, seenAfterWrite: null);

    /// <summary>
    /// Waits until the peer's state satisfies <paramref name="predicate"/>. Fails with
    /// <see cref="XenbusError.Timeout"/> after <paramref name="timeout"/>, at once with
    /// <see cref="XenbusError.PeerGone"/> or <see cref="XenbusError.PeerMalformed"/> when the
    /// peer broke (unless the predicate accepts that), and with
    /// <see cref="XenbusError.Disposed"/> once the driver stopped.
    /// </summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public async Task<XenbusResult> WaitForPeerStateAsync(Func<XenbusPeerState, bool> predicate, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(predicate);
        long start = Stopwatch.GetTimestamp();
        while (true)
        {
            XenbusPeerState peer;
            Task changed;
            bool seen, ended;
            lock (_lock)
            {
                peer = _peer;
                changed = _changed.Task;
                seen = _peerSeen;
                ended = _ended;
            }
            if (predicate(peer))
                return XenbusResult.Ok(peer.State);
            if (peer.Condition == XenbusPeerCondition.Malformed)
                return XenbusResult.Fail(XenbusError.PeerMalformed, peer.State, $"the peer's state at {PeerPath} is not a Xenbus state");
            if (peer.Condition == XenbusPeerCondition.Missing && seen)
                return XenbusResult.Fail(XenbusError.PeerGone, peer.State, $"the peer's state at {PeerPath} disappeared");
            if (ended)
                return XenbusResult.Fail(XenbusError.Disposed, peer.State, $"the driver of {Path} stopped while the peer was {peer}");
            TimeSpan left = timeout - Stopwatch.GetElapsedTime(start);
            if (left <= TimeSpan.Zero)
                return XenbusResult.Fail(XenbusError.Timeout, peer.State, $"the peer at {PeerPath} stayed {peer} for {timeout}");
            try
            {
                await changed.WaitAsync(left, cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                // The next turn reports the timeout with the state the peer ended on.
            }
        }
    }

    /// <summary>Waits until the peer is at <paramref name="state"/>; see <see cref="WaitForPeerStateAsync(Func{XenbusPeerState, bool}, TimeSpan, CancellationToken)"/>.</summary>
    public Task<XenbusResult> WaitForPeerStateAsync(XenbusState state, TimeSpan timeout, CancellationToken cancellationToken = default) =>
        WaitForPeerStateAsync(p => p.Is(state), timeout, cancellationToken);

    /// <summary>A key of this end's directory, or null when it does not exist.</summary>
    /// <exception cref="XenStoreException">XenStore refused the read for another reason.</exception>
    /// <exception cref="TimeoutException">XenStore did not answer in time.</exception>
    public Task<string?> ReadKeyAsync(string key) => ReadOptionalAsync(XenbusPaths.Key(Path, key));

    /// <summary>A key of the peer's directory, or null when it does not exist.</summary>
    /// <exception cref="XenStoreException">XenStore refused the read for another reason.</exception>
    /// <exception cref="TimeoutException">XenStore did not answer in time.</exception>
    public Task<string?> ReadPeerKeyAsync(string key) => ReadOptionalAsync(XenbusPaths.Key(PeerPath, key));

    /// <summary>Writes a key of this end's directory (<c>ring-ref</c>, <c>event-channel</c>, <c>feature-*</c>, …).</summary>
    /// <exception cref="XenStoreException">XenStore refused the write.</exception>
    /// <exception cref="TimeoutException">XenStore did not answer in time.</exception>
    public Task WriteKeyAsync(string key, string value) => _client.WriteAsync(XenbusPaths.Key(Path, key), value).WaitAsync(OperationTimeout);

    private async Task<string?> ReadOptionalAsync(string path)
    {
        try
        {
            return await _client.ReadStringAsync(path).WaitAsync(OperationTimeout).ConfigureAwait(false);
        }
        catch (XenStoreException e) when (e.ErrorName == XsErrors.ENOENT)
        {
            return null;
        }
    }

    private static async Task<XenbusPeerState> ReadStateAsync(XenStoreClient client, string path, uint txId, TimeSpan timeout)
    {
        try
        {
            return XenbusPaths.Parse(await client.ReadAsync(path, txId).WaitAsync(timeout).ConfigureAwait(false));
        }
        catch (XenStoreException e) when (e.ErrorName is XsErrors.ENOENT or XsErrors.EACCES)
        {
            return XenbusPeerState.Missing;
        }
    }

    private async Task<XenbusResult> WriteStateAsync(XenbusState from, XenbusState to)
    {
        string statePath = XenbusPaths.Key(Path, XenbusPaths.StateKey);
        byte[] value = Encoding.ASCII.GetBytes(XenbusPaths.Format(to));
        try
        {
            for (int attempt = 0; attempt < CommitAttempts; attempt++)
            {
                uint tx = await _client.TransactionStartAsync().WaitAsync(OperationTimeout).ConfigureAwait(false);
                try
                {
                    if (!await _client.ExistsAsync(Path, tx).WaitAsync(OperationTimeout).ConfigureAwait(false))
                    {
                        await AbortQuietlyAsync(tx).ConfigureAwait(false);
                        return XenbusResult.Fail(XenbusError.Store, from, $"{Path} no longer exists; {to} not written");
                    }
                    await _client.WriteAsync(statePath, value, tx).WaitAsync(OperationTimeout).ConfigureAwait(false);
                }
                catch
                {
                    // A guest has 10 transactions: one left open would count against it.
                    await AbortQuietlyAsync(tx).ConfigureAwait(false);
                    throw;
                }
                bool committed = await _client.TransactionEndAsync(tx, commit: true).WaitAsync(OperationTimeout).ConfigureAwait(false);
                if (committed)
                {
                    Tolapai.Diagnostics.DataPlaneEventSource.Log.XenbusStateChanged(Path, (int)from, (int)to);
                    lock (_lock)
                    {
                        _state = to;
                        _stateWrites++;
                    }
                    return XenbusResult.Ok(to);
                }
            }
            return XenbusResult.Fail(XenbusError.Store, from, $"writing {statePath} conflicted {CommitAttempts} times");
        }
        catch (TimeoutException)
        {
            return XenbusResult.Fail(XenbusError.Timeout, from, $"XenStore did not answer within {OperationTimeout} while writing {statePath}");
        }
        catch (Exception e) when (e is XenStoreException or ObjectDisposedException)
        {
            return XenbusResult.Fail(XenbusError.Store, from, $"writing {statePath}: {e.Message}");
        }
    }

    private async Task AbortQuietlyAsync(uint tx)
    {
        try
        {
            await _client.TransactionEndAsync(tx, commit: false).WaitAsync(OperationTimeout).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is XenStoreException or TimeoutException or ObjectDisposedException)
        {
            // The connection is gone, and its transactions with it.
        }
    }

    /// <summary>
    /// Takes this end to Closing and, if <paramref name="target"/> is Closed, on to Closed. A
    /// reaction to the peer passes how many state writes this end had made when the peer's change
    /// was read: if this end has since started again (Initialising, a reconnection), the old
    /// change is not held against it.
    /// </summary>
    private async Task<XenbusResult> GoDownAsync(XenbusState target, long? seenAfterWrite)
    {
        if (!await _switching.WaitAsync(OperationTimeout).ConfigureAwait(false))
            return XenbusResult.Fail(XenbusError.Timeout, State, $"another state switch of {Path} took over {OperationTimeout}");
        try
        {
            XenbusState now;
            long writes;
            lock (_lock)
            {
                now = _state;
                writes = _stateWrites;
            }
            if (seenAfterWrite is { } seen && seen != writes && now == XenbusState.Initialising)
                return XenbusResult.Ok(now);
            if (now is not (XenbusState.Closing or XenbusState.Closed))
            {
                XenbusResult r = await WriteStateAsync(now, XenbusState.Closing).ConfigureAwait(false);
                if (!r.IsOk)
                    return r;
                now = XenbusState.Closing;
            }
            if (target == XenbusState.Closed && now == XenbusState.Closing)
                return await WriteStateAsync(now, XenbusState.Closed).ConfigureAwait(false);
            return XenbusResult.Ok(now);
        }
        finally
        {
            _switching.Release();
        }
    }

    private async Task WatchLoopAsync()
    {
        try
        {
            while (true)
            {
                XsWatchEvent e;
                try
                {
                    e = await _client.WatchEvents.ReadAsync(_stop.Token).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is OperationCanceledException or ChannelClosedException or XenStoreException)
                {
                    return;
                }
                if (e.Token != _token)
                    continue;
                XenbusPeerState peer;
                try
                {
                    peer = await ReadStateAsync(_client, XenbusPaths.Key(PeerPath, XenbusPaths.StateKey), 0, OperationTimeout).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is TimeoutException or XenStoreException or ObjectDisposedException)
                {
                    // A store that stopped answering or closed the connection: the next read of
                    // the event channel ends the loop, or the next event reads again.
                    continue;
                }
                if (Publish(peer, out long writes))
                    await ReactAsync(peer, writes).ConfigureAwait(false);
            }
        }
        finally
        {
            lock (_lock)
            {
                _ended = true;
                _changed.TrySetResult();
            }
            _changes.Writer.TryComplete();
            _firstRead.TrySetException(new XenStoreException("EIO", $"the watch on {PeerPath} ended before the peer's state was read"));
        }
    }

    /// <summary>Records a read of the peer's state; true when it changed (or is the first).</summary>
    private bool Publish(XenbusPeerState peer, out long writes)
    {
        TaskCompletionSource changed;
        lock (_lock)
        {
            writes = _stateWrites;
            if (_read && peer == _peer)
                return false;
            _read = true;
            _peer = peer;
            _peerSeen |= peer.Condition == XenbusPeerCondition.Present;
            changed = _changed;
            _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        _changes.Writer.TryWrite(peer);
        changed.TrySetResult();
        _firstRead.TrySetResult();
        return true;
    }

    private Task ReactAsync(XenbusPeerState peer, long writes)
    {
        bool seen;
        lock (_lock)
            seen = _peerSeen;
        if (peer.Condition == XenbusPeerCondition.Malformed || (peer.Condition == XenbusPeerCondition.Missing && seen))
            return GoDownAsync(XenbusState.Closed, writes);
        if (peer.Is(XenbusState.Closed))
            return GoDownAsync(XenbusState.Closed, writes);
        // The backend waits for the frontend's Closed before closing (blkback's frontend_changed);
        // the frontend answers the backend's Closing by closing (blkfront's blkfront_closing).
        if (peer.Is(XenbusState.Closing))
            return GoDownAsync(Side == XenbusSide.Frontend ? XenbusState.Closed : XenbusState.Closing, writes);
        return Task.CompletedTask;
    }

    /// <summary>Stops watching the peer. The client stays open; this end's state key is left as it is.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        await _stop.CancelAsync().ConfigureAwait(false);
        await _loop.ConfigureAwait(false);
        try
        {
            await _client.UnwatchAsync(XenbusPaths.Key(PeerPath, XenbusPaths.StateKey), _token).WaitAsync(OperationTimeout).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is XenStoreException or TimeoutException or ObjectDisposedException)
        {
            // The connection is gone (or its client disposed) or the watch never got set: nothing left to undo.
        }
        _stop.Dispose();
    }
}
