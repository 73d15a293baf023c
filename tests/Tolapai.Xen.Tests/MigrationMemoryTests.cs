using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Tolapai.Xen.GrantTable;
using Tolapai.Xen.Hypervisor;
using Tolapai.Xen.Memory;

namespace Tolapai.Xen.Tests;

/// <summary>
/// What suspend, resume and migration build on, in one process: the domain's shutdown code, the
/// dirty log of guest memory, remapping it in place onto another host's file, and the grant-table
/// fix-ups a resumed frontend makes.
/// </summary>
/// <remarks>
/// Not in <see cref="MultiProcessCollection"/>: its one child is <c>sleep</c>, there only to give a
/// domain a live pid; it neither spins nor talks to the test, so no timing depends on it.
/// </remarks>
public sealed class MigrationMemoryTests : IDisposable
{
    private const ushort Guest = 1;
    private const uint Pages = 8, GrantFrames = 1;
    private readonly TestRunDirectory _run = new(new HostOptions { MaxDomains = 8, PortsPerDomain = 8, MaxGrantEntries = 1024 });

    public void Dispose() => _run.Dispose();

    private GuestMemory NewGuest(ushort domid = Guest, uint pages = Pages)
    {
        Assert.Equal(XenError.Ok, _run.Host.CreateDomain(domid, pages, GrantFrames));
        return _run.Host.MapGuestMemory(domid)!;
    }

    private static uint[] DirtyPages(GuestMemory m) => [.. Enumerable.Range(0, (int)m.Pages).Select(f => (uint)f).Where(m.IsDirty)];

    [Fact]
    public void Domain_entry_keeps_the_shutdown_code_at_40_in_one_cache_line()
    {
        Assert.Equal(64, Unsafe.SizeOf<DomainEntry>());
        Assert.Equal(40, (int)Marshal.OffsetOf<DomainEntry>(nameof(DomainEntry.Shutdown)));
        // sched.h: SHUTDOWN_poweroff 0, SHUTDOWN_suspend 2.
        Assert.Equal(0u, (uint)ShutdownReason.Poweroff);
        Assert.Equal(2u, (uint)ShutdownReason.Suspend);
    }

    [Fact]
    public void Shutdown_self_is_seen_by_lookup_and_cleared_by_the_toolstack()
    {
        Host h = _run.Host;
        _ = NewGuest();
        Assert.Equal(ShutdownReason.None, h.Lookup(Guest)!.Value.Shutdown);

        Assert.Equal(XenError.Ok, h.ShutdownSelf(Guest, ShutdownReason.Suspend));
        Assert.Equal(ShutdownReason.Suspend, h.Lookup(Guest)!.Value.Shutdown);
        using (Host other = Host.Open(_run.Path)) // the toolstack's view: the code is in the shared region
        {
            Assert.Equal(ShutdownReason.Suspend, other.Lookup(Guest)!.Value.Shutdown);
            Assert.Equal(XenError.Ok, other.ClearShutdown(Guest));
        }

        Assert.Equal(ShutdownReason.None, h.Lookup(Guest)!.Value.Shutdown);

        // A re-created domain starts without the old one's code.
        Assert.Equal(XenError.Ok, h.ShutdownSelf(Guest, ShutdownReason.Poweroff));
        Assert.Equal(XenError.Ok, h.DestroyDomain(Guest));
        _ = NewGuest();
        Assert.Equal(ShutdownReason.None, h.Lookup(Guest)!.Value.Shutdown);
    }

    [Fact]
    public void Shutdown_self_of_a_free_slot_is_enoent_and_of_another_process_domain_eperm()
    {
        Host h = _run.Host;
        Assert.Equal(XenError.ENOENT, h.ShutdownSelf(3, ShutdownReason.Suspend));
        Assert.Equal(XenError.ENOENT, h.ClearShutdown(3));
        Assert.Equal(XenError.ENOENT, h.ShutdownSelf(100, ShutdownReason.Suspend)); // beyond MaxDomains

        using Process sleeper = Process.Start(new ProcessStartInfo("sleep", "30") { UseShellExecute = false })!;
        try
        {
            Assert.Equal(XenError.Ok, h.CreateDomain(4, 4, 1, pid: sleeper.Id));
            Assert.Equal(XenError.EPERM, h.ShutdownSelf(4, ShutdownReason.Suspend));
            Assert.Equal(ShutdownReason.None, h.Lookup(4)!.Value.Shutdown);
        }
        finally
        {
            sleeper.Kill();
            sleeper.WaitForExit();
        }
    }

    [Fact]
    public void Fresh_memory_has_no_dirty_page_and_a_write_across_a_boundary_marks_both_pages_only()
    {
        GuestMemory m = NewGuest();
        Assert.Equal(0u, m.CountDirty());
        Assert.Empty(DirtyPages(m));

        byte[] data = [.. Enumerable.Range(1, 10).Select(i => (byte)i)];
        m.Write(3, GuestMemory.PageSize - 4, data);
        Assert.Equal([3u, 4u], DirtyPages(m));
        Assert.Equal(2u, m.CountDirty());
        Assert.Equal(data, m.PageRange(3, 2)[(GuestMemory.PageSize - 4)..(GuestMemory.PageSize + 6)].ToArray());

        // The log is in the file after the pages: another mapping (the toolstack's) sees the marks.
        using (Host other = Host.Open(_run.Path))
        {
            Assert.Equal([3u, 4u], DirtyPages(other.MapGuestMemory(Guest)!));
        }

        Assert.True(m.TakeDirty(3));
        Assert.False(m.TakeDirty(3));
        Assert.False(m.IsDirty(3));
        Assert.Equal([4u], DirtyPages(m));
        Assert.False(m.TakeDirty(Pages)); // outside memory: never marked
        m.MarkDirty(Pages);
        Assert.Equal(1u, m.CountDirty());

        m.MarkDirty(5, 2);
        Assert.Equal([4u, 5u, 6u], DirtyPages(m));
    }

    [Fact]
    public void A_write_outside_memory_throws_and_marks_nothing()
    {
        GuestMemory m = NewGuest();
        Assert.Throws<ArgumentOutOfRangeException>(() => m.Write(Pages, 0, [1]));
        Assert.Throws<ArgumentOutOfRangeException>(() => m.Write(Pages - 1, GuestMemory.PageSize - 1, [1, 2]));
        Assert.Throws<ArgumentOutOfRangeException>(() => m.Write(2, -1, [1]));
        Assert.Throws<ArgumentOutOfRangeException>(() => m.Write(0, int.MaxValue, [1]));
        Assert.Equal(0u, m.CountDirty());

        m.Write(Pages - 1, GuestMemory.PageSize - 1, [7]); // the very last byte is inside
        Assert.Equal([Pages - 1], DirtyPages(m));
    }

    [Fact]
    public void A_write_after_the_mark_was_taken_marks_the_page_again()
    {
        GuestMemory m = NewGuest();
        m.Write(2, 0, [1, 2, 3]);
        // A pre-copy round: take the mark, then copy the page.
        Assert.True(m.TakeDirty(2));
        byte[] copied = m.Page(2).ToArray();
        // The guest writes after the take (during or after the copy): the next round must see it.
        m.Write(2, 1, [9]);
        Assert.True(m.IsDirty(2));
        Assert.NotEqual(copied, m.Page(2).ToArray());
        Assert.True(m.TakeDirty(2));
        Assert.Equal(0u, m.CountDirty());
    }

    [Fact]
    public async Task A_paused_domain_write_waits_until_unpause()
    {
        GuestMemory m = NewGuest();
        m.Pause();
        Assert.True(m.IsPaused);
        using var started = new ManualResetEventSlim();
        Task writer;
        try
        {
            writer = Task.Factory.StartNew(() =>
            {
                started.Set();
                m.Write(5, 100, [0xEE]);
            }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
            Assert.True(started.Wait(TimeSpan.FromSeconds(10)));
            await Task.Delay(100);
            Assert.False(writer.IsCompleted);
            Assert.Equal(0, m.Page(5)[100]);
            Assert.False(m.IsDirty(5));
        }
        finally
        {
            m.Unpause();
        }

        Assert.False(m.IsPaused);
        await writer.WaitAsync(TimeSpan.FromSeconds(10)); // TimeoutException: the write did not resume after Unpause
        Assert.Equal(0xEE, m.Page(5)[100]);
        Assert.True(m.IsDirty(5));

        // Pause with no write under way returns at once, and a pause after a completed write keeps it.
        m.Pause();
        m.Unpause();
        Assert.Equal(0xEE, m.Page(5)[100]);
    }

    [Fact]
    public unsafe void Remap_puts_another_host_file_under_the_same_addresses()
    {
        GuestMemory m = NewGuest();
        uint oldGeneration = m.Generation;
        string oldPath = m.Path;
        Span<byte> page = m.Page(3); // taken before the remap: must stay valid
        byte* pointer = m.Base + (3 * GuestMemory.PageSize);
        page.Fill(0xAA);

        using TestRunDirectory second = new(new HostOptions { MaxDomains = 8, PortsPerDomain = 8, MaxGrantEntries = 1024 });
        const ushort There = 5;
        Assert.Equal(XenError.Ok, second.Host.CreateDomain(There, Pages, GrantFrames));
        Assert.Equal(XenError.Ok, second.Host.DestroyDomain(There));
        Assert.Equal(XenError.Ok, second.Host.CreateDomain(There, Pages, GrantFrames)); // generation 2, not the source's 1
        uint newGeneration = second.Host.Lookup(There)!.Value.Generation;
        Assert.NotEqual(oldGeneration, newGeneration);
        string newPath = second.Host.MemoryPath(There);
        using (FileStream f = new(newPath, FileMode.Open, FileAccess.Write, FileShare.ReadWrite))
        {
            f.Position = 3 * GuestMemory.PageSize;
            f.Write(Enumerable.Repeat((byte)0x55, GuestMemory.PageSize).ToArray());
        }

        m.Remap(newPath, There, newGeneration);
        Assert.Equal(newPath, m.Path);
        Assert.Equal(There, m.DomId);
        Assert.Equal(newGeneration, m.Generation);

        // The old span and pointer now read the new file...
        Assert.Equal(0x55, page[0]);
        Assert.Equal(0x55, pointer[GuestMemory.PageSize - 1]);
        Assert.True(page.IndexOfAnyExcept((byte)0x55) < 0);
        // ...and writes through them land in it, as do the dirty marks.
        page[10] = 0x77;
        pointer[11] = 0x78;
        m.Write(6, 0, [0x79]);
        GuestMemory there = second.Host.MapGuestMemory(There)!;
        Assert.NotSame(m, there);
        Assert.Equal(0x77, there.Page(3)[10]);
        Assert.Equal(0x78, there.Page(3)[11]);
        Assert.Equal(0x79, there.Page(6)[0]);
        Assert.True(there.IsDirty(6));

        // The source host's file is untouched from the remap on.
        byte[] old = File.ReadAllBytes(oldPath);
        Assert.Equal(GuestMemory.FileLength(Pages), old.LongLength);
        Assert.True(old.AsSpan(3 * GuestMemory.PageSize, GuestMemory.PageSize).IndexOfAnyExcept((byte)0xAA) < 0);
        Assert.Equal(0, old[6 * GuestMemory.PageSize]);

        // A file of another length is refused and the mapping stays as it was.
        Assert.Equal(XenError.Ok, second.Host.CreateDomain(6, Pages * 2, GrantFrames));
        InvalidDataException e = Assert.Throws<InvalidDataException>(() => m.Remap(second.Host.MemoryPath(6), 6, 1));
        Assert.Contains(second.Host.MemoryPath(6), e.Message, StringComparison.Ordinal);
        Assert.Equal(newPath, m.Path);
        Assert.Equal(There, m.DomId);
        Assert.Equal(newGeneration, m.Generation);
        page[12] = 0x7A;
        Assert.Equal(0x7A, there.Page(3)[12]);
        Assert.Equal(0x77, page[10]);
    }

    [Fact]
    public unsafe void Retarget_moves_only_the_grants_that_permit_the_old_backend()
    {
        GuestMemory m = NewGuest();
        var gnt = new GrantTableFrontend(m);
        uint first = m.FirstDataFrame;
        Assert.Equal(GrantStatus.Okay, gnt.GrantForeignAccess(0, first, readOnly: false, out uint toOld));
        Assert.Equal(GrantStatus.Okay, gnt.GrantForeignAccess(0, first + 1, readOnly: true, out uint toOldReadOnly));
        Assert.Equal(GrantStatus.Okay, gnt.GrantForeignAccess(2, first + 2, readOnly: false, out uint toOther));
        Assert.Equal(GrantStatus.Okay, gnt.GrantForeignAccess(0, first + 3, readOnly: false, out uint ended));
        Assert.True(gnt.EndForeignAccessRef(ended)); // flags 0, domid still 0: not a grant any more
        Assert.True(m.TakeDirty(0));

        Assert.Equal(2, gnt.Retarget(0, 7));
        GrantEntryV1* table = (GrantEntryV1*)m.Base;
        Assert.Equal(7, table[toOld].DomId);
        Assert.Equal(first, table[toOld].Frame);
        Assert.Equal(GrantFlags.PermitAccess, gnt.FlagsOf(toOld));
        Assert.Equal(7, table[toOldReadOnly].DomId);
        Assert.Equal(first + 1, table[toOldReadOnly].Frame);
        Assert.Equal(GrantFlags.PermitAccess | GrantFlags.ReadOnly, gnt.FlagsOf(toOldReadOnly));
        Assert.Equal(2, table[toOther].DomId);
        Assert.Equal(0, table[ended].DomId);
        Assert.Equal(GrantFlags.Invalid, gnt.FlagsOf(ended));
        Assert.True(m.TakeDirty(0)); // the table is guest memory: the next round copies it

        Assert.Equal(0, gnt.Retarget(0, 7));
        Assert.False(m.IsDirty(0));
    }

    [Fact]
    public unsafe void Clear_stale_busy_bits_lets_access_end_again()
    {
        GuestMemory m = NewGuest();
        var gnt = new GrantTableFrontend(m);
        uint first = m.FirstDataFrame;
        Assert.Equal(GrantStatus.Okay, gnt.GrantForeignAccess(0, first, readOnly: false, out uint written));
        Assert.Equal(GrantStatus.Okay, gnt.GrantForeignAccess(0, first + 1, readOnly: true, out uint read));
        Assert.Equal(GrantStatus.Okay, gnt.GrantForeignAccess(0, first + 2, readOnly: false, out uint idle));
        // What a mapper on the old host left in the copied table.
        GrantEntryV1* table = (GrantEntryV1*)m.Base;
        table[written].Flags |= (ushort)(GrantFlags.Reading | GrantFlags.Writing);
        table[read].Flags |= (ushort)GrantFlags.Reading;
        Assert.False(gnt.EndForeignAccessRef(written));
        Assert.False(gnt.EndForeignAccessRef(read));
        Assert.True(m.TakeDirty(0));

        Assert.Equal(2, gnt.ClearStaleBusyBits());
        Assert.Equal(GrantFlags.PermitAccess, gnt.FlagsOf(written));
        Assert.Equal(GrantFlags.PermitAccess | GrantFlags.ReadOnly, gnt.FlagsOf(read));
        Assert.Equal(GrantFlags.PermitAccess, gnt.FlagsOf(idle));
        Assert.Equal(0, table[written].DomId);
        Assert.Equal(first + 1, table[read].Frame);
        Assert.True(m.TakeDirty(0));
        Assert.Equal(0, gnt.ClearStaleBusyBits());
        Assert.False(m.IsDirty(0));

        Assert.True(gnt.EndForeignAccess(written));
        Assert.True(gnt.EndForeignAccess(read));
        Assert.True(gnt.EndForeignAccess(idle));
    }
}
