using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;
using Tolapai.Cli.CommandLine;
using Tolapai.Cpa;
using Tolapai.Ixp.Frontend;
using Tolapai.Xen.Toolstack;

namespace Tolapai.Cli.Commands.Split;

/// <summary>
/// <c>tolapai domu cipher</c>: a guest that ciphers a file through its ixp device (the split
/// driver): a session with the key, one 32 KiB buffer list in its own granted pages, every chunk
/// read into it, ciphered in place by the accelerator in dom0, written out, the chaining value
/// carried to the next chunk as <see cref="CipherPump"/> carries it locally. The key comes in a
/// file (mode 0600) that the guest deletes once read; the output is written beside its name and
/// renamed over it only when whole.
/// </summary>
internal static class GuestCipher
{
    /// <summary>Bytes per operation: eight pages, what one ring request carries without indirect segment pages.</summary>
    public const int ChunkBytes = 32 * 1024;

    /// <summary>Options of the guest workload.</summary>
    public static readonly OptionParser Parser = new(flags: ["decrypt"], valued: ["alg", "key-file", "iv", "in", "out", "stats", "heartbeat-ms"]);

    /// <summary>Parses the words after <c>domu cipher</c> into the workload to run.</summary>
    public static Func<DomainContext, CancellationToken, Task<int>> Parse(ParsedOptions o)
    {
        ArgumentNullException.ThrowIfNull(o);
        string algName = o.Require("alg");
        if (!SymAlgorithms.TryParse(algName, out SymCipherAlgorithm alg))
        {
            throw new CommandLineException($"unknown --alg '{algName}'");
        }

        string keyFile = o.Require("key-file");
        byte[] iv = o.Get("iv") is { } hex ? Convert.FromHexString(hex) : [];
        string input = o.Require("in");
        string output = o.Require("out");
        string? stats = o.Get("stats");
        SymCipherDirection direction = o.Has("decrypt") ? SymCipherDirection.Decrypt : SymCipherDirection.Encrypt;
        return (domain, cancellationToken) => RunAsync(domain, alg, direction, keyFile, iv, input, output, stats, cancellationToken);
    }

    private static async Task<int> RunAsync(DomainContext domain, SymCipherAlgorithm alg, SymCipherDirection direction, string keyFile, byte[] iv, string inputPath, string outputPath, string? statsPath, CancellationToken cancellationToken)
    {
        var staging = new StagingCopies();
        byte[] key = await File.ReadAllBytesAsync(keyFile, cancellationToken).ConfigureAwait(false);
        File.Delete(keyFile);
        try
        {
            uint first = domain.Memory.FirstDataFrame;
            var pages = new GuestPageAllocator(domain.Memory, first, domain.StartInfo.XenStoreFrame - first);
            await using IxpFrontend front = await IxpFrontend.ConnectAsync(domain, pages, devid: 0,
                new IxpFrontendOptions { Persistent = true }).WaitAsync(cancellationToken).ConfigureAwait(false);
            using IxpCyInstance cy = front.CreateCyInstance(0, CompletionMode.Interrupt);
            Check(cy, cy.InitSession(new SymSessionSetupData(alg, direction, key), null, out CySymSession? session), "init session");
            Check(cy, cy.AllocateBufferList([ChunkBytes], out BufferList? buffer), "allocate buffer list");
            try
            {
                long total = await PumpAsync(cy, session!, alg, direction, iv, buffer!, inputPath, outputPath + ".part", staging, cancellationToken).ConfigureAwait(false);
                File.Move(outputPath + ".part", outputPath, overwrite: true);
                Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"domu cipher: {total} bytes through the ixp device ({SymAlgorithms.Name(alg)}); staging copied {staging.IntoGuestPages} bytes into the granted pages and {staging.OutOfGuestPages} out"));
                if (statsPath is not null)
                {
                    await File.WriteAllTextAsync(statsPath + ".tmp", JsonSerializer.Serialize(staging, StagingJsonContext.Default.StagingCopies), cancellationToken).ConfigureAwait(false);
                    File.Move(statsPath + ".tmp", statsPath, overwrite: true); // whole or absent
                }

                return ExitCodes.Success;
            }
            finally
            {
                CryptographicOperations.ZeroMemory(buffer![0].Span);
                cy.FreeBufferList(buffer);
                cy.RemoveSession(session!);
            }
        }
        catch (Exception e) when (e is Ixp.IxpException or CpaException or IOException or TimeoutException)
        {
            Console.Error.WriteLine($"domu cipher: {e.Message}");
            File.Delete(outputPath + ".part");
            return ExitCodes.Failure;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(key);
        }
    }

    private static async Task<long> PumpAsync(IxpCyInstance cy, CySymSession session, SymCipherAlgorithm alg, SymCipherDirection direction, byte[] iv, BufferList buffer, string inputPath, string outputPath, StagingCopies staging, CancellationToken cancellationToken)
    {
        bool cbc = alg is SymCipherAlgorithm.DesCbc or SymCipherAlgorithm.TripleDesCbc;
        bool ctr = alg == SymCipherAlgorithm.TripleDesCtr;
        byte[] chain = (byte[])iv.Clone();
        byte[] nextChain = new byte[8];
        long total = 0;
        await using var input = new FileStream(inputPath, FileMode.Open, FileAccess.Read, FileShare.Read, 1, useAsync: false);
        await using var output = new FileStream(outputPath, FileMode.Create, FileAccess.Write, FileShare.None, 1, useAsync: false);
        while (true)
        {
            // Staging copy in: the file's bytes into the guest's granted pages (not the data plane's copy).
            int length = input.ReadAtLeast(buffer[0].Span, ChunkBytes, throwOnEndOfStream: false);
            if (length == 0)
            {
                break;
            }

            staging.IntoGuestPages += length;

            if (cbc && direction == SymCipherDirection.Decrypt)
            {
                buffer[0].Span.Slice(length - 8, 8).CopyTo(nextChain); // the input's last block chains on
            }

            var op = new SymOpData
            {
                Session = session,
                PacketType = SymPacketType.Full,
                Iv = chain,
                CryptoStartSrcOffset = 0,
                MessageLenToCipher = length,
            };
            CpaStatus status;
            while ((status = await cy.PerformOpAsync(op, buffer, buffer).ConfigureAwait(false)) == CpaStatus.Retry)
            {
                await Task.Yield();
            }

            if (status != CpaStatus.Success)
            {
                throw new CpaException($"the ixp device refused a chunk: {status}: {cy.LastError}");
            }

            if (cbc && direction == SymCipherDirection.Encrypt)
            {
                buffer[0].Span.Slice(length - 8, 8).CopyTo(chain);
            }
            else if (cbc)
            {
                nextChain.CopyTo(chain, 0);
            }
            else if (ctr)
            {
                BinaryPrimitives.WriteUInt64BigEndian(chain, BinaryPrimitives.ReadUInt64BigEndian(chain) + (ulong)((length + 7) / 8));
            }

            // Staging copy out: the ciphered bytes from the granted pages to the output file.
            output.Write(buffer[0].Span[..length]);
            staging.OutOfGuestPages += length;
            total += length;
            cancellationToken.ThrowIfCancellationRequested();
            if (length < ChunkBytes)
            {
                break;
            }
        }

        output.Flush(flushToDisk: false);
        return total;
    }

    private static void Check(ICySymInstance cy, CpaStatus status, string what)
    {
        if (status != CpaStatus.Success)
        {
            throw new CpaException($"{what}: {status}: {cy.LastError}");
        }
    }
}

/// <summary>
/// The payload copies <c>tolapai cipher</c> makes around the split driver's data plane, counted
/// where they happen: the guest reads the staged input into its granted pages and writes the
/// ciphered bytes out of them (the host side adds its own file copies). None of them is the
/// data plane's: between the guest's pages and back the payload is not copied.
/// </summary>
public sealed class StagingCopies
{
    /// <summary>Bytes the guest read into its granted pages.</summary>
    [JsonPropertyName("intoGuestPages")]
    public long IntoGuestPages { get; set; }

    /// <summary>Bytes the guest wrote out of its granted pages.</summary>
    [JsonPropertyName("outOfGuestPages")]
    public long OutOfGuestPages { get; set; }
}

/// <summary>Source-generated JSON for the guest's staging counts.</summary>
[JsonSerializable(typeof(StagingCopies))]
internal sealed partial class StagingJsonContext : JsonSerializerContext;

/// <summary>A CPA call that failed in the guest's cipher workload.</summary>
internal sealed class CpaException : Exception
{
    public CpaException()
    {
    }

    public CpaException(string message) : base(message)
    {
    }

    public CpaException(string message, Exception innerException) : base(message, innerException)
    {
    }
}
