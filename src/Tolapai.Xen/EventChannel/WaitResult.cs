namespace Tolapai.Xen.EventChannel;

/// <summary>Outcome of <see cref="EventChannelPort.Wait"/>.</summary>
public enum WaitResult
{
    /// <summary>An event arrived while spinning.</summary>
    NotifiedSpinning = 0,

    /// <summary>An event arrived after parking on the futex.</summary>
    NotifiedParked = 1,

    /// <summary>The timeout passed with no event.</summary>
    TimedOut = 2,

    /// <summary>The port is not (or no longer) usable.</summary>
    Closed = 3,
}
