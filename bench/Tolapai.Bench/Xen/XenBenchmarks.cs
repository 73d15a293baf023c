using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using Tolapai.Xen.GrantTable;
using Tolapai.Xen.Hypervisor;
using Tolapai.Xen.Memory;
using Tolapai.Xen.Ring;

namespace Tolapai.Bench.Xen;

/// <summary>A 64-byte ring entry for the benchmarks.</summary>
[StructLayout(LayoutKind.Explicit, Size = 64)]
public struct BenchEntry
{
    /// <summary>Request id.</summary>
    [FieldOffset(0)] public ulong Id;
}

/// <summary>
/// Ring operations in one process (no cross-core traffic): the cost of the ring protocol
/// itself, against a plain 64-byte copy in and out of a slot. Cross-process numbers are
/// `perf ring`'s.
/// </summary>
[MemoryDiagnoser]
[BenchmarkCategory("xen-ring")]
public unsafe class RingBenchmarks
{
    private byte* _page;
    private FrontRing<BenchEntry, BenchEntry> _front = null!;
    private BackRing<BenchEntry, BenchEntry> _back = null!;

    /// <summary>One page, SHARED_RING_INIT, both views attached.</summary>
    [GlobalSetup]
    public void Setup()
    {
        _page = (byte*)NativeMemory.AlignedAlloc(4096, 4096);
        SharedRing.Initialize(_page);
        _front = new FrontRing<BenchEntry, BenchEntry>(_page, 4096);
        _back = new BackRing<BenchEntry, BenchEntry>(_page, 4096);
    }

    /// <summary>Frees the page.</summary>
    [GlobalCleanup]
    public void Cleanup() => NativeMemory.AlignedFree(_page);

    /// <summary>The floor: copy an entry into a slot and out again.</summary>
    [Benchmark(Baseline = true)]
    public ulong CopyInAndOut()
    {
        BenchEntry e = new() { Id = 7 };
        Unsafe.WriteUnaligned(_page + 64, e);
        return Unsafe.ReadUnaligned<BenchEntry>(_page + 64).Id;
    }

    /// <summary>One request and its response: write, push+check, take, respond, push+check, take.</summary>
    [Benchmark]
    public ulong RequestAndResponse()
    {
        _front.TryWriteRequest(new BenchEntry { Id = 1 });
        _front.PushRequestsAndCheckNotify();
        _back.TryTakeRequest(out BenchEntry req);
        _back.TryWriteResponse(req);
        _back.PushResponsesAndCheckNotify();
        _front.TryTakeResponse(out BenchEntry rsp);
        return rsp.Id;
    }

    /// <summary>32 requests and responses per push (a full ring), per entry.</summary>
    [Benchmark(OperationsPerInvoke = 32)]
    public ulong BatchOf32()
    {
        ulong sum = 0;
        for (ulong i = 0; i < 32; i++)
        {
            _front.TryWriteRequest(new BenchEntry { Id = i });
        }

        _front.PushRequestsAndCheckNotify();
        while (_back.TryTakeRequest(out BenchEntry req) == RingStatus.Ok)
        {
            _back.TryWriteResponse(req);
        }

        _back.PushResponsesAndCheckNotify();
        while (_front.TryTakeResponse(out BenchEntry rsp) == RingStatus.Ok)
        {
            sum += rsp.Id;
        }

        return sum;
    }
}

/// <summary>Grant map/unmap (per-request mapping) against grant copy of 64 bytes and a persistent mapping's plain access.</summary>
[MemoryDiagnoser]
[BenchmarkCategory("xen-grant")]
public unsafe class GrantBenchmarks
{
    private Host _host = null!;
    private string _dir = null!;
    private GrantMapper _mapper = null!;
    private GrantMapping _persistent;
    private uint _gref;
    private readonly byte[] _buffer = new byte[64];

    /// <summary>A host with dom0 and dom1 (both this process), one page granted.</summary>
    [GlobalSetup]
    public void Setup()
    {
        _dir = Path.Combine(Host.DefaultRoot, "tolapai-bench-" + Guid.NewGuid().ToString("N")[..12]);
        _host = Host.Create(_dir);
        _host.CreateDomain(0, 2, 1);
        _host.CreateDomain(1, 4, 1);
        GuestMemory mem = _host.MapGuestMemory(1)!;
        new GrantTableFrontend(mem).GrantForeignAccess(0, mem.FirstDataFrame, readOnly: false, out _gref);
        _mapper = new GrantMapper(_host, 0);
        _mapper.Map(1, _gref, readOnly: false, out _persistent);
    }

    /// <summary>Removes the run directory.</summary>
    [GlobalCleanup]
    public void Cleanup()
    {
        _mapper.Unmap(_persistent);
        _host.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    /// <summary>A persistent grant: the page is already mapped; read 64 bytes.</summary>
    [Benchmark(Baseline = true)]
    public byte PersistentRead64()
    {
        _persistent.ReadOnlySpan[..64].CopyTo(_buffer);
        return _buffer[0];
    }

    /// <summary>Map, read 64 bytes, unmap: what persistent grants avoid.</summary>
    [Benchmark]
    public byte MapReadUnmap()
    {
        _mapper.Map(1, _gref, readOnly: true, out GrantMapping m);
        m.ReadOnlySpan[..64].CopyTo(_buffer);
        _mapper.Unmap(m);
        return _buffer[0];
    }

    /// <summary>GNTTABOP_copy of 64 bytes.</summary>
    [Benchmark]
    public byte GrantCopy64()
    {
        _mapper.CopyFrom(1, _gref, 0, _buffer);
        return _buffer[0];
    }
}
