using Tolapai.Xen.EventChannel;
using Tolapai.Xen.GrantTable;
using Tolapai.Xen.Hypervisor;
using Tolapai.Xen.Memory;
using Tolapai.Xen.PingPong;
using Tolapai.Xen.Ring;

namespace Tolapai.Perf.Ring;

/// <summary>The backend side of the ring measurement, run in its own process as dom0.</summary>
internal static unsafe class RingEchoServer
{
    /// <summary>
    /// echo RUNDIR FRONTDOM GREF[,GREF...] PORT ENTRYSIZE SPIN: maps the ring, binds the port, answers
    /// every request with its id until a request with id ulong.MaxValue.
    /// pingpong RUNDIR FRONTDOM FRAME: echoes raw pings on that frame of the frontend's memory.
    /// </summary>
    public static int Run(string[] a)
    {
        using Host host = Host.Open(a[1]);
        ushort front = ushort.Parse(a[2], System.Globalization.CultureInfo.InvariantCulture);
        if (a[0] == "pingpong")
        {
            GuestMemory mem = host.MapGuestMemory(front) ?? throw new InvalidOperationException("no frontend domain");
            byte* lines = mem.Base + (long.Parse(a[3], System.Globalization.CultureInfo.InvariantCulture) << GuestMemory.PageShift);
            Console.WriteLine("READY");
            new RawPingPong(lines).Serve(ulong.MaxValue);
            return 0;
        }

        uint[] grefs = Array.ConvertAll(a[3].Split(','), g => uint.Parse(g, System.Globalization.CultureInfo.InvariantCulture));
        uint remotePort = uint.Parse(a[4], System.Globalization.CultureInfo.InvariantCulture);
        int entrySize = int.Parse(a[5], System.Globalization.CultureInfo.InvariantCulture);
        int spin = int.Parse(a[6], System.Globalization.CultureInfo.InvariantCulture);
        Check(host.CreateDomain(0, 2, 1));
        try
        {
            GrantMapper mapper = new(host, 0);
            // ring-ref0..N-1: the frontend grants consecutive frames, so the mappings are consecutive too.
            GrantMapping[] pages = new GrantMapping[grefs.Length];
            for (int i = 0; i < grefs.Length; i++)
            {
                GrantStatus st = mapper.Map(front, grefs[i], readOnly: false, out pages[i]);
                if (st != GrantStatus.Okay || pages[i].Address != pages[0].Address + ((long)i * GuestMemory.PageSize))
                {
                    Console.WriteLine($"FAIL map ring-ref{i}: {st}");
                    return 1;
                }
            }

            long ringBytes = (long)grefs.Length * GuestMemory.PageSize;

            Check(host.BindInterdomain(0, front, remotePort, out uint port));
            EventChannelPort evtchn = host.OpenPort(0, port);
            Console.WriteLine("READY");
            int rc = entrySize == 112
                ? Serve<Entry112, Entry112Ops>(pages[0].Address, ringBytes, evtchn, spin)
                : Serve<Entry64, Entry64Ops>(pages[0].Address, ringBytes, evtchn, spin);
            foreach (GrantMapping m in pages)
            {
                mapper.Unmap(m);
            }

            return rc;
        }
        finally
        {
            host.DestroyDomain(0);
        }
    }

    private static int Serve<T, TOps>(byte* ring, long ringBytes, EventChannelPort evtchn, int spin)
        where T : unmanaged
        where TOps : IEntry<T>
    {
        BackRing<T, T> br = new(ring, ringBytes);
        int idle = 0;
        while (true)
        {
            bool stop = false;
            int n = 0;
            RingStatus s;
            while ((s = br.TryTakeRequest(out T req)) == RingStatus.Ok)
            {
                ulong id = TOps.IdOf(req);
                stop |= id == ulong.MaxValue;
                br.TryWriteResponse(TOps.Make(id));
                n++;
            }

            if (s == RingStatus.Overflow)
            {
                Console.WriteLine("FAIL ring overflow");
                return 1;
            }

            if (br.PushResponsesAndCheckNotify())
            {
                evtchn.Notify();
            }

            if (stop)
            {
                return 0;
            }

            if (n != 0)
            {
                idle = 0;
                continue;
            }

            // Poll without re-arming req_event (so the frontend does not notify a busy backend),
            // then re-arm and park.
            if (++idle < spin)
            {
                Thread.SpinWait(1);
                continue;
            }

            idle = 0;
            if (!br.FinalCheckForRequests())
            {
                evtchn.Wait(0, TimeSpan.FromSeconds(30));
            }
        }
    }

    private static void Check(XenError e)
    {
        if (e != XenError.Ok)
        {
            throw new InvalidOperationException(e.ToString());
        }
    }
}
