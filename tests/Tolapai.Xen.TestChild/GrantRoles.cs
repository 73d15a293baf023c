using Tolapai.Xen.GrantTable;
using Tolapai.Xen.Hypervisor;
using Tolapai.Xen.Memory;

namespace Tolapai.Xen.TestChild;

/// <summary>The two sides of the revoke-against-map race.</summary>
internal static class GrantRoles
{
    /// <summary>The reference the race is run on (the first one not reserved).</summary>
    public const uint RaceRef = GrantTableFrontend.ReservedEntries;

    /// <summary>
    /// grant-guest RUNDIR DOMID MAPPERDOM ROUNDS SEED: creates its domain, prints READY, then
    /// each round grants a page read-write, revokes it (retrying while mapped), writes a
    /// sentinel and checks after a pause that nobody wrote the page after the revoke.
    /// Destroys its domain at the end, which stops the mapper.
    /// </summary>
    public static int Guest(string[] a)
    {
        string runDir = a[1];
        ushort domid = Program.Dom(a[2]);
        ushort mapperDom = Program.Dom(a[3]);
        int rounds = Program.Int(a[4]);
        int seed = Program.Int(a[5]);

        using Host host = Host.Open(runDir);
        RingRoles.Check(host.CreateDomain(domid, pages: 4, grantFrames: 1), "create domain");
        GuestMemory mem = host.MapGuestMemory(domid)!;
        GrantTableFrontend gnt = new(mem);
        uint frame = mem.FirstDataFrame;
        Span<byte> page = mem.Page(frame);
        Program.Say("READY");

        Random rng = new(seed);
        long busy = 0, touchedWhileGranted = 0;
        for (int round = 0; round < rounds; round++)
        {
            page.Clear();
            gnt.GrantForeignAccessRef(RaceRef, mapperDom, frame, readOnly: false);
            Thread.SpinWait(rng.Next(0, 3000));
            while (!gnt.EndForeignAccessRef(RaceRef))
            {
                busy++;
                Thread.SpinWait(rng.Next(1, 200));
            }

            if (page.IndexOfAnyExcept((byte)0) >= 0)
            {
                touchedWhileGranted++;
            }

            byte sentinel = (byte)(round | 1);
            page.Fill(sentinel);
            Thread.SpinWait(rng.Next(0, 3000));
            if (rng.Next(64) == 0)
            {
                Thread.Sleep(1);
            }

            int bad = page.IndexOfAnyExcept(sentinel);
            if (bad >= 0)
            {
                return RingRoles.Fail($"round {round}: page byte {bad} written after a successful revoke");
            }
        }

        RingRoles.Check(host.DestroyDomain(domid), "destroy domain");
        Program.Say($"DONE rounds={rounds} busy={busy} touched={touchedWhileGranted}");
        return 0;
    }

    /// <summary>
    /// grant-mapper RUNDIR DOMID GUESTDOM: maps RaceRef writable as fast as it can, writes the
    /// page while mapped, unmaps; stops when the guest domain is gone.
    /// </summary>
    public static int Mapper(string[] a)
    {
        string runDir = a[1];
        ushort domid = Program.Dom(a[2]);
        ushort guestDom = Program.Dom(a[3]);

        using Host host = Host.Open(runDir);
        RingRoles.Check(host.CreateDomain(domid, pages: 2, grantFrames: 1), "create domain");
        GrantMapper mapper = new(host, domid);
        Program.Say("READY");
        long mapped = 0, refused = 0, other = 0;
        long deadline = Environment.TickCount64 + 120_000;
        while (Environment.TickCount64 < deadline)
        {
            GrantStatus st = mapper.Map(guestDom, RaceRef, readOnly: false, out GrantMapping m);
            if (st == GrantStatus.Okay)
            {
                m.Span.Fill(0xEE);
                if (mapper.Unmap(m) != GrantStatus.Okay)
                {
                    return RingRoles.Fail("unmap failed");
                }

                mapped++;
            }
            else if (st == GrantStatus.GeneralError)
            {
                refused++; // revoked (flags 0): Xen's "Bad flags"
            }
            else if (st == GrantStatus.BadDomain)
            {
                if (host.Lookup(guestDom) is null && mapped + refused > 0)
                {
                    break; // the guest finished and destroyed its domain
                }

                Thread.Yield(); // not created yet
            }
            else
            {
                other++;
            }
        }

        Program.Say($"DONE mapped={mapped} refused={refused} other={other}");
        return other == 0 ? 0 : 1;
    }
}
