using Tolapai.Ixp.Frontend;
using Tolapai.Xen.Hypervisor;
using Tolapai.Xen.Memory;

namespace Tolapai.Ixp.Tests;

public class GuestPageAllocatorTests
{
    [Fact]
    public void Hands_out_zeroed_runs_of_free_frames_around_reserved_ones_and_takes_them_back()
    {
        string dir = Path.Combine(Host.DefaultRoot, "tolapai-ixp-alloc-" + Guid.NewGuid().ToString("N")[..12]);
        using Host host = Host.Create(dir);
        try
        {
            Assert.Equal(XenError.Ok, host.CreateDomain(1, 12, 2));
            GuestMemory memory = host.MapGuestMemory(1)!;
            memory.Page(5).Fill(0xAA);
            var pages = GuestPageAllocator.AllExcept(memory, 4u, 11u); // frames 2..11 less the xenstore page (11) and 4
            Assert.Equal(8, pages.FreeCount);
            Assert.True(pages.TryAllocateContiguous(3, out uint run));
            Assert.Equal(5u, run); // 2, 3 then 4 reserved: the first run of three is 5..7
            Assert.True(memory.PageRange(5, 3).ToArray().All(b => b == 0));
            Assert.True(pages.TryAllocateContiguous(2, out uint two));
            Assert.Equal(2u, two);
            Assert.False(pages.TryAllocateContiguous(4, out _)); // 8..10 is the longest run left
            pages.Free(6);
            pages.Free(11); // reserved, never handed out: ignored
            pages.Free(99); // not ours: ignored
            Assert.Equal(4, pages.FreeCount);
            Assert.Throws<ArgumentOutOfRangeException>(() => new GuestPageAllocator(memory, 0, 3)); // the grant table
            Assert.Throws<ArgumentOutOfRangeException>(() => new GuestPageAllocator(memory, 10, 5)); // past the end
        }
        finally
        {
            host.Dispose();
            Directory.Delete(dir, recursive: true);
        }
    }
}
