using Tolapai.Xen.EventChannel;
using Tolapai.Xen.GrantTable;
using Tolapai.Xen.Hypervisor;
using Tolapai.Xen.Memory;
using Tolapai.Xen.Ring;

namespace Tolapai.Xen.TestChild;

/// <summary>Frontend and backend of the ring stress test, each its own process.</summary>
public static unsafe class RingRoles
{
    private static readonly TimeSpan LostWakeup = TimeSpan.FromSeconds(20);

    /// <summary>
    /// front RUNDIR DOMID BACKDOM COUNT SEED SPIN PAUSE_ONE_IN RINGPAGES [START_INDEX [MAX_IN_FLIGHT]]:
    /// creates its domain, initialises and grants the ring, allocates an unbound port, prints
    /// "READY gref,gref,... port size", then pushes COUNT checksummed requests and checks every response.
    /// </summary>
    public static int Front(string[] a)
    {
        string runDir = a[1];
        ushort domid = Program.Dom(a[2]);
        ushort backDom = Program.Dom(a[3]);
        long count = long.Parse(a[4], System.Globalization.CultureInfo.InvariantCulture);
        int seed = Program.Int(a[5]);
        int spin = Program.Int(a[6]);
        int pauseOneIn = Program.Int(a[7]);
        uint ringPages = Program.UInt(a[8]);
        uint startIndex = a.Length > 9 ? Program.UInt(a[9]) : 0;
        int maxInFlight = a.Length > 10 ? Program.Int(a[10]) : int.MaxValue;

        using Host host = Host.Open(runDir);
        Check(host.CreateDomain(domid, pages: 1 + ringPages + 4, grantFrames: 1), "create domain");
        GuestMemory mem = host.MapGuestMemory(domid)!;
        GrantTableFrontend gnt = new(mem);
        // Multi-page rings use scattered frames (in reverse order), placed side by side with
        // mmap, as a guest's ring pages need not be physically contiguous.
        uint[] frames = new uint[ringPages];
        for (uint i = 0; i < ringPages; i++)
        {
            frames[i] = mem.FirstDataFrame + (ringPages - 1 - i);
        }

        using FrameWindow? window = ringPages > 1 ? mem.MapFrames(frames) : null;
        byte* ring = window is not null ? window.Address : mem.Base + ((long)frames[0] << GuestMemory.PageShift);
        SharedRing.Initialize(ring);
        if (startIndex != 0)
        {
            // Start the free-running indexes near the wrap, as a resumed ring may.
            SharedRingHeader* h = (SharedRingHeader*)ring;
            h->ReqProd = h->RspProd = startIndex;
            h->ReqEvent = h->RspEvent = startIndex + 1;
            Interlocked.MemoryBarrier();
        }

        uint[] grefs = new uint[ringPages];
        for (uint i = 0; i < ringPages; i++)
        {
            if (gnt.GrantForeignAccess(backDom, frames[i], readOnly: false, out grefs[i]) != GrantStatus.Okay)
            {
                return Fail("grant ring page");
            }
        }

        Check(host.AllocUnbound(domid, backDom, out uint port), "alloc unbound");
        EventChannelPort evtchn = host.OpenPort(domid, port);
        FrontRing<TestRequest, TestResponse> fr = new(ring, (long)ringPages * GuestMemory.PageSize);
        Program.Say($"READY {string.Join(',', grefs)} {port} {fr.Size}");

        Random rng = new(seed);
        long sent = 0, received = 0, waits = 0;
        while (received < count)
        {
            bool progress = false;
            int batch = rng.Next(1, (int)fr.Size + 1);
            while (sent < count && batch-- > 0 && fr.InFlight < maxInFlight && fr.TryWriteRequest(TestRequest.Make((ulong)sent, (ulong)rng.NextInt64())))
            {
                sent++;
                progress = true;
            }

            if (fr.PushRequestsAndCheckNotify())
            {
                evtchn.Notify();
            }

            RingStatus s;
            while ((s = fr.TryTakeResponse(out TestResponse rsp)) == RingStatus.Ok)
            {
                if (rsp.Seq != (ulong)received || rsp.Status != 0)
                {
                    return Fail($"response {received}: seq {rsp.Seq} status {rsp.Status}");
                }

                received++;
                progress = true;
            }

            if (s == RingStatus.Overflow)
            {
                return Fail("backend published an impossible rsp_prod");
            }

            if (!progress && !fr.FinalCheckForResponses())
            {
                waits++;
                if (evtchn.Wait(spin, LostWakeup) == WaitResult.TimedOut)
                {
                    return Fail($"lost wake-up: no response for {LostWakeup} (sent {sent}, received {received}, rsp_event armed)");
                }
            }

            Pause(rng, pauseOneIn);
        }

        Program.Say($"DONE sent={sent} received={received} waits={waits} parks={evtchn.Parks} wakes={evtchn.Wakes}");
        return 0;
    }

    /// <summary>
    /// back RUNDIR DOMID FRONTDOM GREF[,GREF...] PORT COUNT SEED SPIN PAUSE_ONE_IN: maps the ring (ring-ref0..N side by side),
    /// binds the port, takes COUNT requests in order checking each, and answers each.
    /// </summary>
    public static int Back(string[] a)
    {
        string runDir = a[1];
        ushort domid = Program.Dom(a[2]);
        ushort frontDom = Program.Dom(a[3]);
        uint[] grefs = Array.ConvertAll(a[4].Split(','), Program.UInt);
        uint remotePort = Program.UInt(a[5]);
        long count = long.Parse(a[6], System.Globalization.CultureInfo.InvariantCulture);
        int seed = Program.Int(a[7]);
        int spin = Program.Int(a[8]);
        int pauseOneIn = Program.Int(a[9]);

        using Host host = Host.Open(runDir);
        Check(host.CreateDomain(domid, pages: 2, grantFrames: 1), "create domain");
        GrantMapper mapper = new(host, domid);
        GrantStatus st = mapper.MapPages(frontDom, grefs, readOnly: false, out MultiPageMapping? ringPages);
        if (st != GrantStatus.Okay)
        {
            return Fail($"map ring-refs: {st}");
        }

        Check(host.BindInterdomain(domid, frontDom, remotePort, out uint port), "bind interdomain");
        EventChannelPort evtchn = host.OpenPort(domid, port);
        BackRing<TestRequest, TestResponse> br = new(ringPages!.Address, ringPages.Length);

        Random rng = new(seed ^ 0x5A5A5A5A);
        long handled = 0, waits = 0;
        while (handled < count)
        {
            bool progress = false;
            RingStatus s;
            while ((s = br.TryTakeRequest(out TestRequest req)) == RingStatus.Ok)
            {
                if (req.Seq != (ulong)handled)
                {
                    return Fail($"request {handled}: got seq {req.Seq} (lost, duplicated or out of order)");
                }

                if (!req.IsIntact())
                {
                    return Fail($"request {handled}: torn or corrupt (checksum)");
                }

                if (br.TryWriteResponse(TestResponse.For(req, 0)) != RingStatus.Ok)
                {
                    return Fail("no room for a response");
                }

                handled++;
                progress = true;
                if (rng.Next(8) == 0)
                {
                    break; // answer in varying batch sizes
                }
            }

            if (s == RingStatus.Overflow)
            {
                return Fail($"frontend published an impossible req_prod {br.BogusRequestProducer}");
            }

            if (br.PushResponsesAndCheckNotify())
            {
                evtchn.Notify();
            }

            if (!progress && !br.FinalCheckForRequests())
            {
                waits++;
                if (evtchn.Wait(spin, LostWakeup) == WaitResult.TimedOut)
                {
                    return Fail($"lost wake-up: no request for {LostWakeup} (handled {handled}, req_event armed)");
                }
            }

            Pause(rng, pauseOneIn);
        }

        Program.Say($"DONE handled={handled} waits={waits} parks={evtchn.Parks} wakes={evtchn.Wakes}");
        return 0;
    }

    /// <summary>One time in <paramref name="oneIn"/>: a short spin, or rarely a sleep so the peer parks.</summary>
    public static void Pause(Random rng, int oneIn)
    {
        if (oneIn <= 0 || rng.Next(oneIn) != 0)
        {
            return;
        }

        int kind = rng.Next(16);
        if (kind == 0)
        {
            Thread.Sleep(rng.Next(0, 2));
        }
        else if (kind < 4)
        {
            Thread.Yield();
        }
        else
        {
            Thread.SpinWait(rng.Next(1, 2000));
        }
    }

    public static void Check(XenError e, string what)
    {
        if (e != XenError.Ok)
        {
            throw new InvalidOperationException($"{what}: {e}");
        }
    }

    public static int Fail(string why)
    {
        Program.Say($"FAIL {why}");
        return 1;
    }
}
