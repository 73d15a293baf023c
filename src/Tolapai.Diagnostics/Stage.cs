namespace Tolapai.Diagnostics;

/// <summary>Where a latency was measured: the stages a request passes on its way, for the per-stage histograms of <c>tolapai trace report</c>.</summary>
public enum Stage
{
    /// <summary>Native CPA: PerformOp to callback, in dom0.</summary>
    NativeOp = 0,

    /// <summary>Split CPA: PerformOp in the guest to callback in the guest (whole round trip).</summary>
    SplitOp = 1,

    /// <summary>Backend: request taken off the guest's ring to response pushed.</summary>
    BackendService = 2,

    /// <summary>Device: request on the device ring to its response written by an engine.</summary>
    Device = 3,

    /// <summary>Engine: one batch through the SIMD pipeline (one event per batch: the request id is the batch number and the byte count is the number of requests in it).</summary>
    EngineBatch = 4,

    /// <summary>Software binding: PerformOp to callback.</summary>
    SoftwareOp = 5,
}
