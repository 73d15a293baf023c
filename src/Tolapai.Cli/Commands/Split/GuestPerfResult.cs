using System.Text.Json.Serialization;
using Tolapai.Cpa;
using Tolapai.Cpa.Sample;

namespace Tolapai.Cli.Commands.Split;

/// <summary>What a guest's run of the sample reports back to <c>tolapai perf</c> (written as JSON to the file it was given).</summary>
public sealed record GuestPerfResult
{
    /// <summary>The guest's domid.</summary>
    [JsonPropertyName("domid")]
    public int DomId { get; init; }

    /// <summary>The sample's figures.</summary>
    [JsonPropertyName("report")]
    public CipherPerfReport Report { get; init; } = new();

    /// <summary>Operations accepted by the split binding (CPA stats).</summary>
    [JsonPropertyName("requests")]
    public long Requests { get; init; }

    /// <summary>Callbacks delivered (success and error).</summary>
    [JsonPropertyName("completed")]
    public long Completed { get; init; }

    /// <summary>Operations accepted that never completed.</summary>
    [JsonPropertyName("lost")]
    public long Lost { get; init; }

    /// <summary>Operations completed more than once.</summary>
    [JsonPropertyName("duplicates")]
    public long Duplicates { get; init; }

    /// <summary>Features the frontend negotiated with the backend, for the reader.</summary>
    [JsonPropertyName("features")]
    public string Features { get; init; } = "";

    /// <summary>
    /// Builds the result from the report and the binding's statistics. Both see the same
    /// operations (the sample's lost ones were accepted by the binding and never answered; its
    /// duplicates were delivered by the binding twice), so the larger of the two counts is the
    /// figure, not their sum.
    /// </summary>
    public static GuestPerfResult From(int domid, CipherPerfReport report, in SymStats stats, string features)
    {
        long completed = stats.NumSymOpCompleted + stats.NumSymOpCompletedErrors;
        return new()
        {
            DomId = domid,
            Report = report,
            Requests = stats.NumSymOpRequests,
            Completed = completed,
            Lost = Math.Max(Math.Max(0, stats.NumSymOpRequests - completed), report.Results.Sum(r => r.Lost)),
            Duplicates = Math.Max(Math.Max(0, completed - stats.NumSymOpRequests), report.Results.Sum(r => r.Duplicates)),
            Features = features,
        };
    }
}

/// <summary>Source-generated JSON for the guest's result file.</summary>
[JsonSourceGenerationOptions(WriteIndented = true)]
[JsonSerializable(typeof(GuestPerfResult))]
internal sealed partial class GuestPerfJsonContext : JsonSerializerContext;
