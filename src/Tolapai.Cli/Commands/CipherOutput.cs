using System.Runtime.InteropServices;
using Tolapai.Cli.CommandLine;
using Tolapai.Cli.Platform;

namespace Tolapai.Cli.Commands;

/// <summary>
/// Where the output goes. A regular file is written all-or-nothing: the bytes go to a temporary
/// file beside it (same directory, so the same file system) which replaces it by rename only on
/// <see cref="Commit"/>; without a commit the temporary file is deleted and an existing file is
/// left as it was, also when the process is stopped by SIGINT, SIGTERM or SIGHUP (not by
/// SIGKILL, which nothing can catch). The replaced file is a new file: it keeps the old
/// permission bits, not its owner or hard links. stdout, and outputs that are not regular
/// files (a FIFO, a device), are written in place.
/// </summary>
public sealed class CipherOutput : IDisposable
{
    private readonly string? _temporaryPath;
    private readonly string? _finalPath;
    private readonly PosixSignalRegistration[] _signals = [];
    private volatile bool _committed;

    private CipherOutput(Stream stream, string? temporaryPath, string? finalPath)
    {
        Stream = stream;
        _temporaryPath = temporaryPath;
        _finalPath = finalPath;
        if (temporaryPath is not null && (OperatingSystem.IsLinux() || OperatingSystem.IsMacOS()))
        {
            // The handlers run on a thread of their own and let termination go on; deleting the
            // file while the main thread still writes it is harmless (the data goes to an
            // unlinked inode), and racing a commit leaves either the old file or the new one.
            _signals =
            [
                PosixSignalRegistration.Create(PosixSignal.SIGINT, _ => DeleteTemporary()),
                PosixSignalRegistration.Create(PosixSignal.SIGTERM, _ => DeleteTemporary()),
                PosixSignalRegistration.Create(PosixSignal.SIGHUP, _ => DeleteTemporary()),
            ];
        }
    }

    /// <summary>The stream to write to.</summary>
    public Stream Stream { get; }

    /// <summary>Opens stdout when <paramref name="path"/> is null or <c>-</c>, else a file (see the type's remarks).</summary>
    public static CipherOutput Open(string? path)
    {
        if (path is null or "-")
        {
            // Console's stream writes with write(2), so a shared stdout offset moves as it should.
            return new CipherOutput(Console.OpenStandardOutput(), null, null);
        }

        try
        {
            return OpenFile(path);
        }
        catch (Exception ex) when (ex is DirectoryNotFoundException or FileNotFoundException)
        {
            throw new CommandLineException($"cannot write '{path}': no such directory", ex);
        }
        catch (UnauthorizedAccessException ex)
        {
            throw new CommandLineException($"cannot write '{path}': permission denied", ex);
        }
        catch (IOException ex)
        {
            throw new CommandLineException($"cannot write '{path}': {ex.Message}", ex);
        }
    }

    private static CipherOutput OpenFile(string path)
    {
        // Write through a symbolic link to its target, rather than replacing the link.
        string target = new FileInfo(path).LinkTarget is null
            ? path
            : File.ResolveLinkTarget(path, returnFinalTarget: true)?.FullName ?? path;
        if (Directory.Exists(target))
        {
            throw new CommandLineException($"cannot write '{path}': it is a directory");
        }

        UnixFileMode? mode = null;
        if (File.Exists(target))
        {
            // Opening without truncating checks that we may write it, and tells a regular file
            // (replace it by rename) from a FIFO or device (write it in place: renaming a file
            // over /dev/null would be a disaster).
            var probe = new FileStream(target, FileMode.Open, FileAccess.Write, FileShare.ReadWrite, bufferSize: 0);
            if (!UnixFileType.IsRegularFile(probe.SafeFileHandle))
            {
                return new CipherOutput(probe, null, null);
            }

            probe.Dispose();
            if (!OperatingSystem.IsWindows())
            {
                mode = File.GetUnixFileMode(target);
            }
        }

        string directory = Path.GetDirectoryName(Path.GetFullPath(target)) ?? ".";
        string temporary = Path.Combine(directory, $".{Path.GetFileName(target)}.{Path.GetRandomFileName()}.tolapai-partial");
        var options = new FileStreamOptions
        {
            Mode = FileMode.CreateNew,
            Access = FileAccess.Write,
            Share = FileShare.None,
            BufferSize = 0,
        };
        if (mode is { } existing && !OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = existing;
        }

        return new CipherOutput(new FileStream(temporary, options), temporary, target);
    }

    /// <summary>Flushes the output and, for a file, moves it into place.</summary>
    public void Commit()
    {
        Stream.Flush();
        if (_temporaryPath is not null && _finalPath is not null)
        {
            Stream.Dispose();
            File.Move(_temporaryPath, _finalPath, overwrite: true);
        }

        _committed = true;
    }

    /// <summary>Closes the output; without a <see cref="Commit"/>, deletes the temporary file.</summary>
    public void Dispose()
    {
        foreach (PosixSignalRegistration signal in _signals)
        {
            signal.Dispose();
        }

        Stream.Dispose();
        DeleteTemporary();
    }

    private void DeleteTemporary()
    {
        if (!_committed && _temporaryPath is not null)
        {
            try
            {
                File.Delete(_temporaryPath);
            }
            catch (IOException)
            {
                // Nothing better to do: the error that brought us here is the one to report.
            }
            catch (UnauthorizedAccessException)
            {
                // As above.
            }
        }
    }
}
