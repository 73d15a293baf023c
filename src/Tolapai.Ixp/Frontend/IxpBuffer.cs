namespace Tolapai.Ixp.Frontend;

/// <summary>A byte range in one of the guest's own frames, as a request names its data.</summary>
/// <param name="Frame">Guest frame.</param>
/// <param name="Offset">First byte in the frame.</param>
/// <param name="Length">Bytes, 1..4096 − Offset.</param>
public readonly record struct IxpBuffer(uint Frame, ushort Offset, ushort Length);

/// <summary>Outcome of a submission.</summary>
public enum IxpSubmitResult
{
    /// <summary>On the ring; the completion handler will see its tag.</summary>
    Submitted = 0,

    /// <summary>No free request id or ring slot: complete some and try again.</summary>
    Retry = 1,

    /// <summary>The arguments cannot form a request the backend accepts (counts, lengths, features).</summary>
    InvalidParam = 2,

    /// <summary>The device is not (or no longer) Connected.</summary>
    NotConnected = 3,

    /// <summary>The grant table has no room for the request's grants.</summary>
    NoGrants = 4,
}

/// <summary>Called once per response with the submitter's tag.</summary>
/// <param name="tag">The tag given at submission.</param>
/// <param name="status">The backend's status.</param>
/// <param name="responseSize">Bytes of result.</param>
public delegate void IxpCompletionHandler(ulong tag, Protocol.IxpStatus status, uint responseSize);
