using System.Diagnostics.CodeAnalysis;

namespace Tolapai.Kernels;

/// <summary>Throws from outside hot methods so they stay small enough to inline.</summary>
internal static class ThrowHelper
{
    [DoesNotReturn]
    public static void ThrowArgument(string paramName, string message) => throw new ArgumentException(message, paramName);

    [DoesNotReturn]
    public static void ThrowNotSupported(string message) => throw new NotSupportedException(message);
}
