using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Tolapai.Xen.EventChannel;
using Tolapai.Xen.GrantTable;
using Tolapai.Xen.Hypervisor;
using Tolapai.Xen.PingPong;
using Tolapai.Xen.Ring;
using Tolapai.Xen.TestChild;

namespace Tolapai.Xen.Tests;

/// <summary>Every shared structure's offsets and sizes against Xen's public headers (DESIGN.md §2).</summary>
public class LayoutTests
{
    private static int Off<T>(string field) => (int)Marshal.OffsetOf<T>(field);

    [Fact]
    public void Sring_header_is_io_ring_h()
    {
        Assert.Equal(64, Unsafe.SizeOf<SharedRingHeader>());
        Assert.Equal(0, Off<SharedRingHeader>(nameof(SharedRingHeader.ReqProd)));
        Assert.Equal(4, Off<SharedRingHeader>(nameof(SharedRingHeader.ReqEvent)));
        Assert.Equal(8, Off<SharedRingHeader>(nameof(SharedRingHeader.RspProd)));
        Assert.Equal(12, Off<SharedRingHeader>(nameof(SharedRingHeader.RspEvent)));
        Assert.Equal(16, Off<SharedRingHeader>(nameof(SharedRingHeader.Pvt)));
        Assert.Equal(20, Off<SharedRingHeader>(nameof(SharedRingHeader.Pad)));
        Assert.Equal(64, SharedRingHeader.EntriesOffset);
    }

    [Fact]
    public void Grant_entry_v1_and_flags_and_status_codes_are_grant_table_h()
    {
        Assert.Equal(8, Unsafe.SizeOf<GrantEntryV1>());
        Assert.Equal(0, Off<GrantEntryV1>(nameof(GrantEntryV1.Flags)));
        Assert.Equal(2, Off<GrantEntryV1>(nameof(GrantEntryV1.DomId)));
        Assert.Equal(4, Off<GrantEntryV1>(nameof(GrantEntryV1.Frame)));
        Assert.Equal(512, GrantEntryV1.PerFrame);
        Assert.Equal(1, (int)GrantFlags.PermitAccess);
        Assert.Equal(2, (int)GrantFlags.AcceptTransfer);
        Assert.Equal(1 << 2, (int)GrantFlags.ReadOnly);
        Assert.Equal(1 << 3, (int)GrantFlags.Reading);
        Assert.Equal(1 << 4, (int)GrantFlags.Writing);
        int[] expected = [0, -1, -2, -3, -4, -5, -6, -7, -8, -9, -10, -11, -12, -13];
        GrantStatus[] codes = [GrantStatus.Okay, GrantStatus.GeneralError, GrantStatus.BadDomain, GrantStatus.BadGntref, GrantStatus.BadHandle,
            GrantStatus.BadVirtAddr, GrantStatus.BadDevAddr, GrantStatus.NoDeviceSpace, GrantStatus.PermissionDenied, GrantStatus.BadPage,
            GrantStatus.BadCopyArg, GrantStatus.AddressTooBig, GrantStatus.EAgain, GrantStatus.NoSpace];
        Assert.Equal(expected, codes.Select(c => (int)c));
    }

    [Fact]
    public void Hypervisor_region_entries_are_one_cache_line_each()
    {
        Assert.Equal(64, Unsafe.SizeOf<HypervisorHeader>());
        Assert.Equal(64, Unsafe.SizeOf<DomainEntry>());
        Assert.Equal(0, Off<DomainEntry>(nameof(DomainEntry.State)));
        Assert.Equal(4, Off<DomainEntry>(nameof(DomainEntry.DomId)));
        Assert.Equal(8, Off<DomainEntry>(nameof(DomainEntry.Pid)));
        Assert.Equal(12, Off<DomainEntry>(nameof(DomainEntry.GrantFrames)));
        Assert.Equal(16, Off<DomainEntry>(nameof(DomainEntry.StartTime)));
        Assert.Equal(24, Off<DomainEntry>(nameof(DomainEntry.Heartbeat)));
        Assert.Equal(32, Off<DomainEntry>(nameof(DomainEntry.Pages)));
        Assert.Equal(36, Off<DomainEntry>(nameof(DomainEntry.Generation)));
        Assert.Equal(64, Unsafe.SizeOf<EventChannelEntry>());
        Assert.Equal(0, Off<EventChannelEntry>(nameof(EventChannelEntry.State)));
        Assert.Equal(4, Off<EventChannelEntry>(nameof(EventChannelEntry.RemoteDomId)));
        Assert.Equal(8, Off<EventChannelEntry>(nameof(EventChannelEntry.RemotePort)));
        Assert.Equal(12, Off<EventChannelEntry>(nameof(EventChannelEntry.Pending)));
        Assert.Equal(16, Off<EventChannelEntry>(nameof(EventChannelEntry.Parked)));
        Assert.Equal(24, Off<EventChannelEntry>(nameof(EventChannelEntry.Notifies)));
        Assert.Equal(16, Unsafe.SizeOf<ActiveGrantEntry>());
        Assert.Equal(0, Off<ActiveGrantEntry>(nameof(ActiveGrantEntry.Lock)));
        Assert.Equal(4, Off<ActiveGrantEntry>(nameof(ActiveGrantEntry.ReadPins)));
        Assert.Equal(6, Off<ActiveGrantEntry>(nameof(ActiveGrantEntry.WritePins)));
        Assert.Equal(8, Off<ActiveGrantEntry>(nameof(ActiveGrantEntry.Frame)));
        Assert.Equal(12, Off<ActiveGrantEntry>(nameof(ActiveGrantEntry.Mapper)));
        Assert.Equal(0x4E45_5850_414C_4F54UL, BitConverter.ToUInt64("TOLAPXEN"u8));
    }

    [Fact]
    public void Ping_pong_lines_are_on_separate_cache_lines()
    {
        Assert.Equal(128, Unsafe.SizeOf<PingPongLines>());
        Assert.Equal(0, Off<PingPongLines>(nameof(PingPongLines.Ping)));
        Assert.Equal(64, Off<PingPongLines>(nameof(PingPongLines.Pong)));
    }

    [Theory]
    [InlineData(4096, 112, 32)]   // blkif: 112-byte union, one page → BLK_RING_SIZE 32
    [InlineData(4096, 12, 256)]   // netif tx: (4096−64)/12 = 336 → 256
    [InlineData(4096, 64, 32)]    // (4096−64)/64 = 63 → 32
    [InlineData(16384, 64, 128)]  // 4 pages: 255 → 128
    [InlineData(4096, 4032, 1)]
    [InlineData(4096, 4033, 0)]
    [InlineData(64, 8, 0)]
    public void Ring_size_rounds_down_to_a_power_of_two(long bytes, int entry, uint expected) =>
        Assert.Equal(expected, SharedRing.RingSize(bytes, entry));

    [Fact]
    public void Entry_size_is_the_C_union_size()
    {
        Assert.Equal(64, SharedRing.EntrySize<TestRequest, TestResponse>());
        Assert.Equal(16, SharedRing.EntrySize<Twelve4, Eight8>());  // union {12 align 4; 8 align 8} = 16
        Assert.Equal(12, SharedRing.EntrySize<Twelve4, Eight4>());  // union {12 align 4; 8 align 4} = 12
        Assert.Equal(8, SharedRing.AlignOf<Eight8>());
        Assert.Equal(4, SharedRing.AlignOf<Eight4>());
    }

    [Fact]
    public void Test_messages_are_what_the_ring_tests_assume()
    {
        Assert.Equal(64, Unsafe.SizeOf<TestRequest>());
        Assert.Equal(16, Unsafe.SizeOf<TestResponse>());
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct Twelve4
    {
        public uint A, B, C;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct Eight8
    {
        public ulong A;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct Eight4
    {
        public uint A, B;
    }
}
