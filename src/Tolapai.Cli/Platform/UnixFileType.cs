using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Tolapai.Cli.Platform;

/// <summary>
/// Tells a regular file from a FIFO, socket or device behind an open handle. .NET 10 has no
/// public API for it (<c>SafeFileHandle.Type</c> comes later), and <c>CanSeek</c> does not tell:
/// <c>/dev/null</c> seeks. So this asks <c>fstat(2)</c> for <c>st_mode</c>.
/// </summary>
internal static partial class UnixFileType
{
    private const uint TypeMask = 0xF000; // S_IFMT
    private const uint RegularFile = 0x8000; // S_IFREG

    /// <summary>
    /// True when <paramref name="handle"/> is a regular file; false for anything else and
    /// whenever the answer is not known (not Linux, an unknown <c>struct stat</c> layout, an
    /// error), so callers treat "unknown" the safe way.
    /// </summary>
    public static bool IsRegularFile(SafeFileHandle handle)
    {
        // Where st_mode sits in the kernel's struct stat: after st_dev, st_ino and (x86-64
        // only) a 64-bit st_nlink.
        int modeOffset = RuntimeInformation.ProcessArchitecture switch
        {
            Architecture.X64 => 24,
            Architecture.Arm64 => 16,
            _ => -1,
        };
        if (!OperatingSystem.IsLinux() || modeOffset < 0)
        {
            return false;
        }

        // struct stat is 144 bytes on x86-64 and 128 on arm64; leave room.
        Span<byte> stat = stackalloc byte[256];
        bool added = false;
        try
        {
            handle.DangerousAddRef(ref added);
            if (FStat((int)handle.DangerousGetHandle(), ref MemoryMarshal.GetReference(stat)) != 0)
            {
                return false;
            }
        }
        finally
        {
            if (added)
            {
                handle.DangerousRelease();
            }
        }

        uint mode = MemoryMarshal.Read<uint>(stat[modeOffset..]);
        return (mode & TypeMask) == RegularFile;
    }

    [LibraryImport("libc", EntryPoint = "fstat", SetLastError = true)]
    private static partial int FStat(int fd, ref byte statBuffer);
}
