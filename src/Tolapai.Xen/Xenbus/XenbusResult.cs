namespace Tolapai.Xen.Xenbus;

/// <summary>Why a Xenbus operation did not succeed.</summary>
public enum XenbusError
{
    /// <summary>It succeeded.</summary>
    None,
    /// <summary>The state change is not one this side may make from its state, given the peer's.</summary>
    IllegalTransition,
    /// <summary>Nothing happened within the time allowed.</summary>
    Timeout,
    /// <summary>The peer's directory or state key disappeared after the peer had been seen.</summary>
    PeerGone,
    /// <summary>The peer's state key holds something that is not a state.</summary>
    PeerMalformed,
    /// <summary>XenStore refused a request or the connection to it closed.</summary>
    Store,
    /// <summary>The driver stopped: disposed, or its XenStore connection closed.</summary>
    Disposed,
}

/// <summary>
/// The outcome of a Xenbus operation, returned rather than thrown so that a watch loop never
/// has an exception to lose.
/// </summary>
/// <param name="Error">What went wrong, or <see cref="XenbusError.None"/>.</param>
/// <param name="State">For a state switch, this side's state afterwards; for a wait, the peer's state it ended on.</param>
/// <param name="Message">What went wrong, in words; null on success.</param>
public readonly record struct XenbusResult(XenbusError Error, XenbusState State, string? Message)
{
    /// <summary>Whether the operation succeeded.</summary>
    public bool IsOk => Error == XenbusError.None;

    /// <summary>A success ending in <paramref name="state"/>.</summary>
    public static XenbusResult Ok(XenbusState state) => new(XenbusError.None, state, null);

    /// <summary>A failure.</summary>
    public static XenbusResult Fail(XenbusError error, XenbusState state, string message) => new(error, state, message);
}
