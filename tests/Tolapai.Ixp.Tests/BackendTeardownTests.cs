using Xunit.Abstractions;

namespace Tolapai.Ixp.Tests;

/// <summary>The backend's threads are all gone when its DisposeAsync returns, so the host's region can be unmapped after it.</summary>
[Collection("ixp")]
public class BackendTeardownTests(ITestOutputHelper output)
{
    /// <summary>Linux thread names of this process (each managed thread's Name, cut to 15 bytes).</summary>
    private static string[] ThreadNames() =>
        [.. Directory.EnumerateDirectories("/proc/self/task").Select(t => { try { return File.ReadAllText(Path.Combine(t, "comm")).Trim(); } catch (IOException) { return ""; } })];

    [Fact]
    public async Task No_event_channel_waiter_outlives_the_backend()
    {
        await using IxpHost h = await IxpHost.StartAsync();
        using GuestProcess g = await h.StartGuestAsync(1, "cpa", "seed=4");
        output.WriteLine(await g.ExpectAsync("OK"));
        Assert.Contains(ThreadNames(), n => n.StartsWith("ixp-evtchn", StringComparison.Ordinal)); // the control: a waiter runs while connected

        // Torn down with the guest still connected: its ring's waiter is parked on the event-channel
        // word. One still running after this returns would read the hypervisor region after
        // IxpHost unmaps it (an AccessViolationException that took the test host down).
        await h.Backend.DisposeAsync();
        string[] left = [.. ThreadNames().Where(n => n.StartsWith("ixp-evtchn", StringComparison.Ordinal) || n.StartsWith("ixp-backend", StringComparison.Ordinal))];
        Assert.True(left.Length == 0, "backend threads left running: " + string.Join(", ", left));
    }
}
