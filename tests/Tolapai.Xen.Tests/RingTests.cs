using System.Globalization;
using System.Runtime.InteropServices;
using Tolapai.Xen.Ring;
using Tolapai.Xen.TestChild;

namespace Tolapai.Xen.Tests;

/// <summary>Ring behaviour in one process over one page: wrap, notification rule, overflow checks.</summary>
public sealed unsafe class RingTests : IDisposable
{
    private readonly byte* _page = (byte*)NativeMemory.AlignedAlloc(4 * 4096, 4096);

    public void Dispose() => NativeMemory.AlignedFree(_page);

    private (FrontRing<TestRequest, TestResponse> Front, BackRing<TestRequest, TestResponse> Back) Attach(uint start, long bytes = 4096)
    {
        SharedRing.Initialize(_page);
        SharedRingHeader* h = (SharedRingHeader*)_page;
        h->ReqProd = h->RspProd = start;
        h->ReqEvent = h->RspEvent = start + 1;
        return (new(_page, bytes), new(_page, bytes));
    }

    private SharedRingHeader* Header => (SharedRingHeader*)_page;

    [Fact]
    public void Shared_ring_init_sets_prods_0_and_events_1()
    {
        new Span<byte>(_page, 4096).Fill(0xCC);
        SharedRing.Initialize(_page);
        Assert.Equal(0u, Header->ReqProd);
        Assert.Equal(1u, Header->ReqEvent);
        Assert.Equal(0u, Header->RspProd);
        Assert.Equal(1u, Header->RspEvent);
        Assert.True(new Span<byte>(_page + 16, 48).IndexOfAnyExcept((byte)0) < 0);
    }

    [Theory]
    [InlineData(0u)]
    [InlineData(uint.MaxValue - 15)]  // 2^32 − 16: the indexes wrap inside the test
    [InlineData(uint.MaxValue - 32)]
    [InlineData(uint.MaxValue)]
    public void Requests_and_responses_cross_the_u32_wrap_in_order(uint start)
    {
        var (front, back) = Attach(start);
        Assert.Equal(32u, front.Size);
        int seed = Seeds.Next();
        Random rng = new(seed);
        ulong next = 0, answered = 0, received = 0;
        for (int round = 0; round < 200; round++)
        {
            int n = rng.Next(1, 33);
            for (int i = 0; i < n && front.TryWriteRequest(TestRequest.Make(next, (ulong)round)); i++)
            {
                next++;
            }

            front.PushRequestsAndCheckNotify();
            while (back.TryTakeRequest(out TestRequest req) == RingStatus.Ok)
            {
                Assert.True(req.Seq == answered && req.IsIntact(), $"seed {seed}: request {answered} got {req.Seq}");
                Assert.Equal(RingStatus.Ok, back.TryWriteResponse(TestResponse.For(req, 0)));
                answered++;
            }

            back.PushResponsesAndCheckNotify();
            while (front.TryTakeResponse(out TestResponse rsp) == RingStatus.Ok)
            {
                Assert.True(rsp.Seq == received, $"seed {seed}: response {received} got {rsp.Seq}");
                received++;
            }
        }

        Assert.Equal(next, received);
        Assert.True(next > 32, "the test must go around the ring more than once");
        Assert.Equal(unchecked(start + (uint)next), Header->ReqProd);
    }

    [Theory]
    // (old, new, event, notify): notify iff event ∈ (old, new], modulo 2^32.
    [InlineData(0u, 1u, 1u, true)]
    [InlineData(0u, 5u, 1u, true)]
    [InlineData(0u, 5u, 5u, true)]
    [InlineData(0u, 5u, 6u, false)]         // peer asked for a later one: not yet
    [InlineData(5u, 9u, 5u, false)]         // event already passed: the peer is busy, no notify
    [InlineData(5u, 9u, 0u, false)]
    [InlineData(0xFFFFFFF0u, 0x10u, 0xFFFFFFFFu, true)]  // range crosses the wrap
    [InlineData(0xFFFFFFF0u, 0x10u, 0x0u, true)]
    [InlineData(0xFFFFFFF0u, 0x10u, 0x10u, true)]
    [InlineData(0xFFFFFFF0u, 0x10u, 0x11u, false)]
    [InlineData(0xFFFFFFF0u, 0x10u, 0xFFFFFFF0u, false)]
    [InlineData(7u, 7u, 7u, false)]         // nothing published
    public void Notification_rule(uint oldProd, uint newProd, uint evt, bool notify) =>
        Assert.Equal(notify, SharedRing.NeedsNotify(oldProd, newProd, evt));

    [Fact]
    public void Sleeping_backend_is_notified_once_and_a_busy_one_never()
    {
        var (front, back) = Attach(uint.MaxValue - 1);
        Assert.False(back.FinalCheckForRequests()); // re-arms req_event = req_cons + 1, then sleeps
        Assert.True(front.TryWriteRequest(TestRequest.Make(0, 0)));
        Assert.True(front.PushRequestsAndCheckNotify());   // the sleeper asked: notify
        Assert.True(front.TryWriteRequest(TestRequest.Make(1, 0)));
        Assert.False(front.PushRequestsAndCheckNotify());  // already notified, not re-armed: busy, no notify
        Assert.Equal(RingStatus.Ok, back.TryTakeRequest(out _));
        Assert.True(back.FinalCheckForRequests());          // one left: no re-arm needed
        Assert.Equal(RingStatus.Ok, back.TryTakeRequest(out _));
        Assert.False(back.FinalCheckForRequests());
        Assert.True(front.TryWriteRequest(TestRequest.Make(2, 0)));
        Assert.True(front.PushRequestsAndCheckNotify());   // re-armed across the wrap: notify again
        Assert.False(front.PushRequestsAndCheckNotify());  // nothing new published
    }

    [Fact]
    public void Final_check_finds_a_request_published_before_the_re_arm()
    {
        var (front, back) = Attach(0);
        Assert.True(front.TryWriteRequest(TestRequest.Make(0, 0)));
        front.PushRequests(); // published without notify: the backend must not sleep on it
        Assert.True(back.FinalCheckForRequests());
    }

    [Fact]
    public void Responses_notify_only_a_frontend_that_asked()
    {
        var (front, back) = Attach(100);
        front.TryWriteRequest(TestRequest.Make(0, 0));
        front.TryWriteRequest(TestRequest.Make(1, 0));
        front.PushRequests();
        Assert.False(front.FinalCheckForResponses()); // arms rsp_event = rsp_cons + 1
        back.TryTakeRequest(out TestRequest r0);
        back.TryWriteResponse(TestResponse.For(r0, 0));
        Assert.True(back.PushResponsesAndCheckNotify());
        back.TryTakeRequest(out TestRequest r1);
        back.TryWriteResponse(TestResponse.For(r1, 0));
        Assert.False(back.PushResponsesAndCheckNotify());
    }

    [Fact]
    public void Front_is_full_after_size_requests_and_back_cannot_answer_unasked()
    {
        var (front, back) = Attach(uint.MaxValue - 15);
        for (uint i = 0; i < front.Size; i++)
        {
            Assert.True(front.TryWriteRequest(TestRequest.Make(i, 0)));
        }

        Assert.True(front.IsFull);
        Assert.False(front.TryWriteRequest(TestRequest.Make(99, 0)));
        Assert.Equal(RingStatus.Full, back.TryWriteResponse(default));
    }

    [Theory]
    [InlineData(33u)]            // one more than the ring holds
    [InlineData(1000u)]
    [InlineData(0xFFFFFFFFu)]    // req_prod moved backwards by one
    [InlineData(0x80000000u)]
    public void Bogus_req_prod_stops_the_ring_without_reading_outside_it(uint ahead)
    {
        var (_, back) = Attach(uint.MaxValue - 15);
        Header->ReqProd = unchecked(uint.MaxValue - 15 + ahead);
        Assert.Equal(RingStatus.Overflow, back.TryTakeRequest(out _));
        Assert.True(back.IsStopped);
        Assert.Equal(0u, back.UnconsumedRequests);
        Header->ReqProd = uint.MaxValue - 14; // even a sane value later: the connection stays stopped
        Assert.Equal(RingStatus.Overflow, back.TryTakeRequest(out _));
        Assert.False(back.FinalCheckForRequests());
    }

    [Fact]
    public void A_stopped_ring_logs_its_reason()
    {
        using RingEventListener listener = new();
        var (_, back) = Attach(100);
        Header->ReqProd = 100 + 33;
        Assert.Equal(RingStatus.Overflow, back.TryTakeRequest(out _));
        Assert.Contains(listener.Events, e => e.EventId == 1 && Convert.ToUInt32(e.Payload![0], CultureInfo.InvariantCulture) == 133 && Convert.ToUInt32(e.Payload[1], CultureInfo.InvariantCulture) == 100 && Convert.ToUInt32(e.Payload[2], CultureInfo.InvariantCulture) == 32);
    }

    private sealed class RingEventListener : System.Diagnostics.Tracing.EventListener
    {
        public System.Collections.Concurrent.ConcurrentBag<System.Diagnostics.Tracing.EventWrittenEventArgs> Events { get; } = [];

        protected override void OnEventSourceCreated(System.Diagnostics.Tracing.EventSource eventSource)
        {
            if (eventSource.Name == "Tolapai-Xen")
            {
                EnableEvents(eventSource, System.Diagnostics.Tracing.EventLevel.Warning);
            }
        }

        protected override void OnEventWritten(System.Diagnostics.Tracing.EventWrittenEventArgs eventData) => Events.Add(eventData);
    }

    [Fact]
    public void Req_prod_exactly_a_ring_ahead_is_legal()
    {
        var (_, back) = Attach(uint.MaxValue - 15);
        Header->ReqProd = unchecked(uint.MaxValue - 15 + 32);
        for (int i = 0; i < 32; i++)
        {
            Assert.Equal(RingStatus.Ok, back.TryTakeRequest(out _));
        }

        // RING_REQUEST_CONS_OVERFLOW: a ring's worth taken and none answered: wait for responses.
        Assert.Equal(RingStatus.Empty, back.TryTakeRequest(out _));
        Assert.False(back.IsStopped);
    }

    [Fact]
    public void Bogus_rsp_prod_stops_the_front()
    {
        var (front, _) = Attach(5);
        front.TryWriteRequest(TestRequest.Make(0, 0));
        front.PushRequests();
        Header->RspProd = 5 + 2; // two responses to one request
        Assert.Equal(RingStatus.Overflow, front.TryTakeResponse(out _));
        Assert.True(front.IsStopped);
    }

    [Fact]
    public void A_response_to_an_unpublished_request_stops_the_front()
    {
        var (front, _) = Attach(5);
        front.TryWriteRequest(TestRequest.Make(0, 0)); // written, not pushed
        Header->RspProd = 6;
        Assert.Equal(RingStatus.Overflow, front.TryTakeResponse(out _));
    }

    [Fact]
    public void Request_is_copied_once_so_later_writes_to_the_slot_do_not_change_it()
    {
        var (front, back) = Attach(0);
        front.TryWriteRequest(TestRequest.Make(0, 42));
        front.PushRequests();
        Assert.Equal(RingStatus.Ok, back.TryTakeRequest(out TestRequest copy));
        new Span<byte>(_page + SharedRingHeader.EntriesOffset, 64).Fill(0xFF);
        Assert.True(copy.IsIntact());
        Assert.Equal(42UL, copy.Salt);
    }

    [Fact]
    public void Multi_page_ring_uses_the_power_of_two_below_its_capacity()
    {
        var (front, back) = Attach(uint.MaxValue - 100, bytes: 4 * 4096);
        Assert.Equal(128u, front.Size);
        Assert.Equal(128u, back.Size);
        for (ulong i = 0; i < 128; i++)
        {
            Assert.True(front.TryWriteRequest(TestRequest.Make(i, i)));
        }

        front.PushRequests();
        for (ulong i = 0; i < 128; i++)
        {
            Assert.Equal(RingStatus.Ok, back.TryTakeRequest(out TestRequest r));
            Assert.Equal(i, r.Seq);
            Assert.True(r.IsIntact());
        }
    }

    [Theory]
    [InlineData(4096L, true)]
    [InlineData(8192L, true)]
    [InlineData(65536L, true)]
    [InlineData(131072L, false)]  // order 5: beyond the largest order
    [InlineData(12288L, false)]   // 3 pages: not an order
    [InlineData(100L, false)]
    [InlineData(0L, false)]
    [InlineData(-4096L, false)]
    public void Wrong_ring_size_or_page_order_is_refused_without_throwing(long bytes, bool ok) =>
        Assert.Equal(ok, BackRing<TestRequest, TestResponse>.TryAttach(_page, bytes, out _));

    [Fact]
    public void Ring_ref_keys_are_named_as_blkif_names_them()
    {
        Assert.Equal("ring-ref", SharedRing.RingRefKey(0, 0));
        Assert.Equal("ring-ref0", SharedRing.RingRefKey(2, 0));
        Assert.Equal("ring-ref3", SharedRing.RingRefKey(2, 3));
        Assert.Equal("ring-page-order", SharedRing.RingPageOrderKey);
    }

    [Fact]
    public void A_ring_too_small_for_one_entry_is_refused() =>
        Assert.Throws<ArgumentException>(() => new BackRing<TestRequest, TestResponse>(_page, 100));
}
