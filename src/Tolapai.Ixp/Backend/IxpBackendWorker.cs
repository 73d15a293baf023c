namespace Tolapai.Ixp.Backend;

/// <summary>
/// The backend's service thread for one driver instance: gives every queue it serves (of
/// every guest) a turn of at most BatchPerTurn requests in round robin, so a busy guest
/// cannot starve another; polls the driver; when all its rings are idle for the spin budget
/// it re-arms their req_event and parks (DESIGN §6). Parking waits on one event channel: with
/// one ring that is exact; with several it is the first ring's port with a short timeout
/// (an emulated vCPU cannot wait on several futex words at once), so an idle second guest's
/// first request waits at most <see cref="IxpBackendOptions.MultiRingParkTimeout"/>.
/// </summary>
internal sealed class IxpBackendWorker
{
    private readonly IxpBackendOptions _options;
    private readonly Lock _membership = new(); // control plane only: connect / disconnect
    private readonly Thread _thread;
    private IxpBackendQueue[] _queues = [];
    private volatile bool _stop;
    private long _parks;
    private long _allocatedAtStart = -1;
    private long _allocated;

    public IxpBackendWorker(IxpDriver driver, IxpBackendOptions options, int index)
    {
        Driver = driver;
        _options = options;
        _thread = new Thread(Loop) { IsBackground = true, Name = $"ixp-backend-{index}" };
    }

    public IxpDriver Driver { get; }

    public int QueueCount => Volatile.Read(ref _queues).Length;

    public long Parks => Interlocked.Read(ref _parks);

    /// <summary>Managed bytes the worker thread allocated since it started (sampled every 64 passes and before parking).</summary>
    public long AllocatedBytes => Interlocked.Read(ref _allocated);

    public void Start() => _thread.Start();

    public void Add(IxpBackendQueue q)
    {
        lock (_membership)
        {
            q.Worker = this;
            Volatile.Write(ref _queues, [.. _queues, q]);
        }

        // A worker parked on another ring sees this one within its park timeout.
    }

    private void Remove(IxpBackendQueue q)
    {
        lock (_membership)
        {
            Volatile.Write(ref _queues, _queues.Where(x => x != q).ToArray());
        }
    }

    public void Stop()
    {
        _stop = true;
        _thread.Join();
    }

    private void Loop()
    {
        int idle = 0;
        int start = 0;
        _allocatedAtStart = GC.GetAllocatedBytesForCurrentThread();
        while (!_stop)
        {
            if ((start & 63) == 0)
            {
                Volatile.Write(ref _allocated, GC.GetAllocatedBytesForCurrentThread() - _allocatedAtStart);
            }

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
            if (busy)
            {
                Driver.Poll();
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

            if (more)
            {
                continue;
            }

            Interlocked.Increment(ref _parks);
            Volatile.Write(ref _allocated, GC.GetAllocatedBytesForCurrentThread() - _allocatedAtStart);
            if (queues.Length == 0)
            {
                Thread.Sleep(_options.MultiRingParkTimeout);
            }
            else
            {
                queues[0].CountPark();
                _ = queues[0].Port.Wait(0, queues.Length == 1 ? _options.ParkTimeout : _options.MultiRingParkTimeout);
            }

            idle = 0;
        }
    }
}
