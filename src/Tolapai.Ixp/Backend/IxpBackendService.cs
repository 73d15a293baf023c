using Tolapai.Cpa;
using Tolapai.Cpa.Native;
using Tolapai.Device;
using Tolapai.Xen.Toolstack;
using Tolapai.Xen.XenStore;

namespace Tolapai.Ixp.Backend;

/// <summary>
/// The accelerator and the ixp backend as a dom0 service: what <c>tolapai dom0</c> and the
/// embedded dom0 of <c>tolapai perf</c> run. Starting it creates the emulated device (its
/// non-coherent ring region a file in the run directory, as every shared region of a host is),
/// opens one native driver instance per backend worker, and starts the backend on its own
/// XenStore connection; stopping it undoes that in reverse order after the guests are gone.
/// </summary>
public sealed class IxpBackendService : IDom0Service
{
    /// <summary>File name of the device's ring region in the run directory.</summary>
    public const string RegionFileName = "accelerator.region";

    private readonly DeviceOptions _deviceOptions;
    private readonly IxpBackendOptions _backendOptions;
    private readonly int _workers;
    private readonly List<NativeCyInstance> _instances = [];
    private XenStoreClient? _store;
    private string? _ownRegion;

    /// <summary>A service with the given device and backend options and <paramref name="workers"/> backend worker threads (one driver instance each).</summary>
    public IxpBackendService(DeviceOptions? device = null, IxpBackendOptions? backend = null, int workers = 1)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(workers, 1);
        _deviceOptions = device ?? new DeviceOptions();
        _backendOptions = backend ?? new IxpBackendOptions();
        _workers = workers;
        if (_deviceOptions.RingPairs < workers)
        {
            throw new ArgumentException($"the device has {_deviceOptions.RingPairs} ring pairs, fewer than the {workers} workers that need one each", nameof(workers));
        }
    }

    /// <inheritdoc/>
    public string Name => "accelerator + ixp backend";

    /// <summary>The device, once started.</summary>
    public TolapaiDevice? Device { get; private set; }

    /// <summary>The backend, once started.</summary>
    public IxpBackend? Backend { get; private set; }

    /// <inheritdoc/>
    public async Task StartAsync(Dom0Host dom0, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(dom0);
        try
        {
            if (_deviceOptions.RegionPath is null && !dom0.KeepsFiles)
            {
                _ownRegion = Path.Combine(dom0.RunDirectory, RegionFileName); // ours to remove when we stop
            }

            Device = TolapaiDevice.Create(_deviceOptions with { RegionPath = _deviceOptions.RegionPath ?? Path.Combine(dom0.RunDirectory, RegionFileName) });
            for (int i = 0; i < _workers; i++)
            {
                CpaStatus status = NativeCyInstance.Create(Device, CompletionMode.Polling, out NativeCyInstance? instance);
                if (status != CpaStatus.Success)
                {
                    throw new InvalidOperationException($"the accelerator has no free ring pair for backend worker {i}: {status}");
                }

                _instances.Add(instance!);
            }

            _store = await XenStoreClient.ConnectAsync(dom0.SocketPath, cancellationToken).ConfigureAwait(false);
            Backend = await IxpBackend.StartAsync(dom0.Host, _store, _instances, _backendOptions).ConfigureAwait(false);
        }
        catch
        {
            await StopAsync(CancellationToken.None).ConfigureAwait(false);
            throw;
        }
    }

    /// <inheritdoc/>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (Backend is not null)
        {
            await Backend.DisposeAsync().ConfigureAwait(false);
            Backend = null;
        }

        if (_store is not null)
        {
            await _store.DisposeAsync().ConfigureAwait(false);
            _store = null;
        }

        foreach (NativeCyInstance instance in _instances)
        {
            instance.Dispose();
        }

        _instances.Clear();
        Device?.Dispose();
        Device = null;
        if (_ownRegion is not null)
        {
            File.Delete(_ownRegion);
            _ownRegion = null;
        }
    }
}
