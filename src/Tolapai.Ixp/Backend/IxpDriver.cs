using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using Tolapai.Cpa;
using Tolapai.Device.Dma;
using Tolapai.Faults;
using Tolapai.Ixp.Protocol;

namespace Tolapai.Ixp.Backend;

/// <summary>The driver's machine-address entry (NativeCyInstance.PerformOpMachine).</summary>
internal delegate CpaStatus MachineSubmit(object? callbackTag, ushort requester, CySymSession session, ReadOnlySpan<byte> iv, ReadOnlySpan<DmaSegment> source, ReadOnlySpan<DmaSegment> destination);

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

    /// <summary>Registers a guest frame the backend mapped from that guest's grant (marked granted: the device's zero-copy check looks for the mark).</summary>
    public unsafe void RegisterFrame(ushort domain, uint frame, byte* page, bool writable) => _dma.Register(domain, frame, 1, page, writable, granted: true);

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
        if (TestFaults.CopyBackend)
        {
            return SubmitStaged(p);
        }

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
        CpaStatus st = _submit(p, dom, (CySymSession)p.Session!, iv, segs[..p.NrSrc], segs.Slice(p.NrSrc, p.NrDst));
        return Translate(st);
    }

    private static IxpStatus Translate(CpaStatus st) =>
        st switch
        {
            CpaStatus.Success => IxpStatus.Okay,
            CpaStatus.Retry => IxpStatus.Busy,
            CpaStatus.InvalidParam => IxpStatus.Error,
            CpaStatus.Unsupported => IxpStatus.NotSupported,
            _ => IxpStatus.DeviceError,
        };

    /// <summary>
    /// The <c>copy-backend</c> test fault: what a backend that copies looks like. The payload is
    /// copied from the guest's mapped source segments into a dom0 buffer of the backend's own
    /// (allocated from the driver, so its frames are dom0 DMA memory registered with the device),
    /// ciphered there in place, and copied out at completion (<see cref="CopyOutStaged"/>). Results
    /// stay correct; both copies are counted in <see cref="IxpBackend.PayloadBytesCopied"/>, and
    /// the device sees segments outside the guest's grants. A request the driver refused with
    /// Retry keeps its staged copy for the next try.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private unsafe IxpStatus SubmitStaged(Pending p)
    {
        int length = (int)p.Length;
        if (!p.Staged)
        {
            if (p.Staging is not { } staging || staging[0].Capacity < length)
            {
                FreeStaging(p);
                // Whole pages, so a later request of up to the same size reuses the buffer.
                int bytes = (length + DmaRegistry.FrameSize - 1) & ~(DmaRegistry.FrameSize - 1);
                if (_instance.AllocateBufferList([bytes], out BufferList? list) != CpaStatus.Success)
                {
                    return IxpStatus.DeviceError;
                }

                p.Staging = list;
            }

            byte* to = p.Staging![0].Data;
            for (int i = 0; i < p.NrSrc; i++)
            {
                ref MappedSegment m = ref p.Source[i];
                Buffer.MemoryCopy(m.Address, to, m.Length, m.Length);
                to += m.Length;
            }

            p.Queue.Device.Backend.CountPayloadCopy(length);
            p.Staged = true;
        }

        Span<DmaSegment> segs = stackalloc DmaSegment[MaxSegments];
        int n = p.Staging![0].GetSegments(0, length, segs);
        if (n <= 0)
        {
            return IxpStatus.Error;
        }

        ReadOnlySpan<byte> iv = p.Algorithm is IxpAlgorithm.DesEcb or IxpAlgorithm.TripleDesEcb ? default : p.Iv.AsSpan(0, 8);
        return Translate(_submit(p, p.Queue.Device.FrontendId, (CySymSession)p.Session!, iv, segs[..n], default));
    }

    /// <summary>The <c>copy-backend</c> fault's second copy: the ciphered bytes from the staging buffer to the guest's destination (its source when in place). Counted.</summary>
    public unsafe void CopyOutStaged(Pending p)
    {
        byte* from = p.Staging![0].Data;
        ReadOnlySpan<MappedSegment> to = p.NrDst > 0 ? p.Destination.AsSpan(0, p.NrDst) : p.Source.AsSpan(0, p.NrSrc);
        foreach (MappedSegment m in to)
        {
            Buffer.MemoryCopy(from, m.Address, m.Length, m.Length);
            from += m.Length;
        }

        p.Queue.Device.Backend.CountPayloadCopy((int)p.Length);
    }

    /// <summary>Returns a request's staging buffer (the <c>copy-backend</c> fault) to the driver; nothing of it may be at the device.</summary>
    public void FreeStaging(Pending p)
    {
        if (p.Staging is { } list)
        {
            // Guest plaintext or ciphertext in dom0 memory: cleared before the memory goes (rule 11).
            p.Staging = null;
            CryptographicOperations.ZeroMemory(list[0].Span);
            _ = _instance.FreeBufferList(list);
        }
    }

    /// <summary>Delivers the driver's completions (polling mode; in interrupt mode they arrive by themselves) and returns how many it delivered.</summary>
    public int Poll()
    {
        if (!_polling)
        {
            return 0;
        }

        _ = _instance.Poll(0, out int delivered);
        return delivered;
    }

    private static void OnCompleted(object? tag, CpaStatus status, BufferList? destination)
    {
        if (tag is Pending p)
        {
            p.Queue.OnDriverComplete(p, status == CpaStatus.Success ? IxpStatus.Okay : IxpStatus.DeviceError);
        }
    }
}
