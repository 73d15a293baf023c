using System.Globalization;
using Tolapai.Cpa;
using Tolapai.Cpa.Native;
using Tolapai.Device;
using Tolapai.Ixp.Backend;
using Tolapai.Xen.Hypervisor;
using Tolapai.Xen.XenStore;
using static Tolapai.Ixp.TestChild.Program;

namespace Tolapai.Ixp.TestChild;

/// <summary>dom0's data plane in a process of its own, for what only a process can have: its own TOLAPAI_TEST_FAULTS.</summary>
internal static class BackendRole
{
    /// <summary>
    /// On the host at <paramref name="runDirectory"/> (made by the test, with xenstored
    /// running): a device, its native driver and the ixp backend. Prints "READY"; then for each
    /// "sample" on stdin "ALLOC b0,b1,... responses" (each worker thread's own allocated bytes,
    /// read on it, and the responses written so far); ends on "bye" or end of input.
    /// </summary>
    public static async Task<int> Run(string runDirectory)
    {
        using Host host = Host.Open(runDirectory);
        await using XenStoreClient store = await XenStoreClient.ConnectAsync(XenStoreDaemon.SocketPathFor(runDirectory));
        using TolapaiDevice device = TolapaiDevice.Create(new DeviceOptions());
        Check(NativeCyInstance.Create(device, CompletionMode.Polling, out NativeCyInstance? native) == CpaStatus.Success, "native driver");
        using NativeCyInstance driver = native!;
        await using IxpBackend backend = await IxpBackend.StartAsync(host, store, driver);
        Say("READY");
        while (await Console.In.ReadLineAsync() is { } line && line != "bye")
        {
            Check(line == "sample", $"backend role: unknown command '{line}'");
            Say(string.Create(CultureInfo.InvariantCulture, $"ALLOC {string.Join(',', backend.SampleWorkerAllocatedBytes())} {backend.ResponsesWritten}"));
        }

        return 0;
    }
}
