using System.Collections.Concurrent;

namespace Tolapai.Cpa.Tests;

/// <summary>Collects callbacks: (tag, status) per completion, from any thread.</summary>
public sealed class Completions
{
    private readonly ConcurrentQueue<(object? Tag, CpaStatus Status)> _done = new();

    public SymCallback Callback => (tag, status, _) => _done.Enqueue((tag, status));

    public int Count => _done.Count;

    public List<(object? Tag, CpaStatus Status)> All => [.. _done];

    /// <summary>Polls (polling mode) or waits (interrupt mode) until <paramref name="expected"/> completions arrived; bounded by 30 s so a lost completion fails instead of hanging.</summary>
    public void WaitFor(ICySymInstance instance, int expected)
    {
        DateTime giveUp = DateTime.UtcNow.AddSeconds(30);
        while (_done.Count < expected)
        {
            if (instance.CompletionMode == CompletionMode.Polling)
            {
                instance.Poll(0, out _);
            }
            else
            {
                Thread.Sleep(1);
            }

            Assert.True(DateTime.UtcNow < giveUp, $"only {_done.Count} of {expected} completions arrived (seed {TestRandom.Seed})");
        }
    }
}
