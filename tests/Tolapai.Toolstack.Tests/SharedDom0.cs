namespace Tolapai.Toolstack.Tests;

/// <summary>One dom0 process shared by the tests of a class that only read or make their own keys.</summary>
public sealed class SharedDom0 : IAsyncLifetime
{
    public Dom0Process Dom0 { get; private set; } = null!;

    public string RunDirectory => Dom0.RunDirectory;

    public async Task InitializeAsync() => Dom0 = await Dom0Process.StartAsync();

    public async Task DisposeAsync() => await Dom0.DisposeAsync();
}
