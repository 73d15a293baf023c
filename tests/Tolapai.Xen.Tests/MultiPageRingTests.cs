using Tolapai.Xen.GrantTable;
using Tolapai.Xen.Hypervisor;
using Tolapai.Xen.Memory;
using Tolapai.Xen.Ring;
using Tolapai.Xen.TestChild;

namespace Tolapai.Xen.Tests;

/// <summary>Multi-page rings in scattered frames: ring-ref0..N mapped side by side on both ends.</summary>
public sealed unsafe class MultiPageRingTests : IDisposable
{
    private readonly TestRunDirectory _run = new();
    private readonly GuestMemory _mem;
    private readonly GrantTableFrontend _gnt;
    private readonly GrantMapper _mapper;

    public MultiPageRingTests()
    {
        Assert.Equal(XenError.Ok, _run.Host.CreateDomain(0, 2, 1));
        Assert.Equal(XenError.Ok, _run.Host.CreateDomain(1, 32, 1));
        _mem = _run.Host.MapGuestMemory(1)!;
        _gnt = new GrantTableFrontend(_mem);
        _mapper = new GrantMapper(_run.Host, 0);
    }

    public void Dispose() => _run.Dispose();

    [Fact]
    public void Scattered_frames_form_one_ring_on_both_ends()
    {
        uint[] frames = [9, 3, 17, 5];
        using FrameWindow window = _mem.MapFrames(frames)!;
        Assert.NotNull(window);
        window.Address[4096] = 0x5A; // slot 1 of the window is frame 3
        Assert.Equal(0x5A, _mem.Page(3)[0]);

        uint[] grefs = new uint[frames.Length];
        for (int i = 0; i < frames.Length; i++)
        {
            Assert.Equal(GrantStatus.Okay, _gnt.GrantForeignAccess(0, frames[i], readOnly: false, out grefs[i]));
        }

        SharedRing.Initialize(window.Address);
        FrontRing<TestRequest, TestResponse> front = new(window.Address, window.Length);
        Assert.Equal(GrantStatus.Okay, _mapper.MapPages(1, grefs, readOnly: false, out MultiPageMapping? m));
        BackRing<TestRequest, TestResponse> back = new(m!.Address, m.Length);
        Assert.Equal(128u, back.Size);

        for (ulong round = 0; round < 3; round++)
        {
            for (ulong i = 0; i < 128; i++)
            {
                Assert.True(front.TryWriteRequest(TestRequest.Make((round * 128) + i, i)));
            }

            front.PushRequests();
            for (ulong i = 0; i < 128; i++)
            {
                Assert.Equal(RingStatus.Ok, back.TryTakeRequest(out TestRequest r));
                Assert.True(r.IsIntact());
                Assert.Equal((round * 128) + i, r.Seq);
                Assert.Equal(RingStatus.Ok, back.TryWriteResponse(TestResponse.For(r, 0)));
            }

            back.PushResponsesAndCheckNotify();
            for (ulong i = 0; i < 128; i++)
            {
                Assert.Equal(RingStatus.Ok, front.TryTakeResponse(out TestResponse rsp));
                Assert.Equal((round * 128) + i, rsp.Seq);
            }
        }

        foreach (uint g in grefs)
        {
            Assert.False(_gnt.EndForeignAccessRef(g)); // still mapped
        }

        Assert.Equal(GrantStatus.Okay, _mapper.UnmapPages(m));
        foreach (uint g in grefs)
        {
            Assert.True(_gnt.EndForeignAccessRef(g));
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(3)]   // not a power of two: no such ring-page-order
    [InlineData(32)]  // beyond the largest order
    public void Wrong_page_count_is_refused(int count)
    {
        uint[] grefs = new uint[count];
        for (int i = 0; i < count; i++)
        {
            Assert.Equal(GrantStatus.Okay, _gnt.GrantForeignAccess(0, 1 + (uint)(i % 30), readOnly: false, out grefs[i]));
        }

        Assert.Equal(GrantStatus.GeneralError, _mapper.MapPages(1, grefs, readOnly: false, out _));
        Assert.Equal(0, _mapper.ActiveMappings);
    }

    [Fact]
    public void One_bad_reference_fails_the_whole_ring_and_leaves_no_pin()
    {
        Assert.Equal(GrantStatus.Okay, _gnt.GrantForeignAccess(0, 4, readOnly: false, out uint a));
        Assert.Equal(GrantStatus.Okay, _gnt.GrantForeignAccess(7, 6, readOnly: false, out uint foreign));
        Assert.Equal(GrantStatus.GeneralError, _mapper.MapPages(1, [a, foreign], readOnly: false, out _));
        Assert.Equal(0, _mapper.ActiveMappings);
        Assert.True(_gnt.EndForeignAccessRef(a));
    }
}
