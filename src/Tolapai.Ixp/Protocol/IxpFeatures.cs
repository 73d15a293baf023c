using System.Globalization;

namespace Tolapai.Ixp.Protocol;

/// <summary>What a backend advertises in its device directory before InitWait.</summary>
public sealed record IxpBackendFeatures
{
    /// <summary>feature-sessions: session and cipher operations served.</summary>
    public bool Sessions { get; init; }

    /// <summary>feature-algorithms.</summary>
    public IReadOnlyList<IxpAlgorithm> Algorithms { get; init; } = [];

    /// <summary>max-sessions.</summary>
    public int MaxSessions { get; init; }

    /// <summary>feature-max-segments (inline).</summary>
    public int MaxSegments { get; init; } = IxpCipherBody.MaxSegments;

    /// <summary>feature-max-indirect-segments (0: none).</summary>
    public int MaxIndirectSegments { get; init; }

    /// <summary>feature-persistent.</summary>
    public bool Persistent { get; init; }

    /// <summary>max-ring-page-order.</summary>
    public int MaxRingPageOrder { get; init; }

    /// <summary>multi-queue-max-queues.</summary>
    public int MaxQueues { get; init; } = 1;

    /// <summary>max-requests: outstanding requests per guest.</summary>
    public int MaxRequests { get; init; }

    /// <summary>The keys and values to write, in order.</summary>
    public IEnumerable<(string Key, string Value)> ToKeys()
    {
        yield return (IxpKeys.FeatureSessions, Sessions ? "1" : "0");
        yield return (IxpKeys.FeatureAlgorithms, string.Join(',', Algorithms.Select(IxpKeys.Name)));
        yield return (IxpKeys.MaxSessions, Num(MaxSessions));
        yield return (IxpKeys.FeatureMaxSegments, Num(MaxSegments));
        yield return (IxpKeys.FeatureMaxIndirectSegments, Num(MaxIndirectSegments));
        yield return (IxpKeys.FeaturePersistent, Persistent ? "1" : "0");
        yield return (IxpKeys.MaxRingPageOrder, Num(MaxRingPageOrder));
        yield return (IxpKeys.MultiQueueMaxQueues, Num(MaxQueues));
        yield return (IxpKeys.MaxRequests, Num(MaxRequests));
    }

    /// <summary>Reads the features through <paramref name="read"/> (key → value or null). Absent or malformed numbers read as the v1 defaults.</summary>
    public static async Task<IxpBackendFeatures> ReadAsync(Func<string, Task<string?>> read)
    {
        ArgumentNullException.ThrowIfNull(read);
        return new IxpBackendFeatures
        {
            Sessions = await read(IxpKeys.FeatureSessions).ConfigureAwait(false) == "1",
            Algorithms = IxpKeys.ParseAlgorithms(await read(IxpKeys.FeatureAlgorithms).ConfigureAwait(false)),
            MaxSessions = ParseNum(await read(IxpKeys.MaxSessions).ConfigureAwait(false), 0, 0, 1 << 16),
            MaxSegments = ParseNum(await read(IxpKeys.FeatureMaxSegments).ConfigureAwait(false), 1, 1, IxpCipherBody.MaxSegments),
            MaxIndirectSegments = ParseNum(await read(IxpKeys.FeatureMaxIndirectSegments).ConfigureAwait(false), 0, 0, IxpCipherIndirectBody.MaxIndirectPages * IxpSegment.PerPage),
            Persistent = await read(IxpKeys.FeaturePersistent).ConfigureAwait(false) == "1",
            MaxRingPageOrder = ParseNum(await read(IxpKeys.MaxRingPageOrder).ConfigureAwait(false), 0, 0, Xen.Ring.SharedRing.MaxPageOrder),
            MaxQueues = ParseNum(await read(IxpKeys.MultiQueueMaxQueues).ConfigureAwait(false), 1, 1, 64),
            MaxRequests = ParseNum(await read(IxpKeys.MaxRequests).ConfigureAwait(false), 0, 0, 1 << 20),
        };
    }

    /// <summary>A decimal in [min, max], else <paramref name="fallback"/>.</summary>
    public static int ParseNum(string? value, int fallback, int min, int max) =>
        value is not null && int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out int v) && v >= min && v <= max ? v : fallback;

    /// <summary>Invariant decimal.</summary>
    public static string Num(long value) => value.ToString(CultureInfo.InvariantCulture);
}

/// <summary>What a frontend chose, given the backend's features and its own options.</summary>
/// <param name="Queues">Queues (rings) used.</param>
/// <param name="RingPageOrder">log2 of pages per ring.</param>
/// <param name="Persistent">Persistent grants on.</param>
/// <param name="MaxIndirectSegments">Segments per indirect request (0: indirect off).</param>
/// <param name="Sessions">Sessions and cipher operations available.</param>
public readonly record struct IxpNegotiated(int Queues, int RingPageOrder, bool Persistent, int MaxIndirectSegments, bool Sessions);
