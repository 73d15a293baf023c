using System.Runtime.CompilerServices;
using Tolapai.Diagnostics;
using Tolapai.Xen.Hypervisor;
using Tolapai.Xen.Interop;

namespace Tolapai.Xen.EventChannel;

/// <summary>
/// This process's handle on one of its domain's ports: notify the peer, or wait for the peer's
/// notification (spin for a bounded budget, then park on the futex word). One waiter per port,
/// like one vCPU bound to an event channel.
/// </summary>
public sealed unsafe class EventChannelPort
{
    private readonly Host _host;
    private readonly EventChannelEntry* _entry;

    internal EventChannelPort(Host host, ushort domid, uint port)
    {
        _host = host;
        DomId = domid;
        Port = port;
        _entry = host.PortEntry(domid, port);
        if (_entry == null)
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(port), $"dom{domid} port {port} is outside the event channel table.");
        }
    }

    /// <summary>Owning domain.</summary>
    public ushort DomId { get; }

    /// <summary>Local port number.</summary>
    public uint Port { get; }

    /// <summary>Times this port's owner parked (shared statistic).</summary>
    public ulong Parks => Volatile.Read(ref _entry->Parks);

    /// <summary>FUTEX_WAKE calls made for this port (shared statistic).</summary>
    public ulong Wakes => Volatile.Read(ref _entry->Wakes);

    /// <summary>Notifications delivered to this port (shared statistic).</summary>
    public ulong Notifies => Volatile.Read(ref _entry->Notifies);

    /// <summary>Current state (acquire read).</summary>
    public EventChannelState State => (EventChannelState)Volatile.Read(ref _entry->State);

    /// <summary>Sends an event to the peer (EVTCHNOP_send). On an unbound port it is dropped, as Xen does.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public XenError Notify() => _host.NotifyEventChannel(DomId, Port);

    /// <summary>Consumes a pending event without waiting; true if there was one.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryConsume() => Volatile.Read(ref _entry->Pending) != 0 && Interlocked.Exchange(ref _entry->Pending, 0) != 0;

    /// <summary>
    /// Wakes this port's own waiter (a local stop, not an event from the peer): marks an event
    /// pending and FUTEX_WAKEs the word, so a parked <see cref="Wait"/> returns at once.
    /// </summary>
    internal void WakeSelf()
    {
        Interlocked.Exchange(ref _entry->Pending, 1);
        _ = Futex.Wake(&_entry->Pending, int.MaxValue);
    }

    /// <summary>
    /// Waits for an event: polls <paramref name="spinBudget"/> times, then parks on the futex
    /// word until notified or <paramref name="timeout"/> passes.
    /// </summary>
    public WaitResult Wait(int spinBudget, TimeSpan timeout)
    {
        // Timestamps only when someone traces park/wake: otherwise the spin loop stays as it was.
        long spinStart = DataPlaneEventSource.Log.IsEnabled(System.Diagnostics.Tracing.EventLevel.Informational, DataPlaneKeywords.Waiting) ? Host.MonotonicNanoseconds() : 0;
        for (int i = 0; i < spinBudget; i++)
        {
            if (TryConsume())
            {
                DataPlaneCounters.OnWait(parked: false);
                return WaitResult.NotifiedSpinning;
            }

            Thread.SpinWait(1);
        }

        DataPlaneCounters.OnWait(parked: true);
        if (spinStart == 0)
        {
            return Park(timeout);
        }

        long parkStart = Host.MonotonicNanoseconds();
        DataPlaneEventSource.Log.Parked(DomId, (int)Port, parkStart - spinStart);
        WaitResult result = Park(timeout);
        DataPlaneEventSource.Log.Woken(DomId, (int)Port, Host.MonotonicNanoseconds() - parkStart);
        return result;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private WaitResult Park(TimeSpan timeout)
    {
        long deadline = timeout == Timeout.InfiniteTimeSpan ? long.MaxValue : Host.MonotonicNanoseconds() + (long)(timeout.TotalMilliseconds * 1e6);
        // Full fence (atomic exchange): parked=1 is visible before we read pending below.
        Interlocked.Exchange(ref _entry->Parked, 1);
        Interlocked.Increment(ref _entry->Parks);
        try
        {
            while (true)
            {
                if (Interlocked.Exchange(ref _entry->Pending, 0) != 0)
                {
                    return WaitResult.NotifiedParked;
                }

                if ((EventChannelState)Volatile.Read(ref _entry->State) is EventChannelState.Free)
                {
                    return WaitResult.Closed;
                }

                TimeSpan left = Timeout.InfiniteTimeSpan;
                if (deadline != long.MaxValue)
                {
                    long ns = deadline - Host.MonotonicNanoseconds();
                    if (ns <= 0)
                    {
                        return WaitResult.TimedOut;
                    }

                    left = TimeSpan.FromTicks(Math.Max(1, ns / 100));
                }

                // Sleeps only while pending is still 0: the kernel re-checks atomically.
                int rc = Futex.Wait(&_entry->Pending, 0, left);
                if (rc != 0 && rc != Futex.TimedOut)
                {
                    return WaitResult.Closed;
                }
            }
        }
        finally
        {
            // Release: a notifier that still sees parked=1 just makes one needless FUTEX_WAKE.
            Volatile.Write(ref _entry->Parked, 0);
        }
    }
}
