namespace Tolapai.Device.Region;

/// <summary>
/// Where everything sits in the device region. One copy of the ring area is
/// <see cref="CopySize"/> bytes; strict coherence keeps two (CPU copy, then device copy); the
/// doorbells follow in coherent memory (they stand for MMIO registers and interrupt lines).
/// </summary>
/// <remarks>
/// <code>
/// copy:  [ header page | pair 0 | pair 1 | ... ]         pair = PairSize bytes, page aligned
/// pair:  0   req_prod u32       (driver's line)
///        64  req_cons u32       (device's line: engines claim requests here)
///        256 RequestEntry[N]    (driver writes; S = RequestEntrySize bytes each)
///        256 + S·N ResponseEntry[N] (device writes)
/// doorbells (after the copies): 64-byte line 0 = device doorbell {seq u32 @0, sleeping u32 @4};
///        line 1 + p = pair p's interrupt {seq u32 @0, armed u32 @4}
/// </code>
/// Words written by the driver and by the device never share a cache line, so flushing or
/// invalidating a whole line never carries the other side's stale bytes.
/// </remarks>
public readonly struct RegionLayout
{
    /// <summary>Cache line size the flush and invalidate work in.</summary>
    public const int LineSize = 64;

    /// <summary>Header page with magic and geometry.</summary>
    public const int HeaderSize = 4096;

    /// <summary>"TLPD" in the header's first word.</summary>
    public const uint Magic = 0x44504C54;

    /// <summary>Offset of req_prod in a pair.</summary>
    public const int RequestProducer = 0;

    /// <summary>Offset of req_cons in a pair.</summary>
    public const int RequestConsumer = 64;

    /// <summary>Offset of the request entries in a pair.</summary>
    public const int RequestEntries = 256;

    /// <summary>
    /// Creates the layout for <paramref name="pairs"/> pairs of <paramref name="entries"/>
    /// entries, request entries big enough for <paramref name="maxSegments"/> segments.
    /// </summary>
    public RegionLayout(int pairs, int entries, int maxSegments = RequestEntry.MaxSegments)
    {
        Pairs = pairs;
        Entries = entries;
        MaxSegments = maxSegments;
        RequestEntrySize = RequestEntry.SizeFor(maxSegments);
        ResponseEntries = RequestEntries + (entries * RequestEntrySize);
        int pairBytes = ResponseEntries + (entries * ResponseEntry.Size);
        PairSize = (pairBytes + 4095) & ~4095;
        CopySize = HeaderSize + ((long)pairs * PairSize);
        DoorbellSize = (pairs + 1) * LineSize;
    }

    /// <summary>Ring pairs.</summary>
    public int Pairs { get; }

    /// <summary>Segments one request entry holds.</summary>
    public int MaxSegments { get; }

    /// <summary>Bytes per request entry (a multiple of 64, at least 256).</summary>
    public int RequestEntrySize { get; }

    /// <summary>Entries per ring.</summary>
    public int Entries { get; }

    /// <summary>Offset of the response entries in a pair.</summary>
    public int ResponseEntries { get; }

    /// <summary>Bytes per pair (page aligned).</summary>
    public int PairSize { get; }

    /// <summary>Bytes of one copy of the ring area.</summary>
    public long CopySize { get; }

    /// <summary>Bytes of the doorbell area.</summary>
    public int DoorbellSize { get; }

    /// <summary>Offset of pair <paramref name="pair"/> in a copy.</summary>
    public long PairOffset(int pair) => HeaderSize + ((long)pair * PairSize);
}
