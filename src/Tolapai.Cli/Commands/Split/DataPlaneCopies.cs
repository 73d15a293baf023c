using System.Text.Json.Serialization;
using Tolapai.Device;
using Tolapai.Ixp.Backend;

namespace Tolapai.Cli.Commands.Split;

/// <summary>
/// What the split data plane copied on an embedded dom0, read from the counters where the
/// copies happen: the backend's (<see cref="IxpBackend.PayloadBytesCopied"/>) and the device's
/// bounce block (<see cref="DeviceCounters.BounceBytes"/>); and the device's structural check,
/// the DMA segments it used and how many lay outside the requesting guest's granted frames.
/// </summary>
/// <param name="BackendBytes">Payload bytes the backend copied.</param>
/// <param name="DeviceBounceBytes">Payload bytes the device copied through its bounce block.</param>
/// <param name="DmaSegments">Segments the device translated and used.</param>
/// <param name="DmaSegmentsOutsideGrants">Of those, segments outside the requesting domain's granted frames.</param>
/// <param name="PayloadBytesServed">Payload bytes of the requests the backend answered with success (warm-up included): what the copies are divided by.</param>
public sealed record DataPlaneCopies(
    [property: JsonPropertyName("backend")] long BackendBytes,
    [property: JsonPropertyName("deviceBounce")] long DeviceBounceBytes,
    [property: JsonIgnore] long DmaSegments,
    [property: JsonIgnore] long DmaSegmentsOutsideGrants,
    [property: JsonPropertyName("payloadBytesServed")] long PayloadBytesServed)
{
    /// <summary>Payload bytes copied per payload byte served: 0 for a zero-copy data plane, 2 for a backend that copies in and out; null before anything was served.</summary>
    [JsonIgnore]
    public double? CopiesPerPayloadByte => PayloadBytesServed > 0 ? (double)TotalBytes / PayloadBytesServed : null;

    /// <summary>Every payload byte copied, by the backend or the device.</summary>
    [JsonPropertyName("total")]
    public long TotalBytes => BackendBytes + DeviceBounceBytes;

    /// <summary>The counters of a dom0 service running in this process; null when there is none (a dom0 on <c>--run-dir</c> is another process).</summary>
    public static DataPlaneCopies? Of(IxpBackendService? service)
    {
        if (service?.Backend is not { } backend || service.Device is not { } device)
        {
            return null;
        }

        DeviceCounters c = device.QueryCounters();
        return new DataPlaneCopies(backend.PayloadBytesCopied, c.BounceBytes, c.DmaSegments, c.DmaSegmentsOutsideGrants, backend.PayloadBytesServed);
    }

    /// <summary>The sum of two hosts' counters (null if either is unknown).</summary>
    public static DataPlaneCopies? Sum(DataPlaneCopies? a, DataPlaneCopies? b) =>
        a is null || b is null ? null : new DataPlaneCopies(a.BackendBytes + b.BackendBytes, a.DeviceBounceBytes + b.DeviceBounceBytes, a.DmaSegments + b.DmaSegments, a.DmaSegmentsOutsideGrants + b.DmaSegmentsOutsideGrants, a.PayloadBytesServed + b.PayloadBytesServed);
}
