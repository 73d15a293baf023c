using Microsoft.Win32.SafeHandles;
using Tolapai.Xen.Interop;

namespace Tolapai.Xen.Memory;

/// <summary>
/// Scattered frames of a memory file placed side by side in this process's address space, as
/// Xen maps a multi-page ring's ring-ref0..N into one virtual range. A range of address space
/// is reserved (PROT_NONE), then each frame's page of the file is mapped MAP_SHARED|MAP_FIXED
/// over its slot, so every byte written through the window is the guest's page itself, no copy.
/// </summary>
public sealed unsafe class FrameWindow : IDisposable
{
    private nint _base;

    private FrameWindow(nint address, long length)
    {
        _base = address;
        Length = length;
    }

    /// <summary>First byte of the window.</summary>
    public byte* Address => (byte*)_base;

    /// <summary>Bytes in the window (pages × 4096).</summary>
    public long Length { get; }

    /// <summary>Maps <paramref name="frames"/> of the file at <paramref name="path"/> side by side; null if any mmap fails.</summary>
    public static FrameWindow? Map(string path, ReadOnlySpan<uint> frames, bool readOnly)
    {
        if (frames.IsEmpty)
        {
            return null;
        }

        long length = (long)frames.Length << GuestMemory.PageShift;
        nint reserved = Mman.Mmap(0, (nuint)length, Mman.ProtNone, Mman.MapPrivate | Mman.MapAnonymous | Mman.MapNoReserve, -1, 0);
        if (reserved == Mman.MapFailed)
        {
            return null;
        }

        FrameWindow window = new(reserved, length);
        SafeFileHandle file;
        try
        {
            file = File.OpenHandle(path, FileMode.Open, readOnly ? FileAccess.Read : FileAccess.ReadWrite, FileShare.ReadWrite | FileShare.Delete);
        }
        catch (IOException)
        {
            window.Dispose();
            return null;
        }

        using (file)
        {
            int fd = (int)file.DangerousGetHandle();
            int prot = readOnly ? Mman.ProtRead : Mman.ProtRead | Mman.ProtWrite;
            for (int i = 0; i < frames.Length; i++)
            {
                nint at = reserved + ((nint)i << GuestMemory.PageShift);
                nint got = Mman.Mmap(at, GuestMemory.PageSize, prot, Mman.MapShared | Mman.MapFixed, fd, (long)frames[i] << GuestMemory.PageShift);
                if (got != at)
                {
                    window.Dispose();
                    return null;
                }
            }
        }

        // The pages stay mapped after the descriptor is closed.
        return window;
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        if (_base != 0)
        {
            _ = Mman.Munmap(_base, (nuint)Length);
            _base = 0;
        }
    }
}
