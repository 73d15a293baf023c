namespace Tolapai.Xen.GrantTable;

/// <summary>
/// A granted page mapped into this process: a span straight onto the guest's page, no copy.
/// Valid until <see cref="GrantMapper.Unmap(int)"/>; keep it for persistent grants.
/// </summary>
public readonly unsafe struct GrantMapping
{
    internal GrantMapping(int handle, byte* address, bool readOnly)
    {
        Handle = handle;
        Address = address;
        ReadOnly = readOnly;
    }

    /// <summary>The grant handle (index into this process's maptrack table).</summary>
    public int Handle { get; }

    /// <summary>First byte of the mapped page.</summary>
    public byte* Address { get; }

    /// <summary>True for a read-only mapping; <see cref="Span"/> must then not be written.</summary>
    public bool ReadOnly { get; }

    /// <summary>The page, read-only view.</summary>
    public ReadOnlySpan<byte> ReadOnlySpan => new(Address, Memory.GuestMemory.PageSize);

    /// <summary>The page, writable view; only for a mapping made writable.</summary>
    public Span<byte> Span => ReadOnly ? default : new(Address, Memory.GuestMemory.PageSize);
}
