using System.Numerics;
using System.Runtime.CompilerServices;
using Tolapai.Xen.Memory;

namespace Tolapai.Xen.Ring;

/// <summary>Geometry and the notification rule of Xen's io/ring.h, shared by both views.</summary>
public static unsafe class SharedRing
{
    /// <summary>Largest ring page order accepted (blkif's XENBUS_MAX_RING_GRANT_ORDER).</summary>
    public const int MaxPageOrder = 4;

    /// <summary>
    /// Size of the entry union: the larger of request and response (each already padded to
    /// its alignment by the compiler), rounded up to their common alignment, as C's union is.
    /// </summary>
    public static int EntrySize<TRequest, TResponse>()
        where TRequest : unmanaged
        where TResponse : unmanaged
    {
        int size = Math.Max(sizeof(TRequest), sizeof(TResponse));
        int align = Math.Max(AlignOf<TRequest>(), AlignOf<TResponse>());
        return (size + align - 1) & -align;
    }

    /// <summary>
    /// __RING_SIZE: entries for <paramref name="ringBytes"/> bytes = (bytes − 64) / entry size,
    /// rounded DOWN to a power of two; 0 when not even one entry fits.
    /// </summary>
    public static uint RingSize(long ringBytes, int entrySize)
    {
        if (entrySize <= 0 || ringBytes < SharedRingHeader.EntriesOffset + entrySize)
        {
            return 0;
        }

        long n = (ringBytes - SharedRingHeader.EntriesOffset) / entrySize;
        return n >= 1L << 31 ? 1u << 31 : BitOperations.RoundUpToPowerOf2((uint)n + 1) >> 1;
    }

    /// <summary>Ring bytes for a ring of 2^<paramref name="pageOrder"/> pages; −1 for an order out of range.</summary>
    public static long BytesForOrder(int pageOrder) =>
        pageOrder is < 0 or > MaxPageOrder ? -1 : (long)GuestMemory.PageSize << pageOrder;

    /// <summary>True when <paramref name="ringBytes"/> is 4096 × 2^order for an order 0..<see cref="MaxPageOrder"/>.</summary>
    public static bool IsRingByteCount(long ringBytes)
    {
        for (int order = 0; order <= MaxPageOrder; order++)
        {
            if (ringBytes == BytesForOrder(order))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// The XenStore key of ring page <paramref name="index"/> as blkif names them: "ring-ref"
    /// for a one-page ring, "ring-ref0".."ring-refN" when "ring-page-order" is written.
    /// </summary>
    public static string RingRefKey(int pageOrder, int index) =>
        pageOrder == 0 ? "ring-ref" : "ring-ref" + index.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>XenStore key of the ring page order (blkif's multi-page ring feature).</summary>
    public const string RingPageOrderKey = "ring-page-order";

    /// <summary>XenStore key a backend advertises its largest ring page order under.</summary>
    public const string MaxRingPageOrderKey = "max-ring-page-order";

    /// <summary>SHARED_RING_INIT: prods 0, events 1; pad cleared. The frontend calls it before granting the ring.</summary>
    public static void Initialize(byte* ring)
    {
        SharedRingHeader* h = (SharedRingHeader*)ring;
        *h = default;
        h->ReqEvent = 1;
        h->RspEvent = 1;
        // Full fence: the initialised header is visible before the ring is granted or announced.
        Interlocked.MemoryBarrier();
    }

    /// <summary>
    /// Xen's notification rule after publishing <paramref name="newProd"/> over
    /// <paramref name="oldProd"/>: notify iff the peer's event index lies in (old, new],
    /// i.e. <c>(u32)(new − event) &lt; (u32)(new − old)</c>. Wrap-safe.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool NeedsNotify(uint oldProd, uint newProd, uint eventIndex) => newProd - eventIndex < newProd - oldProd;

    /// <summary>The alignment the runtime gives <typeparamref name="T"/> as a field (C's _Alignof).</summary>
    public static int AlignOf<T>()
        where T : unmanaged => sizeof(AlignProbe<T>) - sizeof(T);

    [System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Sequential)]
    private struct AlignProbe<T>
        where T : unmanaged
    {
        public byte Before;
        public T Value;
    }
}
