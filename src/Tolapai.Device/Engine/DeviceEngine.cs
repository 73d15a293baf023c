using System.Runtime.CompilerServices;
using Tolapai.Device.Dma;
using Tolapai.Device.Region;
using Tolapai.Faults;
using Tolapai.Kernels.Des;
using Tolapai.Xen.Interop;

namespace Tolapai.Device.Engine;

/// <summary>
/// One engine thread: takes every request waiting on every ring pair (up to
/// <see cref="DeviceOptions.MaxBatch"/>), copies each entry out once, checks it, translates its
/// segments through the DMA registry, and runs the batch through
/// <see cref="DesCipher.RunBatch"/> so that independent CBC-encrypt requests — of any session,
/// any ring — share the SIMD lanes. Then it writes the responses and raises the interrupt of
/// every ring whose driver is waiting.
/// </summary>
internal sealed unsafe partial class DeviceEngine
{
    /// <summary>Host-contiguous pieces a request may break into per side.</summary>
    internal const int MaxRuns = 300;

    /// <summary>Largest message a request may carry.</summary>
    internal const uint MaxLength = 1u << 20;

    private readonly TolapaiDevice _device;
    private readonly DeviceRegion _region;
    private readonly RegionLayout _layout;
    private readonly DmaRegistry _dma;
    private readonly DeviceSessionTable _sessions;
    private readonly Thread _thread;
    private readonly Pending[] _pending;
    private readonly DesJob[] _jobs;
    private readonly int[] _jobPending;
    private readonly Run[] _srcRuns = new Run[MaxRuns];
    private readonly DmaSegment[] _segments;
    private readonly int _entrySize;
    private readonly Run[] _dstRuns = new Run[MaxRuns];
    private readonly bool[] _touched;
    private readonly int _maxBatch;
    private readonly long _spinTicks;
    private readonly uint _lanes;
    private readonly long _coalesceTicks;
    private volatile bool _stop;
    private int _nextPair;

    public DeviceEngine(TolapaiDevice device, int index)
    {
        _device = device;
        _region = device.Region;
        _layout = _region.Layout;
        _dma = device.Dma;
        _sessions = device.Sessions;
        _maxBatch = device.Options.MaxBatch;
        _pending = new Pending[_maxBatch];
        _jobs = new DesJob[_maxBatch];
        _jobPending = new int[_maxBatch];
        _touched = new bool[_layout.Pairs];
        _segments = new DmaSegment[_layout.MaxSegments];
        _entrySize = _layout.RequestEntrySize;
        _spinTicks = (long)(device.Options.EngineSpin.TotalSeconds * System.Diagnostics.Stopwatch.Frequency);
        _coalesceTicks = (long)(device.Options.CoalesceQuiet.TotalSeconds * System.Diagnostics.Stopwatch.Frequency);
        _lanes = DesCipher.Best switch
        {
            DesKernel.Vector512 => 64u,
            DesKernel.Vector256 => 32u,
            DesKernel.Vector128 => 16u,
            _ => 1u,
        };
        _thread = new Thread(Loop) { IsBackground = true, Name = $"tolapai-engine-{index}" };
        Allocations = new Diagnostics.ThreadAllocationProbe(_thread.Name);
    }

    /// <summary>Batches run.</summary>
    public long Batches;

    /// <summary>Requests answered.</summary>
    public long Requests;

    /// <summary>Requests answered with an error status.</summary>
    public long Errors;

    /// <summary>Requests that ran piecewise (several host-contiguous runs).</summary>
    public long Scattered;

    /// <summary>
    /// Payload bytes the engine copied through its 8-byte bounce block (a cipher block straddling
    /// two runs): each such byte twice, gathered into the block and scattered out of it. The
    /// device's only payload copy.
    /// </summary>
    public long BounceBytes;

    /// <summary>Segments of the requests this engine ran (translated and used for DMA).</summary>
    public long DmaSegments;

    /// <summary>
    /// Of <see cref="DmaSegments"/>, those that did not lie in the request's own memory: a
    /// segment of another domain than the entry's requester, or, for a guest's request, a frame
    /// not registered as mapped from a grant. 0 is the structural proof of zero copy: the engine
    /// read and wrote only the guest's granted pages.
    /// </summary>
    public long DmaSegmentsOutsideGrants;

    /// <summary>Times the engine waited for a short batch to fill.</summary>
    public long Coalesced;

    /// <summary>Times the engine parked on its doorbell.</summary>
    public long Parks;

    /// <summary>This engine thread's allocated bytes, answered on the thread at the top of a loop pass.</summary>
    public readonly Diagnostics.ThreadAllocationProbe Allocations;

    /// <summary>Stopwatch ticks spent running batches and writing their responses.</summary>
    public long ExecuteTicks;

    public void Start() => _thread.Start();

    public void Stop()
    {
        _stop = true;
        _device.RingDeviceDoorbell(force: true);
        _thread.Join();
    }

    private void Loop()
    {
        long idleSince = 0;
        uint idleSpins = 0;
        while (!_stop)
        {
            Allocations.Poll();
            int n = Gather();
            if (n == 0)
            {
                long now = System.Diagnostics.Stopwatch.GetTimestamp();
                if (idleSince == 0)
                {
                    idleSince = now;
                }
                else if (now - idleSince > _spinTicks)
                {
                    Park();
                    idleSince = 0;
                }
                else if ((++idleSpins & 15) == 0)
                {
                    // Give the core away now and then: when the machine is busier than its
                    // cores, the driver that would feed us may be waiting for this very core.
                    Thread.Yield();
                }
                else
                {
                    Thread.SpinWait(20);
                }

                continue;
            }

            idleSince = 0;
            long start = System.Diagnostics.Stopwatch.GetTimestamp();
            Execute();
            Respond(n);
            long ticks = System.Diagnostics.Stopwatch.GetTimestamp() - start;
            ExecuteTicks += ticks;
            if (Tolapai.Diagnostics.DataPlaneEventSource.Log.RequestsEnabled)
            {
                // One event per batch: its requests and how long the engine took over them.
                Tolapai.Diagnostics.DataPlaneEventSource.Log.RequestCompleted(Tolapai.Diagnostics.Stage.EngineBatch, 0, Batches, 0, n, (long)(ticks * (1e9 / System.Diagnostics.Stopwatch.Frequency)));
            }
        }

        Allocations.Retire();
    }

    // Spin budget spent: announce sleep, check once more (the driver checks "sleeping" after
    // publishing), then wait on the doorbell word read before the announcement.
    private void Park()
    {
        uint* bell = (uint*)_region.Doorbells;
        uint seq = Volatile.Read(ref bell[0]);
        Volatile.Write(ref bell[1], 1u);

        // Full fence: "sleeping" is visible before we look at the producer indexes again, so a
        // driver that published before this sees sleeping = 1 after its own fence, or we see its index.
        Interlocked.MemoryBarrier();
        if (!HasWork() && !_stop && !Allocations.IsRequested)
        {
            Parks++;
            Futex.Wait(&bell[0], seq, TimeSpan.FromMilliseconds(100));
        }

        Volatile.Write(ref bell[1], 0u);
    }

    private bool HasWork()
    {
        byte* dev = _region.DeviceView;
        for (int p = 0; p < _layout.Pairs; p++)
        {
            byte* pair = dev + _layout.PairOffset(p);
            if (Volatile.Read(ref *(uint*)(pair + RegionLayout.RequestProducer)) != Volatile.Read(ref *(uint*)(pair + RegionLayout.RequestConsumer)))
            {
                return true;
            }
        }

        return false;
    }

    private int _jobCount;

    private int Gather()
    {
        int n = 0;
        _jobCount = 0;
        byte* dev = _region.DeviceView;
        int pairs = _layout.Pairs;
        uint mask = (uint)_layout.Entries - 1;
        for (int k = 0; k < pairs && n < _maxBatch; k++)
        {
            int p = (_nextPair + k) % pairs;
            if (_device.IsPairFaulted(p))
            {
                continue;
            }

            byte* pair = dev + _layout.PairOffset(p);
            ref uint consRef = ref *(uint*)(pair + RegionLayout.RequestConsumer);
            while (true)
            {
                // Acquire: the entries below req_prod were flushed before the driver published it.
                uint prod = Volatile.Read(ref *(uint*)(pair + RegionLayout.RequestProducer));
                uint cons = Volatile.Read(ref consRef);
                uint avail = prod - cons;
                if (avail == 0)
                {
                    break;
                }

                if (avail > (uint)_layout.Entries)
                {
                    // A producer more than a ring ahead: that ring is broken; stop serving it only.
                    _device.FaultPair(p);
                    break;
                }

                if (avail < _lanes && n == 0 && _coalesceTicks > 0)
                {
                    // Fewer requests than a vector has lanes: while the driver is still adding
                    // to them, wait for it (a few microseconds of quiet ends the wait), so that
                    // CBC-encrypt streams fill the lanes instead of running a full-width pass
                    // for a handful of them.
                    avail = Coalesce(pair, cons, avail);
                    if (avail > (uint)_layout.Entries)
                    {
                        _device.FaultPair(p);
                        break;
                    }
                }

                uint take = Math.Min(avail, (uint)(_maxBatch - n));

                // Whole vectors: CBC-encrypt streams of one length finish together, so a batch
                // of 96 on 64 lanes runs two full-length passes, the second half empty. Leave
                // the odd ones for the next batch, which the driver is filling meanwhile.
                if (take > _lanes && n == 0)
                {
                    take -= take % _lanes;
                }
                if (Interlocked.CompareExchange(ref consRef, cons + take, cons) != cons)
                {
                    continue; // another engine claimed first
                }

                for (uint i = cons; i != cons + take; i++)
                {
                    // Copy the entry out once; only the copy is looked at.
                    byte* slot = pair + RegionLayout.RequestEntries + ((i & mask) * _entrySize);
                    Prepare(ref _pending[n], slot, p, i, n);
                    n++;
                }

                break;
            }
        }

        _nextPair = (_nextPair + 1) % pairs;
        return n;
    }

    private uint Coalesce(byte* pair, uint cons, uint avail)
    {
        long quietSince = System.Diagnostics.Stopwatch.GetTimestamp();
        while (avail < _lanes && !_stop)
        {
            Thread.SpinWait(10);
            uint now = Volatile.Read(ref *(uint*)(pair + RegionLayout.RequestProducer)) - cons;
            long t = System.Diagnostics.Stopwatch.GetTimestamp();
            if (now != avail)
            {
                avail = now;
                quietSince = t;
            }
            else if (t - quietSince > _coalesceTicks)
            {
                break;
            }
        }

        Coalesced++;
        return avail;
    }

    private void Prepare(ref Pending pending, byte* slotAddress, int pair, uint index, int slot)
    {
        // Copy the entry out once: the header whole, then as many segments as it says (if
        // that many fit); only the copies are looked at.
        RequestEntry entry = default;
        Unsafe.CopyBlockUnaligned(&entry, slotAddress, RequestEntry.HeaderSize);
        int count = entry.SourceCount + entry.DestinationCount;
        if (count <= _layout.MaxSegments)
        {
            new ReadOnlySpan<DmaSegment>(slotAddress + RequestEntry.HeaderSize, count).CopyTo(_segments);
        }

        pending.Pair = pair;
        pending.Index = index;
        pending.Tag = entry.Tag;
        pending.Status = Check(in entry, index, slot);
    }

    private DeviceStatus Check(in RequestEntry entry, uint index, int slot)
    {
        if (entry.Sequence != index || entry.OpCode != RequestEntry.OpCipher)
        {
            return DeviceStatus.BadEntry;
        }

        DeviceSession? session = _sessions.Find(entry.Session);
        if (session is null)
        {
            return DeviceStatus.BadSession;
        }

        uint length = entry.Length;
        if (length == 0 || length > MaxLength || (session.Mode != CipherMode.Ctr && (length & 7) != 0))
        {
            return DeviceStatus.BadLength;
        }

        bool inPlace = (entry.Flags & RequestEntry.FlagInPlace) != 0;
        int nsrc = entry.SourceCount;
        int ndst = entry.DestinationCount;
        if (nsrc == 0 || nsrc + ndst > _layout.MaxSegments || (inPlace ? ndst != 0 : ndst == 0))
        {
            return DeviceStatus.BadSegments;
        }

        ReadOnlySpan<DmaSegment> segments = _segments;
        int srcRuns = 0;
        int outside = 0;
        DeviceStatus status = Translate(segments[..nsrc], write: inPlace, _srcRuns, ref srcRuns, length, entry.Requester, ref outside);
        if (status != DeviceStatus.Ok)
        {
            return status;
        }

        int dstRuns = 0;
        if (inPlace)
        {
            Array.Copy(_srcRuns, _dstRuns, srcRuns);
            dstRuns = srcRuns;
        }
        else
        {
            status = Translate(segments.Slice(nsrc, ndst), write: true, _dstRuns, ref dstRuns, length, entry.Requester, ref outside);
            if (status != DeviceStatus.Ok)
            {
                return status;
            }

            if (!SameRuns(srcRuns, dstRuns) && AnyOverlap(srcRuns, dstRuns))
            {
                return DeviceStatus.Overlap;
            }
        }

        // Counted once the request is certain to run: a refused request touched nothing.
        DmaSegments += nsrc + ndst;
        DmaSegmentsOutsideGrants += outside;

        if (srcRuns == 1 && dstRuns == 1)
        {
            _jobPending[_jobCount] = slot;
            _jobs[_jobCount++] = new DesJob(session.Key, session.Mode, session.Direction, _srcRuns[0].Host, _dstRuns[0].Host, (int)length, entry.Iv);
            return DeviceStatus.Ok;
        }

        Scattered++;
        return RunScattered(session, entry.Iv, srcRuns, dstRuns, (int)length);
    }

    /// <summary>
    /// Translates <paramref name="segments"/> into host runs; counts in <paramref name="outside"/>
    /// the segments that leave the requester's own memory (another domain, or for a guest a
    /// frame not mapped from its grant): one domain comparison and one flag test per frame.
    /// </summary>
    private DeviceStatus Translate(ReadOnlySpan<DmaSegment> segments, bool write, Run[] runs, ref int count, uint expected, ushort requester, ref int outside)
    {
        ulong total = 0;
        foreach (DmaSegment seg in segments)
        {
            bool foreign = seg.Domain != requester;
            if (seg.Offset >= DmaRegistry.FrameSize || seg.Length == 0 || seg.Length > MaxLength)
            {
                return DeviceStatus.BadSegments;
            }

            total += seg.Length;
            if (total > expected)
            {
                return DeviceStatus.BadSegments;
            }

            uint frame = seg.Frame;
            uint offset = seg.Offset;
            uint remaining = seg.Length;
            while (remaining != 0)
            {
                if (!_dma.TryTranslate(seg.Domain, frame, write, out byte* host, out bool granted))
                {
                    return DeviceStatus.DmaFault;
                }

                foreign |= requester != 0 && !granted;

                uint chunk = Math.Min(DmaRegistry.FrameSize - offset, remaining);
                byte* p = host + offset;
                if (count > 0 && runs[count - 1].Host + runs[count - 1].Length == p)
                {
                    runs[count - 1].Length += (int)chunk;
                }
                else
                {
                    if (count == MaxRuns)
                    {
                        return DeviceStatus.BadSegments;
                    }

                    runs[count++] = new Run { Host = p, Length = (int)chunk };
                }

                remaining -= chunk;
                offset = 0;
                if (remaining != 0 && ++frame == 0)
                {
                    return DeviceStatus.BadSegments; // frame number wrapped
                }
            }

            if (foreign)
            {
                outside++;
            }
        }

        return total == expected ? DeviceStatus.Ok : DeviceStatus.BadSegments;
    }

    private bool SameRuns(int srcCount, int dstCount)
    {
        if (srcCount != dstCount)
        {
            return false;
        }

        for (int i = 0; i < srcCount; i++)
        {
            if (_srcRuns[i].Host != _dstRuns[i].Host || _srcRuns[i].Length != _dstRuns[i].Length)
            {
                return false;
            }
        }

        return true;
    }

    private bool AnyOverlap(int srcCount, int dstCount)
    {
        for (int i = 0; i < srcCount; i++)
        {
            byte* a = _srcRuns[i].Host;
            byte* aEnd = a + _srcRuns[i].Length;
            for (int j = 0; j < dstCount; j++)
            {
                byte* b = _dstRuns[j].Host;
                if (a < b + _dstRuns[j].Length && b < aEnd)
                {
                    return true;
                }
            }
        }

        return false;
    }

    private void Execute()
    {
        if (_jobCount == 0)
        {
            return;
        }

        // Test-only (TOLAPAI_TEST_FAULTS): a slower engine takes longer over the same batch.
        long faultStart = TestFaults.SlowEngine != 1 ? System.Diagnostics.Stopwatch.GetTimestamp() : 0;
        try
        {
            DesCipher.RunBatch(_jobs.AsSpan(0, _jobCount));
        }
        catch (ArgumentException)
        {
            // Checked above, so not expected; the requests fail rather than the engine.
            for (int j = 0; j < _jobCount; j++)
            {
                _pending[_jobPending[j]].Status = DeviceStatus.EngineError;
            }
        }
        catch (ObjectDisposedException)
        {
            for (int j = 0; j < _jobCount; j++)
            {
                _pending[_jobPending[j]].Status = DeviceStatus.EngineError;
            }
        }

        // Drop the key references so a destroyed session's schedule is not kept alive here.
        Array.Clear(_jobs, 0, _jobCount);
        if (TestFaults.SlowEngine != 1)
        {
            TestFaults.Burn(faultStart, TestFaults.SlowEngine);
        }
    }

    private void Respond(int n)
    {
        byte* dev = _region.DeviceView;
        uint mask = (uint)_layout.Entries - 1;
        for (int k = 0; k < n; k++)
        {
            ref Pending pd = ref _pending[k];
            byte* rsp = dev + _layout.PairOffset(pd.Pair) + _layout.ResponseEntries + ((pd.Index & mask) * ResponseEntry.Size);
            *(ulong*)(rsp + 8) = pd.Tag;

            // Release: the tag (and the data the engine wrote by DMA) before sequence+status.
            Volatile.Write(ref *(ulong*)rsp, (pd.Index + 1) | ((ulong)(uint)(int)pd.Status << 32));
            _touched[pd.Pair] = true;
            if (pd.Status != DeviceStatus.Ok)
            {
                Errors++;
            }
        }

        Requests += n;
        Batches++;

        // Full fence: responses are visible before we read each driver's "armed" word (the
        // driver arms, fences, then re-checks the response slot).
        Interlocked.MemoryBarrier();
        for (int p = 0; p < _touched.Length; p++)
        {
            if (_touched[p])
            {
                _touched[p] = false;
                _device.RaiseInterrupt(p);
            }
        }
    }

    private struct Pending
    {
        public int Pair;
        public uint Index;
        public ulong Tag;
        public DeviceStatus Status;
    }

    internal struct Run
    {
        public byte* Host;
        public int Length;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private DeviceStatus RunScattered(DeviceSession session, ulong iv, int srcCount, int dstCount, int length)
    {
        Span<byte> ivBytes = stackalloc byte[8];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64BigEndian(ivBytes, iv);
        Span<byte> block = stackalloc byte[8];
        int si = 0, so = 0, di = 0, dOff = 0;
        int remaining = length;
        try
        {
            while (remaining > 0)
            {
                int sAvail = _srcRuns[si].Length - so;
                int dAvail = _dstRuns[di].Length - dOff;
                int piece = Math.Min(Math.Min(sAvail, dAvail), remaining);
                int whole = piece == remaining ? piece : piece & ~7;
                if (session.Mode != CipherMode.Ctr)
                {
                    whole = piece & ~7;
                }

                if (whole > 0)
                {
                    DesCipher.Transform(session.Key, session.Mode, session.Direction, ivBytes,
                        new ReadOnlySpan<byte>(_srcRuns[si].Host + so, whole), new Span<byte>(_dstRuns[di].Host + dOff, whole));
                    Advance(_srcRuns, ref si, ref so, whole, srcCount);
                    Advance(_dstRuns, ref di, ref dOff, whole, dstCount);
                    remaining -= whole;
                    continue;
                }

                // A block straddles a run boundary: gather it, cipher it, scatter it.
                int blk = Math.Min(8, remaining);
                Span<byte> b = block[..blk];
                int ts = si, tso = so;
                for (int i = 0; i < blk; i++)
                {
                    b[i] = _srcRuns[ts].Host[tso];
                    Advance(_srcRuns, ref ts, ref tso, 1, srcCount);
                }

                DesCipher.Transform(session.Key, session.Mode, session.Direction, ivBytes, b, b);
                BounceBytes += 2 * blk; // gathered in, scattered out
                for (int i = 0; i < blk; i++)
                {
                    _dstRuns[di].Host[dOff] = b[i];
                    Advance(_dstRuns, ref di, ref dOff, 1, dstCount);
                }

                si = ts;
                so = tso;
                remaining -= blk;
            }
        }
        catch (ObjectDisposedException)
        {
            return DeviceStatus.EngineError;
        }
        finally
        {
            block.Clear();
        }

        return DeviceStatus.Ok;
    }

    private static void Advance(Run[] runs, ref int index, ref int offset, int by, int count)
    {
        offset += by;
        while (index < count - 1 && offset >= runs[index].Length)
        {
            offset -= runs[index].Length;
            index++;
        }
    }
}
