namespace Tolapai.Ixp.Frontend;

/// <summary>What the frontend asks for; each is clipped to what the backend advertises.</summary>
public sealed record IxpFrontendOptions
{
    /// <summary>Queues (rings, event channels) wanted.</summary>
    public int Queues { get; init; } = 1;

    /// <summary>log2 of ring pages wanted (0..4).</summary>
    public int RingPageOrder { get; init; }

    /// <summary>Use persistent grants if the backend offers them.</summary>
    public bool Persistent { get; init; } = true;

    /// <summary>Segments per indirect request wanted (0: no indirect).</summary>
    public int IndirectSegments { get; init; }

    /// <summary>Use sessions if the backend offers them (false: protocol v1 only).</summary>
    public bool Sessions { get; init; } = true;

    /// <summary>Timeout of each handshake step.</summary>
    public TimeSpan HandshakeTimeout { get; init; } = TimeSpan.FromSeconds(20);
}
