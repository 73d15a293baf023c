using System.Diagnostics.Tracing;

namespace Tolapai.Xen;

/// <summary>
/// Events of the emulated hypervisor ("Tolapai-Xen"): the logged reason when a connection is
/// stopped for bad input. Every method checks <see cref="EventSource.IsEnabled()"/> first and
/// uses the non-allocating WriteEvent overloads, so a disabled source costs a branch.
/// </summary>
[EventSource(Name = "Tolapai-Xen")]
public sealed class XenEventSource : EventSource
{
    /// <summary>The one instance.</summary>
    public static readonly XenEventSource Log = new();

    private XenEventSource()
    {
    }

    /// <summary>A backend stopped a ring: the frontend published req_prod the ring cannot hold (RING_REQUEST_PROD_OVERFLOW).</summary>
    [Event(1, Level = EventLevel.Warning, Message = "Frontend provided bogus ring requests: req_prod {0}, rsp_prod_pvt {1}, ring size {2}. Halting ring processing.")]
    public void RingRequestOverflow(uint reqProd, uint rspProdPvt, uint ringSize)
    {
        if (IsEnabled())
        {
            WriteEvent(1, (int)reqProd, (int)rspProdPvt, (int)ringSize);
        }
    }

    /// <summary>A frontend stopped a ring: the backend published rsp_prod beyond the requests published.</summary>
    [Event(2, Level = EventLevel.Warning, Message = "Backend provided bogus ring responses: rsp_prod {0}, rsp_cons {1}, req_prod {2}. Halting ring processing.")]
    public void RingResponseOverflow(uint rspProd, uint rspCons, uint reqProd)
    {
        if (IsEnabled())
        {
            WriteEvent(2, (int)rspProd, (int)rspCons, (int)reqProd);
        }
    }
}
