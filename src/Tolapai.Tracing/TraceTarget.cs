namespace Tolapai.Tracing;

/// <summary>A process to trace and the name its file gets (<c>dom0</c>, <c>dom3</c>, <c>pid4711</c>).</summary>
/// <param name="ProcessId">The process.</param>
/// <param name="Name">Short name, used in the file name.</param>
public sealed record TraceTarget(int ProcessId, string Name);

/// <summary>One file written by a collection.</summary>
/// <param name="Target">Whose it is.</param>
/// <param name="Path">The .nettrace file.</param>
/// <param name="Bytes">Its size.</param>
/// <param name="Error">Why the process could not be traced (the file is then absent), or null.</param>
public sealed record TraceFile(TraceTarget Target, string? Path, long Bytes, string? Error);
