namespace Tolapai.Ixp;

/// <summary>A device could not be set up or used: the message says which step and why.</summary>
public sealed class IxpException : Exception
{
    /// <summary>With a message.</summary>
    public IxpException(string message) : base(message) { }

    /// <summary>Default.</summary>
    public IxpException() : base("ixp error") { }

    /// <summary>With a cause.</summary>
    public IxpException(string message, Exception innerException) : base(message, innerException) { }
}
