using Tolapai.Xen.GrantTable;
using Tolapai.Xen.Hypervisor;
using Tolapai.Xen.Memory;

namespace Tolapai.Xen.Tests;

/// <summary>The grant protocol in one process: dom1 grants, dom0 maps. Every GNTST code the mapper returns.</summary>
public sealed unsafe class GrantTableTests : IDisposable
{
    private const ushort Back = 0, Guest = 1, Other = 2;
    private readonly TestRunDirectory _run = new();
    private readonly GuestMemory _mem;
    private readonly GrantTableFrontend _gnt;
    private readonly GrantMapper _mapper;
    private readonly uint _frame;

    public GrantTableTests()
    {
        Assert.Equal(XenError.Ok, _run.Host.CreateDomain(Back, 2, 1));
        Assert.Equal(XenError.Ok, _run.Host.CreateDomain(Guest, 16, 1));
        Assert.Equal(XenError.Ok, _run.Host.CreateDomain(Other, 4, 1));
        _mem = _run.Host.MapGuestMemory(Guest)!;
        _gnt = new GrantTableFrontend(_mem);
        _mapper = new GrantMapper(_run.Host, Back);
        _frame = _mem.FirstDataFrame + 3;
    }

    public void Dispose() => _run.Dispose();

    private uint Grant(bool readOnly = false, ushort to = Back, uint? frame = null)
    {
        Assert.Equal(GrantStatus.Okay, _gnt.GrantForeignAccess(to, frame ?? _frame, readOnly, out uint gref));
        return gref;
    }

    [Fact]
    public void Map_gives_a_span_onto_the_guest_page_without_copy()
    {
        uint gref = Grant();
        Assert.Equal(GrantStatus.Okay, _mapper.Map(Guest, gref, readOnly: false, out GrantMapping m));
        m.Span[100] = 0xAB;
        Assert.Equal(0xAB, _mem.Page(_frame)[100]);
        _mem.Page(_frame)[200] = 0xCD;
        Assert.Equal(0xCD, m.ReadOnlySpan[200]);
        Assert.Equal(GrantStatus.Okay, _mapper.Unmap(m));
    }

    [Fact]
    public void Revoke_fails_while_mapped_and_succeeds_after_unmap()
    {
        uint gref = Grant();
        Assert.Equal(GrantStatus.Okay, _mapper.Map(Guest, gref, readOnly: false, out GrantMapping m));
        Assert.Equal(GrantFlags.PermitAccess | GrantFlags.Reading | GrantFlags.Writing, _gnt.FlagsOf(gref));
        Assert.False(_gnt.EndForeignAccess(gref));
        Assert.Equal(GrantStatus.Okay, _mapper.Unmap(m));
        Assert.Equal(GrantFlags.PermitAccess, _gnt.FlagsOf(gref));
        Assert.True(_gnt.EndForeignAccess(gref));
        Assert.Equal(GrantFlags.Invalid, _gnt.FlagsOf(gref));
        // Revoked: Xen's _set_status says "Bad flags": GNTST_general_error.
        Assert.Equal(GrantStatus.GeneralError, _mapper.Map(Guest, gref, readOnly: true, out _));
    }

    [Fact]
    public void Read_only_grant_maps_read_only_and_refuses_writable()
    {
        uint gref = Grant(readOnly: true);
        Assert.Equal(GrantStatus.GeneralError, _mapper.Map(Guest, gref, readOnly: false, out _));
        Assert.Equal(GrantStatus.Okay, _mapper.Map(Guest, gref, readOnly: true, out GrantMapping m));
        Assert.True(m.Span.IsEmpty); // no writable view of a read-only mapping
        Assert.Equal(GrantFlags.PermitAccess | GrantFlags.ReadOnly | GrantFlags.Reading, _gnt.FlagsOf(gref));
        Assert.Equal(GrantStatus.GeneralError, _mapper.CopyTo(Guest, gref, 0, new byte[8]));
        Assert.Equal(GrantStatus.Okay, _mapper.Unmap(m));
    }

    [Fact]
    public void Reading_and_writing_pins_are_counted_separately()
    {
        uint gref = Grant();
        Assert.Equal(GrantStatus.Okay, _mapper.Map(Guest, gref, readOnly: true, out GrantMapping ro));
        Assert.Equal(GrantStatus.Okay, _mapper.Map(Guest, gref, readOnly: false, out GrantMapping rw));
        Assert.Equal(GrantFlags.PermitAccess | GrantFlags.Reading | GrantFlags.Writing, _gnt.FlagsOf(gref));
        Assert.Equal(GrantStatus.Okay, _mapper.Unmap(rw));
        Assert.Equal(GrantFlags.PermitAccess | GrantFlags.Reading, _gnt.FlagsOf(gref));
        Assert.False(_gnt.EndForeignAccessRef(gref));
        Assert.Equal(GrantStatus.Okay, _mapper.Unmap(ro));
        Assert.True(_gnt.EndForeignAccessRef(gref));
    }

    [Fact]
    public void A_reference_granted_to_another_domain_yields_an_error_and_no_data()
    {
        uint gref = Grant(to: Other);
        _mem.Page(_frame).Fill(0x77);
        Assert.Equal(GrantStatus.GeneralError, _mapper.Map(Guest, gref, readOnly: true, out GrantMapping m));
        Assert.True(m.Address == null);
        byte[] buf = new byte[16];
        Assert.Equal(GrantStatus.GeneralError, _mapper.CopyFrom(Guest, gref, 0, buf));
        Assert.All(buf, b => Assert.Equal(0, b));
    }

    [Fact]
    public void Out_of_range_reference_unknown_domain_and_own_domain()
    {
        Assert.Equal(GrantStatus.BadGntref, _mapper.Map(Guest, 512, readOnly: true, out _));
        Assert.Equal(GrantStatus.BadGntref, _mapper.Map(Guest, uint.MaxValue, readOnly: true, out _));
        Assert.Equal(GrantStatus.BadDomain, _mapper.Map(9, 8, readOnly: true, out _));
        Assert.Equal(GrantStatus.BadDomain, _mapper.Map(60000, 8, readOnly: true, out _));
        Assert.Equal(GrantStatus.PermissionDenied, new GrantMapper(_run.Host, Guest).Map(Guest, Grant(to: Guest), true, out _));
    }

    [Fact]
    public void A_frame_outside_the_guest_or_in_its_grant_table_is_a_bad_page_and_leaves_no_busy_bit()
    {
        uint bad = GrantTableFrontend.ReservedEntries + 100;
        _gnt.GrantForeignAccessRef(bad, Back, 0x0FFF_FFFF, readOnly: false);
        Assert.Equal(GrantStatus.BadPage, _mapper.Map(Guest, bad, readOnly: false, out _));
        Assert.Equal(GrantFlags.PermitAccess, _gnt.FlagsOf(bad));
        _gnt.GrantForeignAccessRef(bad + 1, Back, 0, readOnly: false);
        Assert.Equal(GrantStatus.BadPage, _mapper.Map(Guest, bad + 1, readOnly: true, out _));
        Assert.Equal(GrantFlags.PermitAccess, _gnt.FlagsOf(bad + 1));
        Assert.Equal(GrantStatus.BadPage, _gnt.GrantForeignAccess(Back, 0, false, out _));
        Assert.Equal(GrantStatus.BadPage, _gnt.GrantForeignAccess(Back, 1000, false, out _));
    }

    [Fact]
    public void A_guest_memory_file_shorter_than_the_domain_table_says_is_a_bad_domain_not_a_crash()
    {
        Host fresh = Host.Open(_run.Path); // a process that has not mapped dom2 yet
        File.WriteAllBytes(_run.Host.MemoryPath(Other), new byte[100]);
        Assert.Null(fresh.MapGuestMemory(Other));
        Assert.Equal(GrantStatus.BadDomain, new GrantMapper(fresh, Back).Map(Other, 8, readOnly: true, out _));
        fresh.Dispose();
    }

    [Fact]
    public void Unmapping_a_grant_of_a_destroyed_domain_does_not_touch_its_successor_s_pins()
    {
        uint gref = Grant();
        Assert.Equal(GrantStatus.Okay, _mapper.Map(Guest, gref, readOnly: false, out GrantMapping stale));
        Assert.Equal(XenError.Ok, _run.Host.DestroyDomain(Guest));
        Assert.Equal(XenError.Ok, _run.Host.CreateDomain(Guest, 16, 1));
        GuestMemory mem = _run.Host.MapGuestMemory(Guest)!;
        GrantTableFrontend gnt = new(mem);
        Assert.Equal(GrantStatus.Okay, gnt.GrantForeignAccess(Back, _frame, readOnly: false, out uint fresh));
        Assert.Equal(gref, fresh); // same reference number in the new domain
        Assert.Equal(GrantStatus.Okay, _mapper.Map(Guest, fresh, readOnly: false, out GrantMapping live));

        Assert.Equal(GrantStatus.Okay, _mapper.Unmap(stale)); // the old domain's pin: nothing to drop
        Assert.False(gnt.EndForeignAccessRef(fresh));          // the live mapping still holds its pin
        Assert.Equal(GrantStatus.Okay, _mapper.Unmap(live));
        Assert.True(gnt.EndForeignAccessRef(fresh));
    }

    [Fact]
    public void Wrong_grant_type_is_refused()
    {
        uint gref = Grant();
        Volatile.Write(ref ((GrantEntryV1*)_mem.Base)[gref].Flags, (ushort)GrantFlags.AcceptTransfer);
        Assert.Equal(GrantStatus.GeneralError, _mapper.Map(Guest, gref, readOnly: true, out _));
    }

    [Fact]
    public void Unknown_or_twice_unmapped_handle_is_a_bad_handle()
    {
        Assert.Equal(GrantStatus.BadHandle, _mapper.Unmap(-1));
        Assert.Equal(GrantStatus.BadHandle, _mapper.Unmap(123456));
        Assert.Equal(GrantStatus.Okay, _mapper.Map(Guest, Grant(), readOnly: true, out GrantMapping m));
        Assert.Equal(GrantStatus.Okay, _mapper.Unmap(m));
        Assert.Equal(GrantStatus.BadHandle, _mapper.Unmap(m));
    }

    [Fact]
    public void Full_maptrack_is_no_space_and_leaves_no_pin()
    {
        GrantMapper small = new(_run.Host, Back, maxMappings: 1);
        uint gref = Grant();
        Assert.Equal(GrantStatus.Okay, small.Map(Guest, gref, readOnly: true, out GrantMapping m));
        Assert.Equal(GrantStatus.NoSpace, small.Map(Guest, gref, readOnly: false, out _));
        Assert.Equal(GrantFlags.PermitAccess | GrantFlags.Reading, _gnt.FlagsOf(gref));
        Assert.Equal(GrantStatus.Okay, small.Unmap(m));
        Assert.True(_gnt.EndForeignAccessRef(gref));
    }

    [Fact]
    public void Grant_copy_both_ways_and_bad_copy_arguments()
    {
        uint gref = Grant();
        Assert.Equal(GrantStatus.Okay, _mapper.CopyTo(Guest, gref, 4000, "hello"u8));
        Assert.True(_mem.Page(_frame).Slice(4000, 5).SequenceEqual("hello"u8));
        byte[] back = new byte[5];
        Assert.Equal(GrantStatus.Okay, _mapper.CopyFrom(Guest, gref, 4000, back));
        Assert.Equal("hello"u8.ToArray(), back);
        Assert.Equal(GrantStatus.BadCopyArg, _mapper.CopyTo(Guest, gref, 4092, "hello"u8));
        Assert.Equal(GrantStatus.BadCopyArg, _mapper.CopyFrom(Guest, gref, -1, back));
        Assert.Equal(GrantFlags.PermitAccess, _gnt.FlagsOf(gref)); // copies leave no pin
    }

    [Fact]
    public void Persistent_mapping_survives_the_guest_rewriting_its_entry()
    {
        uint gref = Grant();
        Assert.Equal(GrantStatus.Okay, _mapper.Map(Guest, gref, readOnly: false, out GrantMapping m));
        // A hostile guest points the entry elsewhere while it is mapped: the latched frame stays.
        ((GrantEntryV1*)_mem.Base)[gref].Frame = _frame + 1;
        Assert.Equal(GrantStatus.Okay, _mapper.Map(Guest, gref, readOnly: true, out GrantMapping m2));
        Assert.True(m.Address == m2.Address);
        for (int i = 0; i < 1000; i++)
        {
            m.Span[i % 4096] = (byte)i; // reuse with no map/unmap per use
        }

        Assert.Equal(GrantStatus.Okay, _mapper.Unmap(m2));
        Assert.Equal(GrantStatus.Okay, _mapper.Unmap(m));
    }

    [Fact]
    public void A_lock_held_by_a_live_process_gives_eagain_not_a_hang()
    {
        uint gref = Grant();
        ActiveGrantEntry* act = _run.Host.ActiveGrant(Guest, gref);
        act->Lock = 1; // init: alive, never releases
        Assert.Equal(GrantStatus.EAgain, _mapper.Map(Guest, gref, readOnly: true, out _));
        act->Lock = 0;
        Assert.Equal(GrantStatus.Okay, _mapper.Map(Guest, gref, readOnly: true, out GrantMapping m));
        Assert.Equal(GrantStatus.Okay, _mapper.Unmap(m));
    }

    [Fact]
    public void Grant_table_full_is_no_space()
    {
        int free = _gnt.FreeCount;
        for (int i = 0; i < free; i++)
        {
            Assert.Equal(GrantStatus.Okay, _gnt.GrantForeignAccess(Back, _frame, true, out _));
        }

        Assert.Equal(GrantStatus.NoSpace, _gnt.GrantForeignAccess(Back, _frame, true, out _));
    }
}
