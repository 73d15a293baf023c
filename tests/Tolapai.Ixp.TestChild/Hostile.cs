using System.Diagnostics;
using Tolapai.Cpa;
using Tolapai.Ixp.Frontend;
using Tolapai.Ixp.Protocol;
using Tolapai.Xen.GrantTable;
using Tolapai.Xen.Ring;
using static Tolapai.Ixp.TestChild.Program;

namespace Tolapai.Ixp.TestChild;

/// <summary>A guest that breaks the protocol on purpose (DESIGN.md §8).</summary>
internal static unsafe class Hostile
{
    private static IxpStatus s_last;
    private static int s_done;

    private static void Handler(ulong tag, IxpStatus status, uint size)
    {
        s_last = status;
        s_done++;
    }

    private static IxpStatus Send(IxpFrontendQueue q, IxpRequest r)
    {
        int before = s_done;
        Check(q.SubmitRaw(r, 7) >= 0, "raw submit");
        Stopwatch sw = Stopwatch.StartNew();
        while (s_done == before)
        {
            if (q.Poll() == 0)
            {
                _ = q.WaitForResponses(1000, TimeSpan.FromMilliseconds(10));
            }

            Check(sw.Elapsed < TimeSpan.FromSeconds(10), "no response");
        }

        return s_last;
    }

    private static IxpRequest Cipher(uint session, uint length, params IxpSegment[] segs)
    {
        IxpRequest r = default;
        r.Operation = (byte)IxpOperation.Cipher;
        r.NrSegments = (byte)segs.Length;
        ref IxpCipherBody b = ref r.BodyAs<IxpCipherBody>();
        b.Session = session;
        b.NrSrc = (ushort)Math.Min(segs.Length, 1);
        b.NrDst = (ushort)Math.Max(segs.Length - 1, 0);
        b.MessageLength = length;
        segs.CopyTo(b.Segments);
        return r;
    }

    /// <summary>Garbage opcodes, counts, lengths; grants out of range, not granted, granted to another domain, revoked, read-only for output; sessions that are not there. Each gets its error status; then a good request works.</summary>
    public static int Requests(IxpFrontend front, string group)
    {
        IxpFrontendQueue q = front.Queues[0];
        q.Handler = Handler;
        GrantTableFrontend gt = front.Grants;
        uint frame = front.Pages.Allocate(), frame2 = front.Pages.Allocate();
        Check(gt.GrantForeignAccess(front.BackendId, frame, readOnly: false, out uint good) == GrantStatus.Okay, "grant");
        Check(gt.GrantForeignAccess(front.BackendId, frame2, readOnly: true, out uint readOnlyRef) == GrantStatus.Okay, "grant ro");
        Check(gt.GrantForeignAccess(5, frame2, readOnly: false, out uint otherDomain) == GrantStatus.Okay, "grant to dom5");
        Check(gt.GrantForeignAccess(front.BackendId, frame2, readOnly: false, out uint revoked) == GrantStatus.Okay && gt.EndForeignAccess(revoked), "revoke");
        IxpSessionCreateBody sc = default;
        sc.Session = 3;
        sc.Algorithm = (byte)IxpAlgorithm.TripleDesCbc;
        sc.KeyLength = 24;
        IxpRequest create = default;
        create.Operation = (byte)IxpOperation.SessionCreate;
        create.BodyAs<IxpSessionCreateBody>() = sc;
        Check(Send(q, create) == IxpStatus.Okay, "session create");
        Check(Send(q, create) == IxpStatus.Error, "session slot in use");

        IxpSegment Seg(uint gref, ushort off = 0, ushort len = 64) => new() { Gref = gref, Offset = off, Length = len };
        var all = new (string Group, string Name, IxpRequest Request, IxpStatus Expected)[]
        {
            ("opcodes", "opcode 99", new IxpRequest { Operation = 99 }, IxpStatus.NotSupported),
            ("opcodes", "opcode 0", new IxpRequest { Operation = 0 }, IxpStatus.NotSupported),
            ("opcodes", "handle 7", new IxpRequest { Operation = (byte)IxpOperation.Cipher, Handle = 7 }, IxpStatus.Error),
            ("counts", "nr_segments 200", Cipher(3, 64, Seg(good)) with { NrSegments = 200 }, IxpStatus.Error),
            ("counts", "no source", Cipher(3, 64), IxpStatus.Error),
            ("counts", "indirect with 0 pages", Cipher(3, 64, Seg(good)) with { Operation = (byte)IxpOperation.CipherIndirect, NrSegments = 0 }, IxpStatus.Error),
            ("lengths", "segment length 0", Cipher(3, 64, Seg(good, 0, 0)), IxpStatus.Error),
            ("lengths", "segment past the page", Cipher(3, 64, Seg(good, 4090, 64)), IxpStatus.Error),
            ("lengths", "msg_len mismatch", Cipher(3, 128, Seg(good)), IxpStatus.Error),
            ("lengths", "msg_len not whole blocks", Cipher(3, 60, Seg(good, 0, 60)), IxpStatus.Error),
            ("grant-range", "grant out of range", Cipher(3, 64, Seg(999_999)), IxpStatus.BadGrant),
            ("grant-range", "grant never made", Cipher(3, 64, Seg(gt.Capacity - 1)), IxpStatus.BadGrant),
            ("grant-foreign", "grant to another domain", Cipher(3, 64, Seg(otherDomain)), IxpStatus.BadGrant),
            ("grant-revoked", "revoked grant", Cipher(3, 64, Seg(revoked)), IxpStatus.BadGrant),
            ("grant-readonly", "read-only grant written in place", Cipher(3, 64, Seg(readOnlyRef)), IxpStatus.BadGrant),
            ("grant-readonly", "read-only grant as destination", Cipher(3, 64, Seg(good), Seg(readOnlyRef)), IxpStatus.BadGrant),
            ("sessions", "session never made", Cipher(9, 64, Seg(good)), IxpStatus.NoSession),
            ("sessions", "session slot out of range", Cipher(70_000, 64, Seg(good)), IxpStatus.NoSession),
            ("sessions", "destroy a session never made", new IxpRequest { Operation = (byte)IxpOperation.SessionDestroy }, IxpStatus.NoSession),
            ("v1", "v1 with two pages", new IxpRequest { Operation = (byte)IxpOperation.DesEncryptV1, NrSegments = 2 }, IxpStatus.Error),
            ("v1", "v1 page not granted", new IxpRequest { Operation = (byte)IxpOperation.DesEncryptV1, NrSegments = 1 }, IxpStatus.BadGrant),
        };
        var cases = all.Where(c => c.Group == group).Select(c => (c.Name, c.Request, c.Expected)).ToArray();
        Check(cases.Length > 0, $"no case group '{group}'");

        byte[] before = front.Pages.Memory.Page(frame2).ToArray();
        foreach ((string name, IxpRequest request, IxpStatus expected) in cases)
        {
            IxpStatus got = Send(q, request);
            Check(got == expected, $"{name}: {got}, expected {expected}");
        }

        Check(front.Pages.Memory.Page(frame2).SequenceEqual(before), "refused requests wrote nothing");
        // Still served: a good request on the same device.
        Check(Send(q, Cipher(3, 64, Seg(good))) == IxpStatus.Okay, "a good request after the bad ones");
        Check(front.IsConnected, "still connected");
        Say($"OK {cases.Length}");
        return 0;
    }

    /// <summary>Rewrites published request slots with garbage while the backend reads them; every request still gets exactly one response.</summary>
    public static int Rewrite(IxpFrontend front)
    {
        IxpFrontendQueue q = front.Queues[0];
        q.Handler = Handler;
        Check(front.Grants.GrantForeignAccess(front.BackendId, front.Pages.Allocate(), readOnly: false, out uint good) == GrantStatus.Okay, "grant");
        IxpRequest create = default;
        create.Operation = (byte)IxpOperation.SessionCreate;
        create.BodyAs<IxpSessionCreateBody>().Session = 0;
        create.BodyAs<IxpSessionCreateBody>().Algorithm = (byte)IxpAlgorithm.DesEcb;
        create.BodyAs<IxpSessionCreateBody>().KeyLength = 8;
        Check(Send(q, create) == IxpStatus.Okay, "session");
        IxpRequest valid = Cipher(0, 64, new IxpSegment { Gref = good, Length = 64 });
        byte* entries = q.RingAddress + SharedRingHeader.EntriesOffset;
        uint slots = q.RingSize;
        using CancellationTokenSource stop = new();
        Thread scribbler = new(() =>
        {
            var rng = new Random(1);
            byte* junk = stackalloc byte[IxpRequest.Size];
            while (!stop.IsCancellationRequested)
            {
                // Scribble the body of any slot (bytes 16..111): the first 16 bytes are also where
                // the backend's response lands, and garbling its own responses only hurts the guest.
                uint slot = (uint)rng.Next((int)slots);
                rng.NextBytes(new Span<byte>(junk, IxpRequest.Size));
                Buffer.MemoryCopy(junk + 16, entries + (slot * IxpRequest.Size) + 16, IxpRequest.Size - 16, IxpRequest.Size - 16);
            }
        }) { IsBackground = true };
        scribbler.Start();
        int sent = 0, answered = 0;
        Stopwatch sw = Stopwatch.StartNew();
        int before = s_done;
        while (sw.ElapsedMilliseconds < 300)
        {
            if (q.SubmitRaw(valid, 1) >= 0)
            {
                sent++;
            }

            _ = q.Poll();
        }

        stop.Cancel();
        scribbler.Join();
        while (s_done - before < sent && sw.ElapsedMilliseconds < 10_000)
        {
            _ = q.Poll();
        }

        answered = s_done - before;
        Check(answered == sent, $"{sent} sent, {answered} answered");
        Say($"OK {sent}");
        return 0;
    }

    /// <summary>req_prod far ahead of anything real: the backend must close this device only.</summary>
    public static int BogusIndex(IxpFrontend front)
    {
        IxpFrontendQueue q = front.Queues[0];
        SharedRingHeader* h = (SharedRingHeader*)q.RingAddress;
        Volatile.Write(ref h->ReqProd, Volatile.Read(ref h->RspProd) + 1000);
        Xen.Hypervisor.Host host = Xen.Hypervisor.Host.Open(Path.GetDirectoryName(front.Pages.Memory.Path)!);
        _ = host.OpenPort(front.DomId, q.Port).Notify();
        Stopwatch sw = Stopwatch.StartNew();
        while (front.IsConnected && sw.Elapsed < TimeSpan.FromSeconds(10))
        {
            Thread.Sleep(5);
        }

        Check(!front.IsConnected, "the backend closed the device");
        Say("OK closed");
        host.Dispose();
        return 0;
    }

    /// <summary>
    /// Notifies the event channel as fast as it can until "stop" on stdin: says "FLOODING t0", then
    /// "OK n t0 t1" (notifications, and the flood's first and last Stopwatch timestamps).
    /// </summary>
    public static int Flood(IxpFrontend front)
    {
        IxpFrontendQueue q = front.Queues[0];
        using Xen.Hypervisor.Host host = Xen.Hypervisor.Host.Open(Path.GetDirectoryName(front.Pages.Memory.Path)!);
        Xen.EventChannel.EventChannelPort port = host.OpenPort(front.DomId, q.Port);
        int stop = 0;
        var stopReader = new Thread(() =>
        {
            Check(Console.In.ReadLine() == "stop", "expected 'stop' on stdin");
            Volatile.Write(ref stop, 1);
        }) { IsBackground = true };
        stopReader.Start();
        long t0 = Stopwatch.GetTimestamp();
        Say(FormattableString.Invariant($"FLOODING {t0}"));
        long n = 0;
        while (Volatile.Read(ref stop) == 0)
        {
            _ = port.Notify();
            n++;
        }

        Say(FormattableString.Invariant($"OK {n} {t0} {Stopwatch.GetTimestamp()}"));
        return 0;
    }

    /// <summary>Fills the ring and never consumes a response; then keeps trying.</summary>
    public static int NoConsume(IxpFrontend front)
    {
        Check(IxpCyInstance.Create(front, 0, CompletionMode.Polling, out IxpCyInstance? cy) == CpaStatus.Success, "create");
        Check(cy!.InitSession(new SymSessionSetupData(SymCipherAlgorithm.DesEcb, SymCipherDirection.Encrypt, new byte[8]), (_, _, _) => { }, out CySymSession? s) == CpaStatus.Success, "session");
        Check(cy.AllocateBufferList([64], out BufferList? b) == CpaStatus.Success, "alloc");
        SymOpData op = new() { Session = s, PacketType = SymPacketType.Full, MessageLenToCipher = 64 };
        int ok = 0, retries = 0;
        for (int i = 0; i < 10 * (int)front.Queues[0].RingSize; i++)
        {
            CpaStatus st = cy.PerformOp(null, op, b!, b!);
            ok += st == CpaStatus.Success ? 1 : 0;
            retries += st == CpaStatus.Retry ? 1 : 0;
        }

        Check(ok == front.Queues[0].RingSize && retries > 0, $"{ok} submitted, {retries} retries");
        Say($"OK {ok}");
        return 0;
    }
}
