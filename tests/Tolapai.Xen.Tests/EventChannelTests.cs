using Tolapai.Xen.EventChannel;
using Tolapai.Xen.Hypervisor;

namespace Tolapai.Xen.Tests;

/// <summary>Event channel operations in one process (the cross-process wake-ups are in <see cref="MultiProcessTests"/>).</summary>
public sealed class EventChannelTests : IDisposable
{
    private readonly TestRunDirectory _run = new();

    public EventChannelTests()
    {
        Assert.Equal(XenError.Ok, _run.Host.CreateDomain(0, 2, 1));
        Assert.Equal(XenError.Ok, _run.Host.CreateDomain(1, 2, 1));
        Assert.Equal(XenError.Ok, _run.Host.CreateDomain(2, 2, 1));
    }

    public void Dispose() => _run.Dispose();

    [Fact]
    public void Alloc_bind_notify_wait_close()
    {
        Host h = _run.Host;
        Assert.Equal(XenError.Ok, h.AllocUnbound(1, 0, out uint guestPort));
        Assert.NotEqual(0u, guestPort);
        EventChannelPort guest = h.OpenPort(1, guestPort);
        Assert.Equal(EventChannelState.Unbound, guest.State);
        Assert.Equal(XenError.Ok, guest.Notify()); // unbound: dropped silently, as Xen
        Assert.Equal(XenError.EINVAL, h.BindInterdomain(2, 1, guestPort, out _)); // allocated for dom0, not dom2
        Assert.Equal(XenError.Ok, h.BindInterdomain(0, 1, guestPort, out uint backPort));
        Assert.Equal(XenError.EINVAL, h.BindInterdomain(0, 1, guestPort, out _)); // already bound
        EventChannelPort back = h.OpenPort(0, backPort);
        Assert.Equal(EventChannelState.Interdomain, back.State);
        Assert.Equal(EventChannelState.Interdomain, guest.State);

        Assert.False(back.TryConsume());
        Assert.Equal(XenError.Ok, guest.Notify());
        Assert.Equal(XenError.Ok, guest.Notify()); // coalesces with the pending one
        Assert.Equal(WaitResult.NotifiedSpinning, back.Wait(100, TimeSpan.FromSeconds(1)));
        Assert.False(back.TryConsume());
        Assert.Equal(0UL, back.Wakes); // nobody was parked: no FUTEX_WAKE
        Assert.Equal(WaitResult.TimedOut, back.Wait(10, TimeSpan.FromMilliseconds(20)));
        Assert.Equal(1UL, back.Parks);

        Assert.Equal(XenError.Ok, h.CloseEventChannel(0, backPort));
        Assert.Equal(EventChannelState.Unbound, guest.State); // bindable again by dom0
        Assert.Equal(XenError.Ok, h.BindInterdomain(0, 1, guestPort, out _));
    }

    [Fact]
    public async Task Parked_waiter_is_woken_by_notify()
    {
        Host h = _run.Host;
        Assert.Equal(XenError.Ok, h.AllocUnbound(1, 0, out uint gp));
        Assert.Equal(XenError.Ok, h.BindInterdomain(0, 1, gp, out uint bp));
        EventChannelPort back = h.OpenPort(0, bp);
        EventChannelPort guest = h.OpenPort(1, gp);
        for (int i = 0; i < 20; i++)
        {
            ulong parks = back.Parks;
            Task<WaitResult> waiter = Task.Factory.StartNew(() => back.Wait(0, TimeSpan.FromSeconds(10)), TaskCreationOptions.LongRunning);
            while (back.Parks == parks)
            {
                Thread.Yield();
            }

            Thread.Sleep(1);
            guest.Notify();
            Assert.Equal(WaitResult.NotifiedParked, await waiter);
        }

        Assert.InRange(back.Wakes, 1UL, 20UL);
    }

    [Fact]
    public void Bad_ports_and_domains_are_errors()
    {
        Host h = _run.Host;
        Assert.Equal(XenError.EINVAL, h.NotifyEventChannel(0, 10_000));
        Assert.Equal(XenError.EINVAL, h.NotifyEventChannel(0, 5)); // free port
        Assert.Equal(XenError.EINVAL, h.BindInterdomain(0, 1, 0, out _));
        Assert.Equal(XenError.EINVAL, h.BindInterdomain(0, 1, 10_000, out _));
        Assert.Equal(XenError.ESRCH, h.AllocUnbound(7, 0, out _));
        Assert.Equal(XenError.EINVAL, h.AllocUnbound(500, 0, out _));
    }

    [Fact]
    public void Port_table_full_is_enospc()
    {
        Host h = _run.Host;
        for (uint i = 1; i < h.PortsPerDomain; i++)
        {
            Assert.Equal(XenError.Ok, h.AllocUnbound(2, 0, out _));
        }

        Assert.Equal(XenError.ENOSPC, h.AllocUnbound(2, 0, out _));
    }
}
