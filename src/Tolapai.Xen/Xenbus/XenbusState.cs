namespace Tolapai.Xen.Xenbus;

/// <summary>A device end's state as Xen numbers it (io/xenbus.h, <c>enum xenbus_state</c>), written to its <c>state</c> key.</summary>
public enum XenbusState
{
    /// <summary>0: no state yet, or (read from a peer) nothing readable there.</summary>
    Unknown = 0,
    /// <summary>1: the toolstack created the device; the driver is starting.</summary>
    Initialising = 1,
    /// <summary>2: the backend waits for the frontend's details (ring-ref, event-channel).</summary>
    InitWait = 2,
    /// <summary>3: the frontend published its details.</summary>
    Initialised = 3,
    /// <summary>4: the device is in use.</summary>
    Connected = 4,
    /// <summary>5: the device is being shut down.</summary>
    Closing = 5,
    /// <summary>6: the device is shut down.</summary>
    Closed = 6,
    /// <summary>7: the backend is changing the device's configuration.</summary>
    Reconfiguring = 7,
    /// <summary>8: the backend finished reconfiguring.</summary>
    Reconfigured = 8,
}

/// <summary>Which end of a split device a driver is.</summary>
public enum XenbusSide
{
    /// <summary>The guest's end, under <c>/local/domain/&lt;domU&gt;/device</c>.</summary>
    Frontend,
    /// <summary>The driver domain's end, under <c>/local/domain/&lt;backend&gt;/backend</c>.</summary>
    Backend,
}

/// <summary>How a peer's <c>state</c> key read.</summary>
public enum XenbusPeerCondition
{
    /// <summary>The key held one of Xen's state numbers.</summary>
    Present,
    /// <summary>The key (or the peer's directory) does not exist or cannot be read.</summary>
    Missing,
    /// <summary>The key holds something that is not a state number: a broken peer.</summary>
    Malformed,
}

/// <summary>What this end last read of its peer's <c>state</c> key.</summary>
/// <param name="Condition">Whether the key held a state.</param>
/// <param name="State">The state when <see cref="XenbusPeerCondition.Present"/>, else <see cref="XenbusState.Unknown"/>.</param>
public readonly record struct XenbusPeerState(XenbusPeerCondition Condition, XenbusState State)
{
    /// <summary>A peer whose key holds <paramref name="state"/>.</summary>
    public static XenbusPeerState Present(XenbusState state) => new(XenbusPeerCondition.Present, state);

    /// <summary>A peer whose key does not exist.</summary>
    public static XenbusPeerState Missing => new(XenbusPeerCondition.Missing, XenbusState.Unknown);

    /// <summary>A peer whose key holds garbage.</summary>
    public static XenbusPeerState Malformed => new(XenbusPeerCondition.Malformed, XenbusState.Unknown);

    /// <summary>Whether the key held exactly <paramref name="state"/>.</summary>
    public bool Is(XenbusState state) => Condition == XenbusPeerCondition.Present && State == state;

    /// <inheritdoc/>
    public override string ToString() => Condition == XenbusPeerCondition.Present ? State.ToString() : Condition.ToString();
}
