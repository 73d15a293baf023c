using Tolapai.Cpa.Native;
using Tolapai.Cpa.Software;
using Tolapai.Device;

namespace Tolapai.Cpa.Tests;

public abstract class SoftwareBindingTestsBase(CompletionMode mode) : CySymContractTests
{
    private readonly SoftwareCyInstance _a = new(mode);
    private readonly SoftwareCyInstance _b = new(mode);

    protected override ICySymInstance Instance => _a;

    protected override ICySymInstance OtherInstance => _b;

    public override void Dispose()
    {
        _a.Dispose();
        _b.Dispose();
        base.Dispose();
    }
}

/// <summary>The software binding, completions queued for Poll.</summary>
public sealed class SoftwarePollingTests() : SoftwareBindingTestsBase(CompletionMode.Polling);

/// <summary>The software binding, completions delivered at submission.</summary>
public sealed class SoftwareInterruptTests() : SoftwareBindingTestsBase(CompletionMode.Interrupt);

public abstract class NativeBindingTestsBase : CySymContractTests
{
    private readonly TolapaiDevice _device;
    private readonly NativeCyInstance _a;
    private readonly NativeCyInstance _b;

    protected NativeBindingTestsBase(CompletionMode mode)
    {
        _device = TolapaiDevice.Create(new DeviceOptions { Coherence = CoherenceMode.Strict, RingEntries = 64, RingPairs = 2 });
        Assert.Equal(CpaStatus.Success, NativeCyInstance.Create(_device, mode, out _a!));
        Assert.Equal(CpaStatus.Success, NativeCyInstance.Create(_device, mode, out _b!));
    }

    protected override ICySymInstance Instance => _a;

    protected override ICySymInstance OtherInstance => _b;

    public override void Dispose()
    {
        _a.Dispose();
        _b.Dispose();
        _device.Dispose();
        base.Dispose();
    }
}

/// <summary>The native binding on a strict-coherence device, the application polling.</summary>
public sealed class NativeStrictPollingTests() : NativeBindingTestsBase(CompletionMode.Polling);

/// <summary>The native binding on a strict-coherence device, completions from the driver's interrupt thread.</summary>
public sealed class NativeStrictInterruptTests() : NativeBindingTestsBase(CompletionMode.Interrupt);
