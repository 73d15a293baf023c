using System.Runtime.InteropServices;
using Tolapai.Ixp.Protocol;
using Tolapai.Xen.GrantTable;
using Tolapai.Xen.Memory;

namespace Tolapai.Ixp.Backend;

public sealed unsafe partial class IxpBackendDevice
{
    private const int PgNone = 0, PgBusy = 1, PgReady = 2;

    private PersistentGrant[] _persistent = [];
    private int _persistentCount;
    private int[] _frameRefs = []; // non-persistent: mappings per guest frame registered for DMA
    private readonly Lock _dmaLock = new();
    private GuestMemory? _guestMemory;

    [StructLayout(LayoutKind.Sequential)]
    private struct PersistentGrant
    {
        public int State;
        public int Handle;
        public nint Address;
        public uint Frame;
        public bool Writable;
    }

    private volatile string? _lastRefusal;

    /// <summary>Why the last request was refused (diagnostics).</summary>
    public string? LastRefusal => _lastRefusal;

    /// <summary>Grants kept mapped (persistent).</summary>
    public int PersistentGrants => Volatile.Read(ref _persistentCount);

    /// <summary>
    /// Maps one segment as rule 3 says: the grant must permit dom0, be in range, and be
    /// writable when the device writes it. Persistent grants are looked up lock-free after
    /// their first use; the rest are mapped here and unmapped at completion.
    /// </summary>
    internal IxpStatus MapSegment(in IxpSegment seg, bool write, out MappedSegment m)
    {
        m = default;
        if (seg.Length == 0 || seg.Offset + seg.Length > GuestMemory.PageSize)
        {
            return IxpStatus.Error;
        }

        if (Persistent && seg.Gref < (uint)_persistent.Length)
        {
            ref PersistentGrant pg = ref _persistent[seg.Gref];
            while (true)
            {
                // Acquire: Address/Frame/Writable were written before State said Ready.
                int state = Volatile.Read(ref pg.State);
                if (state == PgReady)
                {
                    if (write && !pg.Writable)
                    {
                        return IxpStatus.BadGrant;
                    }

                    m = new MappedSegment { Address = (byte*)pg.Address + seg.Offset, Frame = pg.Frame, Offset = seg.Offset, Length = seg.Length, Handle = -1 };
                    return IxpStatus.Okay;
                }

                if (state == PgBusy)
                {
                    Thread.SpinWait(8); // another queue of this guest maps it right now
                    continue;
                }

                if (Volatile.Read(ref _persistentCount) >= _backend.Options.MaxPersistentGrants)
                {
                    break; // over the cap: map for this request only
                }

                if (Interlocked.CompareExchange(ref pg.State, PgBusy, PgNone) != PgNone)
                {
                    continue;
                }

                GrantStatus st = _backend.Mapper.Map(FrontendId, seg.Gref, readOnly: false, out GrantMapping map);
                bool writable = st == GrantStatus.Okay;
                if (!writable && !write)
                {
                    st = _backend.Mapper.Map(FrontendId, seg.Gref, readOnly: true, out map);
                }

                if (st != GrantStatus.Okay)
                {
                    Volatile.Write(ref pg.State, PgNone);
                    return Refuse(IxpStatus.BadGrant, $"grant {seg.Gref}: {st}");
                }

                pg.Handle = map.Handle;
                pg.Address = (nint)map.Address;
                pg.Frame = FrameOf(map.Address);
                pg.Writable = writable;
                _backend.Driver.RegisterFrame(FrontendId, pg.Frame, map.Address, writable);
                Interlocked.Increment(ref _persistentCount);
                // Release: the fields above are visible before Ready.
                Volatile.Write(ref pg.State, PgReady);
            }
        }

        GrantStatus s = _backend.Mapper.Map(FrontendId, seg.Gref, readOnly: !write, out GrantMapping one);
        if (s != GrantStatus.Okay)
        {
            return Refuse(IxpStatus.BadGrant, $"grant {seg.Gref} ({(write ? "write" : "read")}): {s}");
        }

        uint frame = FrameOf(one.Address);
        lock (_dmaLock)
        {
            // The same frame may be in two requests at once; the device registration lives while either does.
            if (_frameRefs[frame]++ == 0)
            {
                _backend.Driver.RegisterFrame(FrontendId, frame, one.Address, write);
            }
        }

        m = new MappedSegment { Address = one.Address + seg.Offset, Frame = frame, Offset = seg.Offset, Length = seg.Length, Handle = one.Handle };
        return IxpStatus.Okay;
    }

    /// <summary>Unmaps a per-request segment (persistent ones stay).</summary>
    internal void UnmapSegment(ref MappedSegment m)
    {
        if (m.Handle < 0)
        {
            return;
        }

        lock (_dmaLock)
        {
            if (--_frameRefs[m.Frame] == 0)
            {
                _backend.Driver.UnregisterFrame(FrontendId, m.Frame);
            }
        }

        _ = _backend.Mapper.Unmap(m.Handle);
        m.Handle = -1;
    }

    /// <summary>Maps a page the backend only reads (indirect segment pages, v1 parameter pages when written too).</summary>
    internal IxpStatus MapPage(uint gref, bool write, out GrantMapping map)
    {
        GrantStatus st = _backend.Mapper.Map(FrontendId, gref, readOnly: !write, out map);
        return st == GrantStatus.Okay ? IxpStatus.Okay : Refuse(IxpStatus.BadGrant, $"page grant {gref}: {st}");
    }

    internal void UnmapPage(int handle) => _ = _backend.Mapper.Unmap(handle);

    private uint FrameOf(byte* address) => (uint)((address - _guestMemory!.Base) >> GuestMemory.PageShift);

    private void SetUpGrantTables(GuestMemory memory)
    {
        _guestMemory = memory;
        _persistent = new PersistentGrant[memory.GrantFrames * GrantEntryV1.PerFrame];
        _persistentCount = 0;
        _frameRefs = new int[memory.Pages];
    }

    private void ReleasePersistentGrants()
    {
        for (int g = 0; g < _persistent.Length; g++)
        {
            ref PersistentGrant pg = ref _persistent[g];
            if (pg.State == PgReady)
            {
                _backend.Driver.UnregisterFrame(FrontendId, pg.Frame);
                _ = _backend.Mapper.Unmap(pg.Handle);
                pg = default;
            }
        }

        _persistentCount = 0;
    }

    internal IxpStatus Refuse(IxpStatus status, string reason)
    {
        Interlocked.Increment(ref _refused);
        _lastRefusal = reason;
        IxpEventSource.Log.RequestRefused(FrontendId, 0, (int)status, reason);
        return status;
    }
}
