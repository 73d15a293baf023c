using Tolapai.Xen.Memory;

namespace Tolapai.Xen.GrantTable;

/// <summary>Several granted pages mapped side by side (a multi-page ring's ring-ref0..N).</summary>
public sealed unsafe class MultiPageMapping
{
    internal MultiPageMapping(GrantMapping[] pages, FrameWindow? window)
    {
        Pages = pages;
        Window = window;
    }

    /// <summary>First byte of the contiguous range.</summary>
    public byte* Address => Window is null ? Pages[0].Address : Window.Address;

    /// <summary>Bytes mapped.</summary>
    public long Length => (long)Pages.Length << GuestMemory.PageShift;

    internal GrantMapping[] Pages { get; }

    internal FrameWindow? Window { get; }
}

public sealed unsafe partial class GrantMapper
{
    /// <summary>Largest number of pages <see cref="MapPages"/> accepts (ring-page-order ≤ 4).</summary>
    public const int MaxPages = 16;

    /// <summary>
    /// Maps the pages granted by <paramref name="grefs"/> into one contiguous range, whatever
    /// frames they name: each is pinned as by <see cref="Map"/>, then placed side by side with
    /// mmap. The count must be a power of two up to <see cref="MaxPages"/> (a ring page order);
    /// otherwise GeneralError. Any failing reference fails the whole call and pins nothing.
    /// </summary>
    public GrantStatus MapPages(ushort guestDomid, ReadOnlySpan<uint> grefs, bool readOnly, out MultiPageMapping? mapping)
    {
        mapping = null;
        if (grefs.Length is 0 or > MaxPages || (grefs.Length & (grefs.Length - 1)) != 0)
        {
            return GrantStatus.GeneralError;
        }

        GrantMapping[] pages = new GrantMapping[grefs.Length];
        for (int i = 0; i < grefs.Length; i++)
        {
            GrantStatus st = Map(guestDomid, grefs[i], readOnly, out pages[i]);
            if (st != GrantStatus.Okay)
            {
                for (int j = 0; j < i; j++)
                {
                    _ = Unmap(pages[j]);
                }

                return st;
            }
        }

        bool contiguous = true;
        for (int i = 1; i < pages.Length; i++)
        {
            contiguous &= pages[i].Address == pages[0].Address + ((long)i << GuestMemory.PageShift);
        }

        FrameWindow? window = null;
        if (!contiguous)
        {
            GuestMemory guest = _host.MapGuestMemory(guestDomid)!;
            Span<uint> frames = stackalloc uint[pages.Length];
            for (int i = 0; i < pages.Length; i++)
            {
                frames[i] = (uint)((pages[i].Address - guest.Base) >> GuestMemory.PageShift);
            }

            window = FrameWindow.Map(guest.Path, frames, readOnly);
            if (window is null)
            {
                foreach (GrantMapping p in pages)
                {
                    _ = Unmap(p);
                }

                return GrantStatus.GeneralError;
            }
        }

        mapping = new MultiPageMapping(pages, window);
        return GrantStatus.Okay;
    }

    /// <summary>Unmaps a <see cref="MapPages"/> result: the window first, then every pin.</summary>
    public GrantStatus UnmapPages(MultiPageMapping mapping)
    {
        mapping.Window?.Dispose();
        GrantStatus result = GrantStatus.Okay;
        foreach (GrantMapping p in mapping.Pages)
        {
            GrantStatus st = Unmap(p);
            result = result == GrantStatus.Okay ? st : result;
        }

        return result;
    }
}
