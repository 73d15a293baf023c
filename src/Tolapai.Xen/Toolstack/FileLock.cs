using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Tolapai.Xen.Toolstack;

/// <summary>
/// An flock(2) on a file: held until disposed or until the holding process dies (the kernel
/// drops it then), so a lock whose owner was SIGKILLed is free again. The descriptor is opened
/// O_CLOEXEC: a guest process started while the lock is held does not inherit it.
/// </summary>
public sealed partial class FileLock : IDisposable
{
    private const int LockSh = 1;
    private const int LockEx = 2;
    private const int LockNb = 4;
    private const int EWouldBlock = 11;
    private const int EIntr = 4;

    private readonly SafeFileHandle _handle;

    private FileLock(SafeFileHandle handle, string path)
    {
        _handle = handle;
        Path = path;
    }

    /// <summary>The lock file.</summary>
    public string Path { get; }

    /// <summary>Takes the lock without waiting; null when another process holds it.</summary>
    public static FileLock? TryAcquire(string path, bool exclusive = true)
    {
        SafeFileHandle handle = OpenLockFile(path);
        if (TryLock(handle, exclusive))
            return new FileLock(handle, path);
        handle.Dispose();
        return null;
    }

    /// <summary>Takes the lock, polling until <paramref name="timeout"/>; a <see cref="TimeoutException"/> if it stays held.</summary>
    public static async Task<FileLock> AcquireAsync(string path, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        SafeFileHandle handle = OpenLockFile(path);
        long deadline = Environment.TickCount64 + (long)timeout.TotalMilliseconds;
        while (!TryLock(handle, exclusive: true))
        {
            if (Environment.TickCount64 > deadline)
            {
                handle.Dispose();
                throw new TimeoutException($"{path} stayed locked for {timeout.TotalSeconds:0.#} s");
            }
            try
            {
                await Task.Delay(10, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                handle.Dispose();
                throw;
            }
        }
        return new FileLock(handle, path);
    }

    /// <summary>True when some process holds <paramref name="path"/> exclusively (a missing file is not held).</summary>
    public static bool IsHeld(string path)
    {
        if (!File.Exists(path))
            return false;
        SafeFileHandle handle;
        try
        {
            handle = OpenLockFile(path);
        }
        catch (IOException)
        {
            return false;
        }
        using (handle)
            return !TryLock(handle, exclusive: false); // closing the descriptor drops the shared lock
    }

    private static SafeFileHandle OpenLockFile(string path)
    {
        const int ORdWr = 2, OCreat = 0x40, OCloExec = 0x80000;
        int fd = Open(path, ORdWr | OCreat | OCloExec, 0x1A4 /* 0644 */);
        if (fd < 0)
            throw new IOException($"cannot open lock file {path}: errno {Marshal.GetLastPInvokeError()}");
        return new SafeFileHandle(fd, ownsHandle: true);
    }

    private static bool TryLock(SafeFileHandle handle, bool exclusive)
    {
        while (true)
        {
            if (Flock((int)handle.DangerousGetHandle(), (exclusive ? LockEx : LockSh) | LockNb) == 0)
                return true;
            int errno = Marshal.GetLastPInvokeError();
            if (errno == EIntr)
                continue;
            if (errno == EWouldBlock)
                return false;
            throw new IOException($"flock failed: errno {errno}");
        }
    }

    /// <summary>Releases the lock.</summary>
    public void Dispose() => _handle.Dispose();

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags, int mode);

    [LibraryImport("libc", EntryPoint = "flock", SetLastError = true)]
    private static partial int Flock(int fd, int operation);
}
