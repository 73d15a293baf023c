using System.Diagnostics;
using System.Runtime.CompilerServices;
using Tolapai.Diagnostics;

// Emits what a data plane emits, at a steady rate, until stdin closes (or 60 s pass):
// request events with latencies for two stages, counters, a ring-full event now and then,
// and CPU time in BurnCpuForTheProfiler so the sample profiler has a method to name.
var stop = new CancellationTokenSource(TimeSpan.FromSeconds(60));
_ = Task.Run(() =>
{
    Console.In.ReadToEnd();
    stop.Cancel();
});
DataPlaneCounters.OnSubmitted(); // creates the event source before we say we are ready
Console.WriteLine($"READY {Environment.ProcessId}");
Console.Out.Flush();
long id = 0;
ulong sink = 0;
while (!stop.IsCancellationRequested)
{
    long t0 = Stopwatch.GetTimestamp();
    sink += Work.BurnCpuForTheProfiler(20_000);
    long ns = (long)Stopwatch.GetElapsedTime(t0).TotalNanoseconds;
    DataPlaneEventSource.Log.RequestSubmitted(Stage.SplitOp, 1, id, 4096);
    DataPlaneCounters.OnSubmitted();
    DataPlaneEventSource.Log.RequestCompleted(Stage.SplitOp, 1, id, 0, 4096, ns);
    DataPlaneEventSource.Log.RequestCompleted(Stage.Device, 1, id, 0, 4096, ns / 3);
    DataPlaneCounters.OnCompleted(4096);
    if (id % 1000 == 0)
    {
        DataPlaneEventSource.Log.RingFull(1, 0, 64);
        DataPlaneCounters.OnRetry();
    }

    id++;
}

return sink == 42 ? 1 : 0;

internal static class Work
{
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static ulong BurnCpuForTheProfiler(int n)
    {
        ulong x = 0x9E3779B97F4A7C15;
        for (int i = 0; i < n; i++)
        {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
        }

        return x;
    }
}
