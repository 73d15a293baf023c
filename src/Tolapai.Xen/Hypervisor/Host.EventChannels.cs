using Tolapai.Xen.EventChannel;
using Tolapai.Xen.Interop;

namespace Tolapai.Xen.Hypervisor;

public sealed unsafe partial class Host
{
    /// <summary>EVTCHNOP_alloc_unbound: a new port of <paramref name="domid"/> that <paramref name="remoteDomid"/> may bind.</summary>
    public XenError AllocUnbound(ushort domid, ushort remoteDomid, out uint port)
    {
        port = 0;
        if (!IsRunning(domid) || DomainSlot(remoteDomid) == null)
        {
            return DomainSlot(domid) == null || DomainSlot(remoteDomid) == null ? XenError.EINVAL : XenError.ESRCH;
        }

        if (!TryClaimPort(domid, out port, out EventChannelEntry* e))
        {
            return XenError.ENOSPC;
        }

        e->RemoteDomId = remoteDomid;
        e->RemotePort = 0;
        // Release: the remote id is visible before the port says Unbound.
        Volatile.Write(ref e->State, (uint)EventChannelState.Unbound);
        return XenError.Ok;
    }

    /// <summary>
    /// EVTCHNOP_bind_interdomain: connects a new port of <paramref name="domid"/> to the unbound
    /// <paramref name="remotePort"/> of <paramref name="remoteDomid"/>, which must have been
    /// allocated for <paramref name="domid"/>.
    /// </summary>
    public XenError BindInterdomain(ushort domid, ushort remoteDomid, uint remotePort, out uint localPort)
    {
        localPort = 0;
        EventChannelEntry* remote = PortEntry(remoteDomid, remotePort);
        if (remote == null || remotePort == 0 || PortEntry(domid, 0) == null)
        {
            return XenError.EINVAL;
        }

        if (!IsRunning(domid) || !IsRunning(remoteDomid))
        {
            return XenError.ESRCH;
        }

        if (Volatile.Read(ref remote->State) != (uint)EventChannelState.Unbound || Volatile.Read(ref remote->RemoteDomId) != domid)
        {
            return XenError.EINVAL;
        }

        if (!TryClaimPort(domid, out localPort, out EventChannelEntry* local))
        {
            return XenError.ENOSPC;
        }

        // Claim the remote end: only one binder wins Unbound → Reserved.
        if (Interlocked.CompareExchange(ref remote->State, (uint)EventChannelState.Reserved, (uint)EventChannelState.Unbound) != (uint)EventChannelState.Unbound)
        {
            Volatile.Write(ref local->State, (uint)EventChannelState.Free);
            localPort = 0;
            return XenError.EINVAL;
        }

        if (remote->RemoteDomId != domid)
        {
            // Closed and re-allocated for someone else between our check and the claim: put it back.
            Volatile.Write(ref remote->State, (uint)EventChannelState.Unbound);
            Volatile.Write(ref local->State, (uint)EventChannelState.Free);
            localPort = 0;
            return XenError.EINVAL;
        }

        local->RemoteDomId = remoteDomid;
        local->RemotePort = remotePort;
        remote->RemotePort = localPort;
        // Release both ends: peer fields are visible before either state says Interdomain.
        Volatile.Write(ref local->State, (uint)EventChannelState.Interdomain);
        Volatile.Write(ref remote->State, (uint)EventChannelState.Interdomain);
        return XenError.Ok;
    }

    /// <summary>
    /// EVTCHNOP_send. Delivers to the peer port: sets pending and, only if the peer is parked and
    /// the event was not already pending, issues FUTEX_WAKE. Unbound ports drop the event (Xen does).
    /// </summary>
    public XenError NotifyEventChannel(ushort domid, uint port)
    {
        EventChannelEntry* e = PortEntry(domid, port);
        if (e == null)
        {
            return XenError.EINVAL;
        }

        // Acquire: RemoteDomId/RemotePort were written before the state we read.
        uint state = Volatile.Read(ref e->State);
        if (state != (uint)EventChannelState.Interdomain)
        {
            return state is (uint)EventChannelState.Unbound or (uint)EventChannelState.Reserved ? XenError.Ok : XenError.EINVAL;
        }

        EventChannelEntry* peer = PortEntry(e->RemoteDomId, e->RemotePort);
        if (peer == null)
        {
            return XenError.EINVAL;
        }

        Interlocked.Increment(ref peer->Notifies);
        Tolapai.Diagnostics.DataPlaneEventSource.Log.NotifySent(domid, (int)port);
        // Full fence: pending=1 is visible before we read parked (pairs with the waiter's
        // parked=1 then read pending).
        if (Interlocked.Exchange(ref peer->Pending, 1) == 0 && Volatile.Read(ref peer->Parked) != 0)
        {
            Interlocked.Increment(ref peer->Wakes);
            _ = Futex.Wake(&peer->Pending, 1);
        }

        return XenError.Ok;
    }

    /// <summary>EVTCHNOP_close. An interdomain peer falls back to Unbound (bindable again by this domain) and is woken.</summary>
    public XenError CloseEventChannel(ushort domid, uint port)
    {
        EventChannelEntry* e = PortEntry(domid, port);
        if (e == null || port == 0)
        {
            return XenError.EINVAL;
        }

        uint state = Volatile.Read(ref e->State);
        if (state == (uint)EventChannelState.Free)
        {
            return XenError.Ok;
        }

        if (state == (uint)EventChannelState.Interdomain)
        {
            EventChannelEntry* peer = PortEntry(e->RemoteDomId, e->RemotePort);
            if (peer != null && Interlocked.CompareExchange(ref peer->State, (uint)EventChannelState.Unbound, (uint)EventChannelState.Interdomain) == (uint)EventChannelState.Interdomain)
            {
                // The peer's waiter must notice the loss: deliver an event to it.
                if (Interlocked.Exchange(ref peer->Pending, 1) == 0 && Volatile.Read(ref peer->Parked) != 0)
                {
                    _ = Futex.Wake(&peer->Pending, 1);
                }
            }
        }

        Volatile.Write(ref e->State, (uint)EventChannelState.Free);
        if (Volatile.Read(ref e->Parked) != 0)
        {
            _ = Futex.Wake(&e->Pending, int.MaxValue);
        }

        return XenError.Ok;
    }

    /// <summary>A handle for this process on one of its domain's ports.</summary>
    public EventChannelPort OpenPort(ushort domid, uint port) => new(this, domid, port);

    private bool IsRunning(ushort domid)
    {
        DomainEntry* d = DomainSlot(domid);
        return d != null && Volatile.Read(ref d->State) == (uint)DomainState.Running;
    }

    private bool TryClaimPort(ushort domid, out uint port, out EventChannelEntry* entry)
    {
        for (port = 1; port < PortsPerDomain; port++)
        {
            entry = PortEntry(domid, port);
            if (Volatile.Read(ref entry->State) == (uint)EventChannelState.Free
                && Interlocked.CompareExchange(ref entry->State, (uint)EventChannelState.Reserved, (uint)EventChannelState.Free) == (uint)EventChannelState.Free)
            {
                // Plain stores: the port is Reserved and invisible until the caller's release
                // store of its state publishes these with the rest.
                entry->Pending = 0;
                entry->Parked = 0;
                return true;
            }
        }

        port = 0;
        entry = null;
        return false;
    }
}
