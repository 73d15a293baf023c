using System.Security.Cryptography;
using Tolapai.Cpa;
using Tolapai.Device.Dma;
using Tolapai.Ixp.Protocol;

namespace Tolapai.Ixp.Backend;

/// <summary>The driver's machine-address entry (NativeCyInstance.PerformOpMachine).</summary>
internal delegate CpaStatus MachineSubmit(object? callbackTag, CySymSession session, ReadOnlySpan<byte> iv, ReadOnlySpan<DmaSegment> source, ReadOnlySpan<DmaSegment> destination);

/// <summary>
/// The backend's view of one CPA driver instance: sessions, DMA registration of mapped guest
/// frames, submission by machine address, polling. One worker thread uses it (the CPA rule:
/// one submitting and one polling thread per instance).
/// </summary>
internal sealed class IxpDriver
{
    private static readonly SymCallback Completed = OnCompleted;
    private readonly ICySymInstance _instance;
    private readonly DmaRegistry _dma;
    private readonly MachineSubmit _submit;
    private readonly bool _polling;

    public IxpDriver(ICySymInstance instance, DmaRegistry dma, MachineSubmit submit, int maxSegments)
    {
        _instance = instance;
        _dma = dma;
        _submit = submit;
        MaxSegments = maxSegments;
        _polling = instance.CompletionMode == CompletionMode.Polling;
    }

    /// <summary>Source + destination segments per submission.</summary>
    public int MaxSegments { get; }

    /// <summary>Algorithms served (every one the CPA API names).</summary>
    public IReadOnlyList<IxpAlgorithm> Algorithms { get; } =
        [IxpAlgorithm.DesEcb, IxpAlgorithm.DesCbc, IxpAlgorithm.TripleDesEcb, IxpAlgorithm.TripleDesCbc, IxpAlgorithm.TripleDesCtr];

    public ICySymInstance Instance => _instance;

    public unsafe void RegisterFrame(ushort domain, uint frame, byte* page, bool writable) => _dma.Register(domain, frame, 1, page, writable);

    public void UnregisterFrame(ushort domain, uint frame) => _ = _dma.Unregister(domain, frame, 1);

    public object? CreateSession(IxpAlgorithm algorithm, IxpDirection direction, ReadOnlySpan<byte> key, out IxpStatus status)
    {
        byte[] copy = key.ToArray();
        try
        {
            CpaStatus st = _instance.InitSession(new SymSessionSetupData((SymCipherAlgorithm)algorithm, (SymCipherDirection)direction, copy), Completed, out CySymSession? session);
            status = st switch
            {
                CpaStatus.Success => IxpStatus.Okay,
                CpaStatus.InvalidParam => IxpStatus.Error,
                CpaStatus.Unsupported => IxpStatus.NotSupported,
                CpaStatus.Resource or CpaStatus.Retry => IxpStatus.Busy,
                _ => IxpStatus.DeviceError,
            };
            return session;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(copy);
        }
    }

    public void RemoveSession(object session) => _ = _instance.RemoveSession((CySymSession)session);

    /// <summary>Submits a prepared request: Okay (a completion follows), Busy (driver ring full: try again), or an error status.</summary>
    public IxpStatus Submit(Pending p)
    {
        int total = p.NrSrc + p.NrDst;
        if (total > MaxSegments)
        {
            return IxpStatus.Error;
        }

        Span<DmaSegment> segs = stackalloc DmaSegment[MaxSegments];
        ushort dom = p.Queue.Device.FrontendId;
        for (int i = 0; i < p.NrSrc; i++)
        {
            ref MappedSegment m = ref p.Source[i];
            segs[i] = new DmaSegment(dom, m.Frame, m.Offset, m.Length);
        }

        for (int i = 0; i < p.NrDst; i++)
        {
            ref MappedSegment m = ref p.Destination[i];
            segs[p.NrSrc + i] = new DmaSegment(dom, m.Frame, m.Offset, m.Length);
        }

        ReadOnlySpan<byte> iv = p.Algorithm is IxpAlgorithm.DesEcb or IxpAlgorithm.TripleDesEcb ? default : p.Iv.AsSpan(0, 8);
        CpaStatus st = _submit(p, (CySymSession)p.Session!, iv, segs[..p.NrSrc], segs.Slice(p.NrSrc, p.NrDst));
        return st switch
        {
            CpaStatus.Success => IxpStatus.Okay,
            CpaStatus.Retry => IxpStatus.Busy,
            CpaStatus.InvalidParam => IxpStatus.Error,
            CpaStatus.Unsupported => IxpStatus.NotSupported,
            _ => IxpStatus.DeviceError,
        };
    }

    /// <summary>Delivers the driver's completions (polling mode; in interrupt mode they arrive by themselves).</summary>
    public void Poll()
    {
        if (_polling)
        {
            _ = _instance.Poll(0, out _);
        }
    }

    private static void OnCompleted(object? tag, CpaStatus status, BufferList? destination)
    {
        if (tag is Pending p)
        {
            p.Queue.OnDriverComplete(p, status == CpaStatus.Success ? IxpStatus.Okay : IxpStatus.DeviceError);
        }
    }
}
