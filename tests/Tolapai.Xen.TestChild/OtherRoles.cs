using Tolapai.Xen.GrantTable;
using Tolapai.Xen.Hypervisor;
using Tolapai.Xen.Memory;
using Tolapai.Xen.PingPong;
using Tolapai.Xen.Ring;

namespace Tolapai.Xen.TestChild;

/// <summary>Sleeper (to be killed), grant holder, hostile guest (which also scribbles) and ping-pong server.</summary>
public static unsafe class OtherRoles
{
    /// <summary>Grant references the hostile guest sets up, each broken in one way.</summary>
    public const uint HostileRing = 8, ForeignRef = 9, ReadOnlyRef = 10, BadFrameRef = 11, GrantTableFrameRef = 12,
        RevokedRef = 13, TransferRef = 14, GoodRing = 15, ScribbleRing = 16;

    /// <summary>sleeper RUNDIR DOMID: creates its domain, prints READY, heartbeats until killed.</summary>
    public static int Sleeper(string[] a)
    {
        using Host host = Host.Open(a[1]);
        ushort domid = Program.Dom(a[2]);
        RingRoles.Check(host.CreateDomain(domid, pages: 2, grantFrames: 1), "create domain");
        RingRoles.Check(host.AllocUnbound(domid, 0, out uint port), "alloc unbound");
        Program.Say($"READY {port}");
        for (int i = 0; i < 600; i++)
        {
            host.Heartbeat(domid);
            Thread.Sleep(100);
        }

        return 0;
    }

    /// <summary>
    /// hostile RUNDIR DOMID BACKDOM SEED: a guest that writes garbage: a ring whose req_prod is
    /// far ahead, grants to another domain, read-only, to a bad frame, to its grant table frame,
    /// revoked, of the wrong type; one well-behaved ring with two requests; prints READY, then
    /// scribbles random indexes and slots into a third ring until its stdin closes.
    /// </summary>
    public static int Hostile(string[] a)
    {
        using Host host = Host.Open(a[1]);
        ushort domid = Program.Dom(a[2]);
        ushort back = Program.Dom(a[3]);
        RingRoles.Check(host.CreateDomain(domid, pages: 8, grantFrames: 1), "create domain");
        GuestMemory mem = host.MapGuestMemory(domid)!;
        GrantTableFrontend gnt = new(mem);
        uint f = mem.FirstDataFrame;

        // Ring at f whose req_prod claims 10000 requests.
        byte* bad = mem.Base + ((long)f << GuestMemory.PageShift);
        SharedRing.Initialize(bad);
        FrontRing<TestRequest, TestResponse> fr = new(bad, GuestMemory.PageSize);
        for (ulong i = 0; i < 3; i++)
        {
            fr.TryWriteRequest(TestRequest.Make(i, 7));
        }

        fr.PushRequests();
        Volatile.Write(ref ((SharedRingHeader*)bad)->ReqProd, 10_000);
        gnt.GrantForeignAccessRef(HostileRing, back, f, readOnly: false);

        gnt.GrantForeignAccessRef(ForeignRef, (ushort)(back + 5), f + 1, readOnly: false);
        gnt.GrantForeignAccessRef(ReadOnlyRef, back, f + 1, readOnly: true);
        gnt.GrantForeignAccessRef(BadFrameRef, back, 0x0FFF_FFFF, readOnly: false);
        gnt.GrantForeignAccessRef(GrantTableFrameRef, back, 0, readOnly: false);
        gnt.GrantForeignAccessRef(RevokedRef, back, f + 1, readOnly: false);
        _ = gnt.EndForeignAccessRef(RevokedRef);
        gnt.GrantForeignAccessRef(TransferRef, back, f + 1, readOnly: false);
        Volatile.Write(ref ((GrantEntryV1*)mem.Base)[TransferRef].Flags, (ushort)GrantFlags.AcceptTransfer);

        // A well-behaved ring at f+2 with two requests: the other connection that must go on.
        byte* good = mem.Base + ((long)(f + 2) << GuestMemory.PageShift);
        SharedRing.Initialize(good);
        FrontRing<TestRequest, TestResponse> gr = new(good, GuestMemory.PageSize);
        gr.TryWriteRequest(TestRequest.Make(0, 1));
        gr.TryWriteRequest(TestRequest.Make(1, 2));
        gr.PushRequests();
        gnt.GrantForeignAccessRef(GoodRing, back, f + 2, readOnly: false);

        byte* scribble = mem.Base + ((long)(f + 3) << GuestMemory.PageShift);
        SharedRing.Initialize(scribble);
        gnt.GrantForeignAccessRef(ScribbleRing, back, f + 3, readOnly: false);
        Program.Say("READY");

        // Then keep rewriting the scribble ring's header and slots with random values until told to stop (stdin closes).
        Random rng = new(Program.Int(a[4]));
        using Stream stdin = Console.OpenStandardInput();
        Task<int> eof = stdin.ReadAsync(new byte[1]).AsTask();
        long writes = 0;
        while (!eof.IsCompleted)
        {
            int at = rng.Next(0, GuestMemory.PageSize / 4);
            uint value = rng.Next(4) switch
            {
                0 => (uint)rng.Next(),
                1 => Volatile.Read(ref *(uint*)scribble) + (uint)rng.Next(-3, 40),
                2 => uint.MaxValue - (uint)rng.Next(16),
                _ => 0,
            };
            if (rng.Next(3) == 0)
            {
                at = rng.Next(0, 4); // the header words: req_prod, req_event, rsp_prod, rsp_event
            }

            Volatile.Write(ref ((uint*)scribble)[at], value);
            writes++;
        }

        Program.Say($"DONE writes={writes}");
        return 0;
    }

    /// <summary>grant-holder RUNDIR DOMID GUESTDOM GREF: maps the grant writable, prints READY, holds it until killed.</summary>
    public static int GrantHolder(string[] a)
    {
        using Host host = Host.Open(a[1]);
        ushort domid = Program.Dom(a[2]);
        RingRoles.Check(host.CreateDomain(domid, pages: 2, grantFrames: 1), "create domain");
        GrantMapper mapper = new(host, domid);
        GrantStatus st = mapper.Map(Program.Dom(a[3]), Program.UInt(a[4]), readOnly: false, out GrantMapping m);
        if (st != GrantStatus.Okay)
        {
            return RingRoles.Fail($"map: {st}");
        }

        m.Span[0] = 1;
        Program.Say("READY");
        Thread.Sleep(60_000);
        return 0;
    }

    /// <summary>pingpong FILE STOPSEQ: echoes pings on a 128-byte shared file until STOPSEQ.</summary>
    public static int PingPongServe(string[] a)
    {
        using SharedFile file = SharedFile.Open(a[1], 128);
        Program.Say("READY");
        new RawPingPong(file.Base).Serve(ulong.Parse(a[2], System.Globalization.CultureInfo.InvariantCulture));
        return 0;
    }
}
