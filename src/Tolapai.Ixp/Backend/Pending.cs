using Tolapai.Ixp.Protocol;

namespace Tolapai.Ixp.Backend;

/// <summary>One mapped segment of a request: where the backend sees it and what the device is told (guest frame + offset).</summary>
internal unsafe struct MappedSegment
{
    public byte* Address;   // backend's view of the first byte
    public uint Frame;      // the guest's frame (machine address for the device)
    public uint Offset;
    public uint Length;
    public int Handle;      // maptrack handle to unmap at completion; -1: persistent (kept)
}

/// <summary>
/// A request the backend took from a ring and has not answered: preallocated per ring slot
/// and reused, so serving a request allocates nothing. Only the queue's service thread
/// touches it, except <see cref="DriverStatus"/> which the driver's completion sets before
/// pushing it to the queue's completion queue.
/// </summary>
internal sealed class Pending
{
    public Pending(IxpBackendQueue queue, int maxSegments)
    {
        Queue = queue;
        Source = new MappedSegment[maxSegments];
        Destination = new MappedSegment[maxSegments];
        Iv = new byte[IxpCipherBody.IvBytes];
        Segments = new IxpSegment[maxSegments];
    }

    public IxpBackendQueue Queue { get; }

    public ulong Id;
    public IxpOperation Operation;
    public uint Length;
    public int SessionSlot = -1;
    public int NrSrc;
    public int NrDst;
    public int DriverStatus;
    public bool HoldsOutstanding; // counted in the guest's max-requests
    public readonly MappedSegment[] Source;
    public readonly MappedSegment[] Destination;
    public readonly IxpSegment[] Segments; // the copy of the request's segments (rule 1)
    public readonly byte[] Iv;
    public object? Session;       // the driver session the request uses
    public object? DriverSession; // v1: the per-request session, removed at completion
    public IxpAlgorithm Algorithm;
    public Tolapai.Cpa.BufferList? Staging; // copy-backend test fault only: the backend's own copy of the payload (dom0 DMA memory)
    public bool Staged;                     // copy-backend: the payload is in Staging, to be copied out at completion

    public bool InPlace => NrDst == 0;
}
