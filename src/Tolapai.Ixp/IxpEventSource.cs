using System.Diagnostics.Tracing;

namespace Tolapai.Ixp;

/// <summary>"Tolapai-Ixp": why a device was closed or a request refused (the log lines blkback prints).</summary>
[EventSource(Name = "Tolapai-Ixp")]
public sealed class IxpEventSource : EventSource
{
    /// <summary>The one instance.</summary>
    public static readonly IxpEventSource Log = new();

    /// <summary>The backend closed a guest's device.</summary>
    [Event(1, Level = EventLevel.Warning, Message = "dom{0} device {1} closed: {2}")]
    public void DeviceClosed(int domid, int devid, string reason) => WriteEvent(1, domid, devid, reason);

    /// <summary>The backend refused a request with an error status.</summary>
    [Event(2, Level = EventLevel.Informational, Message = "dom{0} request op {1} refused with {2}: {3}")]
    public void RequestRefused(int domid, int operation, int status, string reason) => WriteEvent(2, domid, operation, status, reason);

    /// <summary>The frontend saw something the backend must not do.</summary>
    [Event(3, Level = EventLevel.Warning, Message = "dom{0} frontend: {1}")]
    public void FrontendViolation(int domid, string reason) => WriteEvent(3, domid, reason);

    /// <summary>A device reached Connected.</summary>
    [Event(4, Level = EventLevel.Informational, Message = "dom{0} device {1} connected: {2} queue(s), ring order {3}, persistent {4}")]
    public void DeviceConnected(int domid, int devid, int queues, int order, bool persistent) => WriteEvent(4, domid, devid, queues, order, persistent);
}
