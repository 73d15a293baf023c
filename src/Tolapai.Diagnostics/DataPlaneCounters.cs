using System.Runtime.CompilerServices;

namespace Tolapai.Diagnostics;

/// <summary>
/// The numbers behind the <c>Tolapai-DataPlane</c> counters. The data plane calls these on every
/// request; each call is one predictable branch while nobody listens (<see cref="Enabled"/>, the
/// source's own enabled flag, is false until an EventPipe/EventListener session enables it) and one interlocked add
/// while someone does. Totals are process-wide.
/// </summary>
public static class DataPlaneCounters
{
    // Touching any counter creates the event source, so an EventPipe session started later finds it.
    private static readonly DataPlaneEventSource s_source = DataPlaneEventSource.Log;
    private static long s_submitted;
    private static long s_completed;
    private static long s_bytes;
    private static long s_retries;
    private static long s_notificationsSent;
    private static long s_notificationsSuppressed;
    private static long s_spinWakeups;
    private static long s_parks;
    private static long s_ringOccupancy;

    /// <summary>True while <see cref="DataPlaneEventSource"/> is enabled by some session.</summary>
    public static bool Enabled
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => s_source.IsEnabled();
    }

    /// <summary>Requests accepted.</summary>
    public static long Submitted => Volatile.Read(ref s_submitted);

    /// <summary>Requests completed (any status).</summary>
    public static long Completed => Volatile.Read(ref s_completed);

    /// <summary>Bytes ciphered by completed requests.</summary>
    public static long Bytes => Volatile.Read(ref s_bytes);

    /// <summary>Submissions answered with Retry.</summary>
    public static long Retries => Volatile.Read(ref s_retries);

    /// <summary>Notifications sent.</summary>
    public static long NotificationsSent => Volatile.Read(ref s_notificationsSent);

    /// <summary>Notifications the ring's event index made unnecessary.</summary>
    public static long NotificationsSuppressed => Volatile.Read(ref s_notificationsSuppressed);

    /// <summary>Waits that ended while spinning.</summary>
    public static long SpinWakeups => Volatile.Read(ref s_spinWakeups);

    /// <summary>Waits that parked on the futex.</summary>
    public static long Parks => Volatile.Read(ref s_parks);

    /// <summary>Entries outstanding on the ring at the last sample (a gauge, set, not added).</summary>
    public static long RingOccupancy => Volatile.Read(ref s_ringOccupancy);

    /// <summary>A request was accepted.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void OnSubmitted()
    {
        if (s_source.IsEnabled())
        {
            Interlocked.Increment(ref s_submitted);
        }
    }

    /// <summary>A request completed after ciphering <paramref name="bytes"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void OnCompleted(int bytes)
    {
        if (s_source.IsEnabled())
        {
            Interlocked.Increment(ref s_completed);
            Interlocked.Add(ref s_bytes, bytes);
        }
    }

    /// <summary>A submission got Retry.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void OnRetry()
    {
        if (s_source.IsEnabled())
        {
            Interlocked.Increment(ref s_retries);
        }
    }

    /// <summary>A publish notified (<paramref name="sent"/>) or found no need to.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void OnNotify(bool sent)
    {
        if (s_source.IsEnabled())
        {
            Interlocked.Increment(ref sent ? ref s_notificationsSent : ref s_notificationsSuppressed);
        }
    }

    /// <summary>A wait ended spinning (<paramref name="parked"/> false) or after parking.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void OnWait(bool parked)
    {
        if (s_source.IsEnabled())
        {
            Interlocked.Increment(ref parked ? ref s_parks : ref s_spinWakeups);
        }
    }

    /// <summary>
    /// A ring publish, reported in one call that the ring makes only when <see cref="Enabled"/>
    /// (so a publish with no listener costs one branch): notified or suppressed (counter and
    /// event), and the ring's occupancy when the publisher knows it (-1 when not).
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static void OnPublish(bool notified, long occupancy, int domain, int port)
    {
        OnNotify(notified);
        if (occupancy >= 0)
        {
            SampleRingOccupancy(occupancy);
        }

        if (!notified)
        {
            s_source.NotifySuppressed(domain, port);
        }
    }

    /// <summary>Samples the ring occupancy.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void SampleRingOccupancy(long entries)
    {
        if (s_source.IsEnabled())
        {
            Volatile.Write(ref s_ringOccupancy, entries);
        }
    }
}
