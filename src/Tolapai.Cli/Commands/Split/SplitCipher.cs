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
    public static int Run(CipherAlgorithm algorithm, byte[] key, byte[] iv, CipherDirection direction, CipherInput input, string? inPath, string? outPath, string? runDirectory) =>
        ToolstackCommandSupport.Run(() => RunAsync(algorithm, key, iv, direction, input, outPath, runDirectory));

    private static async Task<int> RunAsync(CipherAlgorithm algorithm, byte[] key, byte[] iv, CipherDirection direction, CipherInput input, string? outPath, string? runDirectory)
    {
        if (OperatingSystem.IsWindows())
        {
            throw new PlatformNotSupportedException("the split driver's hosts live in /dev/shm: Linux only");
        }

        using var signals = new ToolstackCommandSupport.SignalScope();
        IxpBackendService? service = runDirectory is null ? new IxpBackendService(new DeviceOptions()) : null;
        await using SplitHost host = await SplitHost.StartAsync(runDirectory, service, signals.Token).ConfigureAwait(false);
        string stem = Path.Combine(host.RunDirectory, $"cipher-{Environment.ProcessId}-{Guid.NewGuid().ToString("N")[..8]}");
        string staged = stem + ".in", keyFile = stem + ".key", result = stem + ".out";
        try
        {
            long length;
            await using (var file = new FileStream(staged, new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite }))
            {
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

            var words = new List<string> { "cipher", "--alg", algorithm.Name, "--key-file", keyFile, "--in", staged, "--out", result };
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
            await using (var file = new FileStream(result, FileMode.Open, FileAccess.Read))
            {
                await file.CopyToAsync(output.Stream, signals.Token).ConfigureAwait(false);
            }

            output.Stream.Flush();
            output.Commit();
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
        }
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
