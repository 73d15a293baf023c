namespace Tolapai.Xen.Xenbus;

/// <summary>
/// The state changes each end may make, as Linux's xenbus drivers make them (blkfront/blkback,
/// netfront/netback, pcifront/pciback for Reconfiguring). Some changes depend on the peer's
/// state: the frontend publishes its details only once the backend waits for them, and the
/// backend connects only once the frontend published them.
/// </summary>
/// <remarks>
/// Frontend: Unknown→Initialising; Initialising→Initialised when the backend is InitWait;
/// Initialising→Connected when the backend is InitWait or Connected; Initialised→Connected
/// when the backend is Connected. Backend: Unknown/Initialising→InitWait (and Unknown→Initialising);
/// InitWait→Connected when the frontend is Initialised or Connected;
/// Connected→Reconfiguring→Reconfigured→Connected. Both: any state but Closing/Closed→Closing;
/// Closing→Closed; Closed→Initialising for a reconnection after resume; and for the backend
/// Closed→InitWait when the frontend is Initialising again. Staying in the same state is
/// always allowed and writes nothing (as <c>xenbus_switch_state</c>).
/// </remarks>
public static class XenbusTransitions
{
    /// <summary>Whether <paramref name="side"/> may go from <paramref name="from"/> to <paramref name="to"/> while its peer is <paramref name="peer"/>.</summary>
    public static bool IsLegal(XenbusSide side, XenbusState from, XenbusState to, XenbusPeerState peer) => Why(side, from, to, peer) is null;

    /// <summary>Checks a change: success, or <see cref="XenbusError.IllegalTransition"/> saying why.</summary>
    public static XenbusResult Check(XenbusSide side, XenbusState from, XenbusState to, XenbusPeerState peer) =>
        Why(side, from, to, peer) is { } why
            ? XenbusResult.Fail(XenbusError.IllegalTransition, from, $"{side} may not go {from}→{to} while the peer is {peer}: {why}")
            : XenbusResult.Ok(to);

    private static string? Why(XenbusSide side, XenbusState from, XenbusState to, XenbusPeerState peer)
    {
        if (from == to)
            return null;
        if (!Enum.IsDefined(to))
            return "not a Xenbus state";
        switch (to)
        {
            case XenbusState.Closing:
                return from is XenbusState.Closed ? "already closed" : null;
            case XenbusState.Closed:
                return from is XenbusState.Closing ? null : "an end closes through Closing";
            case XenbusState.Initialising:
                return from is XenbusState.Unknown or XenbusState.Closed ? null : "only a new or closed device starts again";
        }
        return side == XenbusSide.Frontend ? FrontendWhy(from, to, peer) : BackendWhy(from, to, peer);
    }

    private static string? FrontendWhy(XenbusState from, XenbusState to, XenbusPeerState peer) => (from, to) switch
    {
        (XenbusState.Initialising, XenbusState.Initialised) =>
            peer.Is(XenbusState.InitWait) ? null : "the backend is not waiting (InitWait) for the frontend's details",
        (XenbusState.Initialising, XenbusState.Connected) =>
            peer.Is(XenbusState.InitWait) || peer.Is(XenbusState.Connected) ? null : "the backend is not InitWait or Connected",
        (XenbusState.Initialised, XenbusState.Connected) =>
            peer.Is(XenbusState.Connected) ? null : "the backend is not Connected",
        _ => "not a frontend transition",
    };

    private static string? BackendWhy(XenbusState from, XenbusState to, XenbusPeerState peer) => (from, to) switch
    {
        (XenbusState.Unknown or XenbusState.Initialising, XenbusState.InitWait) => null,
        (XenbusState.Closed, XenbusState.InitWait) =>
            peer.Is(XenbusState.Initialising) ? null : "the frontend is not Initialising again",
        (XenbusState.InitWait, XenbusState.Connected) =>
            peer.Is(XenbusState.Initialised) || peer.Is(XenbusState.Connected) ? null : "the frontend has not published its details (Initialised)",
        (XenbusState.Connected, XenbusState.Reconfiguring) => null,
        (XenbusState.Reconfiguring, XenbusState.Reconfigured) => null,
        (XenbusState.Reconfigured, XenbusState.Connected) => null,
        _ => "not a backend transition",
    };
}
