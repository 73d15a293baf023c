using System.IO.MemoryMappedFiles;

namespace Tolapai.Xen.Memory;

/// <summary>
/// One file of the run directory mapped MAP_SHARED into this process. Every other type reads
/// and writes through <see cref="Base"/> with bounds checked against <see cref="Length"/>;
/// nothing outside [Base, Base + Length) is ever touched.
/// </summary>
public sealed unsafe class SharedFile : IDisposable
{
    private readonly MemoryMappedFile _file;
    private readonly MemoryMappedViewAccessor _view;
    private byte* _base;

    private SharedFile(MemoryMappedFile file, MemoryMappedViewAccessor view, long length, string path)
    {
        _file = file;
        _view = view;
        Length = length;
        Path = path;
        byte* p = null;
        view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
        _base = p + view.PointerOffset;
    }

    /// <summary>First byte of the mapping.</summary>
    public byte* Base => _base;

    /// <summary>Mapped length in bytes.</summary>
    public long Length { get; }

    /// <summary>Path of the file.</summary>
    public string Path { get; }

    /// <summary>Creates (or truncates) a zero-filled file of <paramref name="length"/> bytes and maps it.</summary>
    public static SharedFile Create(string path, long length)
    {
        using (FileStream fs = new(path, FileMode.Create, FileAccess.ReadWrite, FileShare.ReadWrite | FileShare.Delete))
        {
            fs.SetLength(length);
        }

        return Open(path, length);
    }

    /// <summary>Maps an existing file; <paramref name="expectedLength"/> 0 means "its current size".</summary>
    public static SharedFile Open(string path, long expectedLength = 0)
    {
        long length = new FileInfo(path).Length;
        if (expectedLength != 0 && length < expectedLength)
        {
            ThrowHelper.ThrowInvalidData($"{path}: {length} bytes, expected at least {expectedLength}.");
        }

        FileStream fs = new(path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite | FileShare.Delete);
        MemoryMappedFile file = MemoryMappedFile.CreateFromFile(fs, null, length, MemoryMappedFileAccess.ReadWrite, HandleInheritability.None, leaveOpen: false);
        MemoryMappedViewAccessor view = file.CreateViewAccessor(0, length, MemoryMappedFileAccess.ReadWrite);
        return new SharedFile(file, view, length, path);
    }

    /// <summary>A span onto [offset, offset + length), checked against the mapping.</summary>
    public Span<byte> Slice(long offset, int length)
    {
        if (offset < 0 || length < 0 || offset > Length - length)
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(offset), $"[{offset}, +{length}) is outside the {Length}-byte mapping.");
        }

        return new Span<byte>(_base + offset, length);
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        if (_base != null)
        {
            _base = null;
            _view.SafeMemoryMappedViewHandle.ReleasePointer();
            _view.Dispose();
            _file.Dispose();
        }
    }
}
