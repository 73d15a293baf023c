namespace Tolapai.Toolstack.Tests;

/// <summary>
/// The test classes of this assembly that start real processes (dom0s, guests, children, tools)
/// run here: one at a time, and not beside the assembly's other tests, because the machine has
/// two cores and a spinning child that loses its core turns a protocol test into a timing test.
/// A class that starts processes and is not in here says why it is independent.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class MultiProcessCollection
{
    /// <summary>The collection's name.</summary>
    public const string Name = "multi-process";
}
