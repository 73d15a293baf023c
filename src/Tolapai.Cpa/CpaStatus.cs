namespace Tolapai.Cpa;

/// <summary>
/// What a CPA call returned, with the values of <c>cpa.h</c>'s <c>CPA_STATUS_*</c>. An
/// <see cref="InvalidParam"/> or <see cref="Resource"/> result leaves a message in
/// <see cref="ICySymInstance.LastError"/> saying what was wrong.
/// </summary>
public enum CpaStatus
{
    /// <summary>Done (<c>CPA_STATUS_SUCCESS</c>).</summary>
    Success = 0,

    /// <summary>Failed (<c>CPA_STATUS_FAIL</c>); for a completion, the device refused or failed the request.</summary>
    Fail = -1,

    /// <summary>Try again later: the device ring is full, or a session still has requests in flight (<c>CPA_STATUS_RETRY</c>).</summary>
    Retry = -2,

    /// <summary>Out of a resource: memory, buffer pool, sessions (<c>CPA_STATUS_RESOURCE</c>).</summary>
    Resource = -3,

    /// <summary>A parameter is wrong; nothing was submitted (<c>CPA_STATUS_INVALID_PARAM</c>).</summary>
    InvalidParam = -4,

    /// <summary>The instance cannot go on (<c>CPA_STATUS_FATAL</c>).</summary>
    Fatal = -5,

    /// <summary>Not supported by this instance (<c>CPA_STATUS_UNSUPPORTED</c>).</summary>
    Unsupported = -6,

    /// <summary>The instance is restarting (suspend, resume, migration); try again (<c>CPA_STATUS_RESTARTING</c>).</summary>
    Restarting = -7,
}
