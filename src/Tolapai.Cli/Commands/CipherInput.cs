using Tolapai.Cli.CommandLine;

namespace Tolapai.Cli.Commands;

/// <summary>Where the input comes from: stdin, or a file opened for sequential reading.</summary>
public sealed class CipherInput : IDisposable
{
    private CipherInput(Stream stream, long? knownLength)
    {
        Stream = stream;
        KnownLength = knownLength;
    }

    /// <summary>The stream to read from.</summary>
    public Stream Stream { get; }

    /// <summary>
    /// Bytes left to read when that is known before reading (a regular file), so a partial last
    /// block can be refused before any output is written; null for pipes, terminals and stdin.
    /// </summary>
    public long? KnownLength { get; }

    /// <summary>Opens <paramref name="path"/>, or stdin when it is null or <c>-</c>.</summary>
    public static CipherInput Open(string? path)
    {
        if (path is null or "-")
        {
            // Console's stream reads with read(2), so the shared stdin offset moves as it should
            // for whoever reads after us; its length is not known up front.
            return new CipherInput(Console.OpenStandardInput(), null);
        }

        if (Directory.Exists(path))
        {
            throw new CommandLineException($"cannot read '{path}': it is a directory");
        }

        FileStream stream;
        try
        {
            stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 0, FileOptions.SequentialScan);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new CommandLineException($"cannot read '{path}': no such file", ex);
        }
        catch (UnauthorizedAccessException ex)
        {
            throw new CommandLineException($"cannot read '{path}': permission denied", ex);
        }
        catch (IOException ex)
        {
            throw new CommandLineException($"cannot read '{path}': {ex.Message}", ex);
        }

        long? length = stream.CanSeek ? stream.Length - stream.Position : null;
        return new CipherInput(stream, length);
    }

    /// <inheritdoc/>
    public void Dispose() => Stream.Dispose();
}
