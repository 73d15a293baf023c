using Microsoft.Diagnostics.NETCore.Client;

namespace Tolapai.Tracing;

/// <summary>
/// Collects EventPipe traces from several processes at once, as <c>dotnet-trace collect</c> does
/// for one: a session per process through its diagnostic port, the stream copied to
/// <c>&lt;name&gt;.nettrace</c> for the duration, then the session stopped (which makes the runtime
/// write the method rundown, so the report can name methods).
/// </summary>
public static class TraceCollector
{
    /// <summary>
    /// Traces every target for <paramref name="duration"/> (or until <paramref name="cancellationToken"/>),
    /// writing one file per process into <paramref name="directory"/>. A process that cannot be traced
    /// (gone, not .NET, no diagnostic port) gets an entry with its error; the others go on.
    /// </summary>
    public static async Task<IReadOnlyList<TraceFile>> CollectAsync(
        IReadOnlyList<TraceTarget> targets,
        TimeSpan duration,
        string directory,
        IReadOnlyList<EventPipeProvider>? providers = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(targets);
        ArgumentNullException.ThrowIfNull(directory);
        Directory.CreateDirectory(directory);
        providers ??= TraceProviders.Default();
        Task<TraceFile>[] tasks = targets.Select(t => Task.Run(() => CollectOneAsync(t, duration, directory, providers, cancellationToken), CancellationToken.None)).ToArray();
        return await Task.WhenAll(tasks).ConfigureAwait(false);
    }

    private static async Task<TraceFile> CollectOneAsync(TraceTarget target, TimeSpan duration, string directory, IReadOnlyList<EventPipeProvider> providers, CancellationToken cancellationToken)
    {
        string path = Path.Combine(directory, $"{target.Name}.nettrace");
        EventPipeSession session;
        try
        {
            var client = new DiagnosticsClient(target.ProcessId);
            session = await client.StartEventPipeSessionAsync(providers, requestRundown: true, circularBufferMB: 256, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is ServerNotAvailableException or UnsupportedCommandException or ServerErrorException or IOException or TimeoutException or ArgumentException or UnauthorizedAccessException)
        {
            return new TraceFile(target, null, 0, $"cannot attach to pid {target.ProcessId}: {e.Message}");
        }

        using (session)
        {
            await using FileStream file = File.Create(path);
            Task copy = session.EventStream.CopyToAsync(file, CancellationToken.None);
            try
            {
                await Task.Delay(duration, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // Ctrl-C or the caller's end: stop early and keep what was collected.
            }

            try
            {
                await session.StopAsync(CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception e) when (e is ServerNotAvailableException or IOException or ServerErrorException or TimeoutException)
            {
                // The process ended during the trace: its stream ends too, the file holds what came.
            }

            Task finished = await Task.WhenAny(copy, Task.Delay(TimeSpan.FromSeconds(30), CancellationToken.None)).ConfigureAwait(false);
            if (finished != copy)
            {
                return new TraceFile(target, path, file.Length, "the event stream did not end within 30 s of stopping the session");
            }

            try
            {
                await copy.ConfigureAwait(false);
            }
            catch (IOException e)
            {
                return new TraceFile(target, path, file.Length, $"the stream broke: {e.Message}");
            }

            await file.FlushAsync(CancellationToken.None).ConfigureAwait(false);
            return new TraceFile(target, path, file.Length, null);
        }
    }
}
