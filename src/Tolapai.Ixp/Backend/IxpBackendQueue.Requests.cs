using Tolapai.Ixp.Protocol;
using Tolapai.Xen.GrantTable;
using Tolapai.Xen.Memory;

namespace Tolapai.Ixp.Backend;

public sealed unsafe partial class IxpBackendQueue
{
    /// <summary>
    /// Validates the backend's own copy of a request (rule 1) and maps what it names (rule 3).
    /// Okay with <paramref name="submit"/> = the request goes to the driver; Okay without = it
    /// is done (session operations); any other status is the response, with nothing written
    /// to the guest's pages.
    /// </summary>
    private IxpStatus Prepare(ref IxpRequest req, Pending p, out bool submit)
    {
        submit = false;
        if (req.Handle != 0 || req.Pad != 0)
        {
            return _device.Refuse(IxpStatus.Error, $"handle {req.Handle} / pad {req.Pad} must be 0");
        }

        bool sessions = _device.Backend.Options.Sessions;
        switch ((IxpOperation)req.Operation)
        {
            case IxpOperation.DesEncryptV1:
            case IxpOperation.DesDecryptV1:
                submit = true;
                return PrepareV1(ref req, p);
            case IxpOperation.SessionCreate when sessions:
                return _device.CreateSession(req.BodyAs<IxpSessionCreateBody>());
            case IxpOperation.SessionDestroy when sessions:
                return _device.DestroySession(req.BodyAs<IxpSessionDestroyBody>().Session);
            case IxpOperation.Cipher when sessions:
                submit = true;
                return PrepareCipher(ref req, p, indirect: false);
            case IxpOperation.CipherIndirect when sessions && _device.Backend.Features.MaxIndirectSegments > 0:
                submit = true;
                return PrepareCipher(ref req, p, indirect: true);
            default:
                return _device.Refuse(IxpStatus.NotSupported, $"operation {req.Operation}");
        }
    }

    private IxpStatus PrepareV1(ref IxpRequest req, Pending p)
    {
        if (req.NrSegments != 1)
        {
            return _device.Refuse(IxpStatus.Error, $"v1 takes one parameter page, not {req.NrSegments}");
        }

        IxpSegment page = new() { Gref = req.BodyAs<IxpV1Body>().Gref0, Offset = 0, Length = GuestMemory.PageSize };
        IxpStatus st = _device.MapSegment(page, write: true, out p.Source[0]);
        if (st != IxpStatus.Okay)
        {
            return st;
        }

        p.NrSrc = 1;
        // Rule 1: the header is copied out of the guest's page once; only the copy is checked and used.
        DesRequestV1 h = *(DesRequestV1*)p.Source[0].Address;
        _device.Backend.CountControlCopy(DesRequestV1.HeaderSize);
        if (h.KeySize != 8 || h.IvSize is not (0 or 8) || h.MessageSize == 0 || h.MessageSize > DesRequestV1.MaxMessage || (h.MessageSize & 7) != 0)
        {
            return _device.Refuse(IxpStatus.Error, $"des_request key {h.KeySize} iv {h.IvSize} msg {h.MessageSize}");
        }

        IxpAlgorithm alg = h.IvSize == 0 ? IxpAlgorithm.DesEcb : IxpAlgorithm.DesCbc;
        IxpDirection dir = req.Operation == (byte)IxpOperation.DesEncryptV1 ? IxpDirection.Encrypt : IxpDirection.Decrypt;
        ulong key = h.Key;
        object? session = _device.Backend.Driver.CreateSession(alg, dir, new ReadOnlySpan<byte>(&key, 8), out IxpStatus ss);
        key = 0;
        if (session is null)
        {
            return _device.Refuse(ss, "the driver refused the v1 key");
        }

        p.DriverSession = session;
        p.Session = session;
        p.Algorithm = alg;
        ulong iv = h.Iv;
        new ReadOnlySpan<byte>(&iv, 8).CopyTo(p.Iv);
        // The message is ciphered where it is, in the guest's page: the parameter page's msg.
        ref MappedSegment m = ref p.Source[0];
        m.Address += DesRequestV1.MessageOffset;
        m.Offset = DesRequestV1.MessageOffset;
        m.Length = h.MessageSize;
        p.Length = h.MessageSize;
        return IxpStatus.Okay;
    }

    private IxpStatus PrepareCipher(ref IxpRequest req, Pending p, bool indirect)
    {
        // Both bodies share the first 32 bytes: session, counts, IV, length.
        ref IxpCipherBody b = ref req.BodyAs<IxpCipherBody>();
        int nrSrc = b.NrSrc, nrDst = b.NrDst, total = nrSrc + nrDst;
        uint length = b.MessageLength;
        if (nrSrc < 1)
        {
            return _device.Refuse(IxpStatus.Error, "no source segment");
        }

        if (!indirect)
        {
            if (total != req.NrSegments || total > IxpCipherBody.MaxSegments)
            {
                return _device.Refuse(IxpStatus.Error, $"nr_segments {req.NrSegments} vs src {nrSrc} + dst {nrDst} (max {IxpCipherBody.MaxSegments})");
            }

            b.Segments[..total].CopyTo(p.Segments);
        }
        else
        {
            int pages = (total + IxpSegment.PerPage - 1) / IxpSegment.PerPage;
            int max = _device.Backend.Features.MaxIndirectSegments;
            if (total > max || req.NrSegments != pages)
            {
                return _device.Refuse(IxpStatus.Error, $"indirect: {total} segments in {req.NrSegments} pages (max {max})");
            }

            ReadOnlySpan<uint> grefs = req.BodyAs<IxpCipherIndirectBody>().IndirectGrefs;
            for (int pg = 0; pg < pages; pg++)
            {
                IxpStatus st = _device.MapPage(grefs[pg], write: false, out GrantMapping map);
                if (st != IxpStatus.Okay)
                {
                    return st;
                }

                // Rule 1: the segments are copied out once; the page is unmapped at once.
                int count = Math.Min(IxpSegment.PerPage, total - (pg * IxpSegment.PerPage));
                new ReadOnlySpan<IxpSegment>(map.Address, count).CopyTo(p.Segments.AsSpan(pg * IxpSegment.PerPage));
                _device.Backend.CountControlCopy(count * IxpSegment.Size);
                _device.UnmapPage(map.Handle);
            }
        }

        object? session = _device.AcquireSession(b.Session, out IxpAlgorithm alg);
        if (session is null)
        {
            return _device.Refuse(IxpStatus.NoSession, $"session slot {b.Session}");
        }

        p.SessionSlot = (int)b.Session;
        p.Session = session;
        p.Algorithm = alg;
        if (length == 0 || length % (uint)IxpKeys.BlockSize(alg) != 0)
        {
            return _device.Refuse(IxpStatus.Error, $"msg_len {length} for {IxpKeys.Name(alg)}");
        }

        ulong srcBytes = 0, dstBytes = 0;
        for (int i = 0; i < total; i++)
        {
            if (i < nrSrc)
            {
                srcBytes += p.Segments[i].Length;
            }
            else
            {
                dstBytes += p.Segments[i].Length;
            }
        }

        if (srcBytes != length || (nrDst > 0 && dstBytes != length))
        {
            return _device.Refuse(IxpStatus.Error, $"segments hold {srcBytes}/{dstBytes} bytes, msg_len is {length}");
        }

        b.IvBytesSpan.CopyTo(p.Iv);
        bool inPlace = nrDst == 0;
        for (int i = 0; i < nrSrc; i++)
        {
            IxpStatus st = _device.MapSegment(p.Segments[i], write: inPlace, out p.Source[i]);
            if (st != IxpStatus.Okay)
            {
                return st;
            }

            p.NrSrc = i + 1;
        }

        for (int i = 0; i < nrDst; i++)
        {
            IxpStatus st = _device.MapSegment(p.Segments[nrSrc + i], write: true, out p.Destination[i]);
            if (st != IxpStatus.Okay)
            {
                return st;
            }

            p.NrDst = i + 1;
        }

        p.Length = length;
        return IxpStatus.Okay;
    }
}
