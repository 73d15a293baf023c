using System.Globalization;
using System.Text.Json;
using Tolapai.Cli.CommandLine;
using Tolapai.Device;
using Tolapai.Ixp.Backend;
using Tolapai.Kernels.Des;
using Tolapai.Xen.Toolstack;

namespace Tolapai.Cli.Commands.Split;

/// <summary>
/// <c>tolapai cipher</c> without <c>--local</c>: the input is staged in the host's run
/// directory (the guest's "disk"), a guest running <c>tolapai domu cipher</c> ciphers it through
/// its ixp frontend, and its output goes to stdout or <c>--out</c> with the same all-or-nothing
/// rules as the local path. The key reaches the guest in a 0600 file it deletes on reading.
/// </summary>
internal static class SplitCipher
{
    public static int Run(CipherAlgorithm algorithm, byte[] key, byte[] iv, CipherDirection direction, CipherInput input, string? inPath, string? outPath, string? runDirectory, bool verbose = false) =>
        ToolstackCommandSupport.Run(() => RunAsync(algorithm, key, iv, direction, input, outPath, runDirectory, verbose));

    private static async Task<int> RunAsync(CipherAlgorithm algorithm, byte[] key, byte[] iv, CipherDirection direction, CipherInput input, string? outPath, string? runDirectory, bool verbose)
    {
        if (OperatingSystem.IsWindows())
        {
            throw new PlatformNotSupportedException("the split driver's hosts live in /dev/shm: Linux only");
        }

        using var signals = new ToolstackCommandSupport.SignalScope();
        IxpBackendService? service = runDirectory is null ? new IxpBackendService(new DeviceOptions()) : null;
        await using SplitHost host = await SplitHost.StartAsync(runDirectory, service, signals.Token).ConfigureAwait(false);
        string stem = Path.Combine(host.RunDirectory, $"cipher-{Environment.ProcessId}-{Guid.NewGuid().ToString("N")[..8]}");
        string staged = stem + ".in", keyFile = stem + ".key", result = stem + ".out", stats = stem + ".stats";
        try
        {
            long length;
            await using (var file = new FileStream(staged, new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite }))
            {
                // Staging copy: the input into the guest's "disk" in the run directory.
                await input.Stream.CopyToAsync(file, signals.Token).ConfigureAwait(false);
                length = file.Length;
            }

            if (algorithm.NeedsWholeBlocks && (length & 7) != 0)
            {
                CipherPump.ThrowPartialBlock(algorithm, length);
            }

            await using (var file = new FileStream(keyFile, new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite }))
            {
                await file.WriteAsync(key, signals.Token).ConfigureAwait(false);
            }

            var words = new List<string> { "cipher", "--alg", algorithm.Name, "--key-file", keyFile, "--in", staged, "--out", result, "--stats", stats };
            if (iv.Length > 0)
            {
                words.AddRange(["--iv", Convert.ToHexString(iv)]);
            }

            if (direction == CipherDirection.Decrypt)
            {
                words.Add("--decrypt");
            }

            CreatedDomain guest = await host.CreateGuestAsync($"cipher-{Environment.ProcessId}", 1024, words, signals.Token).ConfigureAwait(false);
            await SplitHost.WaitForExitAsync(guest, signals.Token).ConfigureAwait(false);
            if (!File.Exists(result))
            {
                Console.Error.WriteLine($"tolapai: cipher: the guest did not produce the output; the end of its console log ({guest.LogPath}): {SplitHost.LogTail(guest)}");
                return ExitCodes.Failure;
            }

            using CipherOutput output = CipherOutput.Open(outPath);
            long written;
            await using (var file = new FileStream(result, FileMode.Open, FileAccess.Read))
            {
                // Staging copy: the guest's output file to stdout or --out.
                await file.CopyToAsync(output.Stream, signals.Token).ConfigureAwait(false);
                written = file.Position;
            }

            output.Stream.Flush();
            output.Commit();
            if (verbose)
            {
                Console.Error.WriteLine(Summary(algorithm, length, written, ReadStaging(stats), DataPlaneCopies.Of(service)));
            }

            return ExitCodes.Success;
        }
        catch (OperationCanceledException) when (signals.Token.IsCancellationRequested)
        {
            Console.Error.WriteLine($"tolapai: cipher: {signals.Signal}: stopped, nothing written");
            return ExitCodes.Failure;
        }
        finally
        {
            Shred(staged);
            Shred(keyFile);
            Shred(result);
            Shred(result + ".part");
            File.Delete(stats);
            File.Delete(stats + ".tmp");
        }
    }

    private static StagingCopies? ReadStaging(string path)
    {
        try
        {
            return JsonSerializer.Deserialize(File.ReadAllText(path), StagingJsonContext.Default.StagingCopies);
        }
        catch (Exception e) when (e is IOException or JsonException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>The <c>--verbose</c> line: every payload copy around the data plane (staging) and in it.</summary>
    internal static string Summary(CipherAlgorithm algorithm, long staged, long written, StagingCopies? guest, DataPlaneCopies? dataPlane)
    {
        string inGuest = guest is null
            ? "the guest's own counts missing"
            : string.Create(CultureInfo.InvariantCulture, $"{guest.IntoGuestPages} B into the guest's granted pages, {guest.OutOfGuestPages} B out of them");
        string plane = dataPlane is null
            ? "data plane: not counted here (the dom0 on --run-dir is another process)"
            : string.Create(CultureInfo.InvariantCulture,
                $"data plane: {dataPlane.TotalBytes} B copied (backend {dataPlane.BackendBytes}, device bounce {dataPlane.DeviceBounceBytes}), {dataPlane.DmaSegmentsOutsideGrants} of {dataPlane.DmaSegments} DMA segments outside the guest's grants");
        return string.Create(CultureInfo.InvariantCulture,
            $"tolapai: cipher: {staged} bytes through the split driver ({algorithm.Name}); staging copies: {staged} B into the run directory, {inGuest}, {written} B to the output; {plane}");
    }

    // The staged files hold plaintext or key: overwrite before unlinking (they live in /dev/shm).
    private static void Shred(string path)
    {
        try
        {
            if (File.Exists(path))
            {
                using (var f = new FileStream(path, FileMode.Open, FileAccess.Write))
                {
                    byte[] zeros = new byte[64 * 1024];
                    for (long left = f.Length; left > 0; left -= zeros.Length)
                    {
                        f.Write(zeros, 0, (int)Math.Min(zeros.Length, left));
                    }
                }

                File.Delete(path);
            }
        }
        catch (IOException)
        {
            File.Delete(path);
        }
        catch (UnauthorizedAccessException)
        {
            // Not ours to remove; the run directory goes with the embedded dom0.
        }
    }
}
