using System.Runtime.InteropServices;

namespace Tolapai.Xen.GrantTable;

/// <summary>
/// Xen's <c>grant_entry_v1</c> (public/grant_table.h), in the guest's grant table frames.
/// <code>
///  0       2       4               8
///  +-------+-------+---------------+
///  | flags | domid | frame u32     |
///  +-------+-------+---------------+
/// </code>
/// The guest writes frame and domid, then release-stores flags; the hypervisor (here: the
/// mapping process) sets and clears GTF_reading/GTF_writing in flags with 16-bit
/// compare-and-swap, and the guest clears flags only with compare-and-swap from a value that
/// has neither busy bit.
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = 8)]
public struct GrantEntryV1
{
    /// <summary>Entries in one 4096-byte grant table frame.</summary>
    public const int PerFrame = 4096 / 8;

    /// <summary><see cref="GrantFlags"/>.</summary>
    [FieldOffset(0)] public ushort Flags;

    /// <summary>The domain allowed to access the frame.</summary>
    [FieldOffset(2)] public ushort DomId;

    /// <summary>The granted frame (a page index of the guest's memory).</summary>
    [FieldOffset(4)] public uint Frame;
}

/// <summary>GTF_* values of grant_entry_v1.flags.</summary>
[Flags]
public enum GrantFlags : ushort
{
    /// <summary>GTF_invalid.</summary>
    Invalid = 0,

    /// <summary>GTF_permit_access: the domain may map the frame.</summary>
    PermitAccess = 1,

    /// <summary>GTF_accept_transfer (not supported here).</summary>
    AcceptTransfer = 2,

    /// <summary>GTF_type_mask.</summary>
    TypeMask = 3,

    /// <summary>GTF_readonly: mappings must be read-only.</summary>
    ReadOnly = 1 << 2,

    /// <summary>GTF_reading: the frame is mapped (hypervisor-owned bit).</summary>
    Reading = 1 << 3,

    /// <summary>GTF_writing: the frame is mapped writable (hypervisor-owned bit).</summary>
    Writing = 1 << 4,
}

/// <summary>GNTST_* status codes (public/grant_table.h).</summary>
public enum GrantStatus : short
{
    /// <summary>GNTST_okay.</summary>
    Okay = 0,

    /// <summary>GNTST_general_error.</summary>
    GeneralError = -1,

    /// <summary>GNTST_bad_domain: unrecognised domain id.</summary>
    BadDomain = -2,

    /// <summary>GNTST_bad_gntref: unrecognised or inappropriate grant reference.</summary>
    BadGntref = -3,

    /// <summary>GNTST_bad_handle: unrecognised or inappropriate handle.</summary>
    BadHandle = -4,

    /// <summary>GNTST_bad_virt_addr.</summary>
    BadVirtAddr = -5,

    /// <summary>GNTST_bad_dev_addr.</summary>
    BadDevAddr = -6,

    /// <summary>GNTST_no_device_space.</summary>
    NoDeviceSpace = -7,

    /// <summary>GNTST_permission_denied: not granted to us, or read-only when writing.</summary>
    PermissionDenied = -8,

    /// <summary>GNTST_bad_page: the granted frame is not a page of the guest.</summary>
    BadPage = -9,

    /// <summary>GNTST_bad_copy_arg: copy crosses a page boundary.</summary>
    BadCopyArg = -10,

    /// <summary>GNTST_address_too_big.</summary>
    AddressTooBig = -11,

    /// <summary>GNTST_eagain: try again (the entry was held by another mapper too long).</summary>
    EAgain = -12,

    /// <summary>GNTST_no_space: out of handles (maptrack full).</summary>
    NoSpace = -13,
}
