using System.Diagnostics;
using Tolapai.Diagnostics;

namespace Tolapai.Ixp.Backend;

/// <summary>
/// The backend's service thread for one driver instance: gives every queue it serves (of
/// every guest) a turn of at most BatchPerTurn requests in round robin, so a busy guest
/// cannot starve another; polls the driver; when all its rings are idle for the spin budget
/// it re-arms their req_event and parks (DESIGN §6). A thread cannot wait on several futex
/// words at once, so each ring has a small waiter thread blocked on its event channel (as each
/// event channel has its interrupt handler) that rings this worker's doorbell; the waiters run
/// only when a frontend notifies, i.e. when the worker asked for it by parking.
/// </summary>
internal sealed class IxpBackendWorker : IDisposable
{
    private readonly IxpBackendOptions _options;
    private readonly Lock _membership = new(); // control plane only: connect / disconnect
    private readonly Thread _thread;
    private IxpBackendQueue[] _queues = [];
    private readonly List<Thread> _waiters = []; // under _membership
    private readonly SemaphoreSlim _doorbell = new(0, 1);
    private volatile bool _stop;
    private long _parks;

    public IxpBackendWorker(IxpDriver driver, IxpBackendOptions options, int index)
    {
        Driver = driver;
        _options = options;
        _thread = new Thread(Loop) { IsBackground = true, Name = $"ixp-backend-{index}" };
        Allocations = new ThreadAllocationProbe(_thread.Name);
    }

    public IxpDriver Driver { get; }

    public int QueueCount => Volatile.Read(ref _queues).Length;

    public long Parks => Interlocked.Read(ref _parks);

    /// <summary>
    /// The passes that did work: took requests, wrote responses, or had the driver deliver
    /// completions. Passes that only polled an idle ring or waited for the engine are not
    /// counted, nor is the engine's own work (its own thread). Wall-clock time on this thread.
    /// </summary>
    public BusyTime Busy { get; } = new();

    /// <summary>The worker thread's allocated bytes, answered on the thread at the top of a loop pass.</summary>
    public ThreadAllocationProbe Allocations { get; }

    public void Start() => _thread.Start();

    public void Add(IxpBackendQueue q)
    {
        lock (_membership)
        {
            q.Worker = this;
            Volatile.Write(ref _queues, [.. _queues, q]);
        }

        Thread waiter = new(() => Wait(q)) { IsBackground = true, Name = $"ixp-evtchn d{q.Device.FrontendId} q{q.Index}" };
        lock (_membership)
        {
            _waiters.RemoveAll(t => !t.IsAlive); // those of released rings
            waiter.Start(); // started under the lock: Stop never sees (and joins) an unstarted one
            _waiters.Add(waiter);
        }
        Ring(); // the new ring may hold requests already
    }

    /// <summary>Wakes the worker if it is parked (at most one pending wake is kept).</summary>
    public void Ring()
    {
        try
        {
            _ = _doorbell.Release();
        }
        catch (SemaphoreFullException)
        {
            // Already rung: one wake is enough.
        }
        catch (ObjectDisposedException)
        {
            // The worker is gone; a late waiter has nobody to wake.
        }
    }

    /// <inheritdoc/>
    public void Dispose() => _doorbell.Dispose();

    /// <summary>A ring's event channel handler: each notification rings the worker's doorbell.</summary>
    private void Wait(IxpBackendQueue q)
    {
        while (!_stop && !q.IsReleased)
        {
            Xen.EventChannel.WaitResult r = q.Port.Wait(0, _options.ParkTimeout);
            if (r is Xen.EventChannel.WaitResult.NotifiedParked or Xen.EventChannel.WaitResult.NotifiedSpinning)
            {
                Ring();
            }
            else if (r == Xen.EventChannel.WaitResult.Closed)
            {
                return;
            }
        }
    }

    private void Remove(IxpBackendQueue q)
    {
        lock (_membership)
        {
            Volatile.Write(ref _queues, _queues.Where(x => x != q).ToArray());
        }
    }

    /// <summary>
    /// Stops the worker and every ring's waiter thread, and returns when none runs any more. A
    /// waiter parks on its event-channel word in the hypervisor region for up to ParkTimeout: one
    /// left running past Stop could wake after the region is unmapped and read freed memory (seen
    /// as an AccessViolationException that took the whole dom0 process down on teardown).
    /// </summary>
    public void Stop()
    {
        _stop = true;
        Ring();
        _thread.Join();
        Thread[] waiters;
        lock (_membership)
        {
            waiters = [.. _waiters];
            _waiters.Clear();
        }

        foreach (Thread w in waiters)
        {
            w.Join(); // each sees _stop within one ParkTimeout
        }
    }

    private void Loop()
    {
        int idle = 0;
        int start = 0;
        while (!_stop)
        {
            Allocations.Poll();
            // The pass's own cost: from here to the end of the driver's poll, kept if the pass did work.
            long passStart = Stopwatch.GetTimestamp();
            IxpBackendQueue[] queues = Volatile.Read(ref _queues);
            int work = 0;
            bool busy = false;
            for (int i = 0; i < queues.Length; i++)
            {
                // Start each pass at the next ring: no guest is always first.
                IxpBackendQueue q = queues[(start + i) % queues.Length];
                int w;
                try
                {
                    w = q.Turn(_options.BatchPerTurn);
                }
                catch (Exception e)
                {
                    // A bug met on one guest's ring must not take dom0 down: that device is closed.
                    q.Device.Fail($"queue {q.Index}: backend error {e.GetType().Name}: {e.Message}");
                    q.Abandon();
                    w = -1;
                }

                if (w < 0)
                {
                    Remove(q);
                    continue;
                }

                work += w;
                busy |= q.Busy;
            }

            start++;
            int delivered = busy ? Driver.Poll() : 0;
            if (work > 0 || delivered > 0)
            {
                Busy.Add(Stopwatch.GetTimestamp() - passStart, work);
            }

            if (work > 0)
            {
                idle = 0;
                continue;
            }

            if (busy)
            {
                if (++idle > 256)
                {
                    Thread.Yield(); // the device engines need the core
                }

                continue;
            }

            if (++idle < _options.SpinBudget)
            {
                Thread.SpinWait(4);
                continue;
            }

            bool more = false;
            foreach (IxpBackendQueue q in queues)
            {
                more |= q.FinalCheck();
            }

            // A sample's question is answered at the top of the loop; its Ring() after the
            // question also keeps the doorbell released, so this is only the quick way round.
            if (more || Allocations.IsRequested)
            {
                continue;
            }

            Interlocked.Increment(ref _parks);
            foreach (IxpBackendQueue q in queues)
            {
                q.CountPark();
            }

            // A notification after the final checks above rings the doorbell (kept if it comes
            // before this wait); the timeout only bounds how late a stop is seen.
            _ = _doorbell.Wait(_options.ParkTimeout);

            idle = 0;
        }

        Allocations.Retire();
    }
}
