using System.Diagnostics;
using System.Runtime.CompilerServices;

namespace Tolapai.Diagnostics;

/// <summary>
/// The managed bytes one data-plane thread has allocated, read exactly and on that thread.
/// <see cref="GC.GetAllocatedBytesForCurrentThread"/> only tells a thread about itself, so a
/// reader asks (<see cref="Sample"/>) and the thread answers at the top of its next loop pass
/// (<see cref="Poll"/>): the answer is the thread's own count at a point after the question.
/// Two answers bracket a window exactly: every byte the thread allocated between them, and
/// none from before (start-up, warm-up, tier-up) or after.
/// </summary>
/// <remarks>
/// The owner's cost is one acquire read per loop pass while nobody asks; answering reads the
/// thread's counter, with no allocation and no lock. A parked thread must be woken for it to
/// answer: the owner checks <see cref="IsRequested"/> in its last look before parking, and the
/// reader's wake-up comes after its question, so no question waits for the park timeout.
/// </remarks>
public sealed class ThreadAllocationProbe
{
    // Written by readers (Interlocked), read by the owner each pass.
    private long _requested;

    // Written by the owner only: the question answered last, and its answer.
    private long _answered;
    private long _bytes;

    /// <summary>A probe for the thread named <paramref name="name"/> (used in timeout messages).</summary>
    public ThreadAllocationProbe(string name) => Name = name;

    /// <summary>The thread's name.</summary>
    public string Name { get; }

    /// <summary>True while a question waits for the owner's answer.</summary>
    public bool IsRequested => Volatile.Read(ref _requested) != Volatile.Read(ref _answered);

    /// <summary>On the owning thread, once per loop pass: answers a waiting question.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Poll()
    {
        // Acquire: pairs with the reader's increment; a question seen here is answered now.
        long requested = Volatile.Read(ref _requested);
        if (requested != _answered)
        {
            Answer(requested);
        }
    }

    /// <summary>On the owning thread as it ends: this and every later question get its final count.</summary>
    public void Retire()
    {
        Volatile.Write(ref _bytes, GC.GetAllocatedBytesForCurrentThread());

        // Release: the final count is visible before any reader sees "answered".
        Volatile.Write(ref _answered, long.MaxValue);
    }

    /// <summary>
    /// Asks every probe for its thread's allocated-bytes count, calls <paramref name="wake"/>
    /// (so parked owners answer), and waits for all answers. Each figure is that thread's own
    /// <see cref="GC.GetAllocatedBytesForCurrentThread"/>, read on it after this call began.
    /// </summary>
    /// <exception cref="TimeoutException">A thread did not answer within <paramref name="timeout"/> (it is stuck, or not polling).</exception>
    public static long[] Sample(IReadOnlyList<ThreadAllocationProbe> probes, Action? wake, TimeSpan timeout)
    {
        ArgumentNullException.ThrowIfNull(probes);
        long[] tickets = new long[probes.Count];
        for (int i = 0; i < tickets.Length; i++)
        {
            // Full fence (Interlocked): the question is visible before the wake-up below.
            tickets[i] = Interlocked.Increment(ref probes[i]._requested);
        }

        wake?.Invoke();
        long[] bytes = new long[tickets.Length];
        long deadline = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
        for (int i = 0; i < tickets.Length; i++)
        {
            SpinWait spin = default;
            // Acquire: pairs with Answer's release, so _bytes read below is the answer's.
            while (Volatile.Read(ref probes[i]._answered) < tickets[i])
            {
                if (Stopwatch.GetTimestamp() > deadline)
                {
                    throw new TimeoutException($"thread '{probes[i].Name}' did not report its allocated bytes within {timeout.TotalSeconds:0.#} s");
                }

                spin.SpinOnce(sleep1Threshold: 20);
            }

            bytes[i] = Volatile.Read(ref probes[i]._bytes);
        }

        return bytes;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void Answer(long requested)
    {
        Volatile.Write(ref _bytes, GC.GetAllocatedBytesForCurrentThread());

        // Release: the count is visible before "answered" is.
        Volatile.Write(ref _answered, requested);
    }
}
