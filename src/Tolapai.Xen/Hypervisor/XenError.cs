namespace Tolapai.Xen.Hypervisor;

/// <summary>Hypercall results: 0 or a negative Linux errno, as Xen's hypercalls return them.</summary>
public enum XenError
{
    /// <summary>Success.</summary>
    Ok = 0,

    /// <summary>Operation not permitted.</summary>
    EPERM = -1,

    /// <summary>No such domain or entry.</summary>
    ENOENT = -2,

    /// <summary>No such process: the domain is not running.</summary>
    ESRCH = -3,

    /// <summary>Try again (a transient state).</summary>
    EAGAIN = -11,

    /// <summary>Busy (e.g. still mapped).</summary>
    EBUSY = -16,

    /// <summary>Already exists.</summary>
    EEXIST = -17,

    /// <summary>Invalid argument.</summary>
    EINVAL = -22,

    /// <summary>No space left (table full).</summary>
    ENOSPC = -28,
}
