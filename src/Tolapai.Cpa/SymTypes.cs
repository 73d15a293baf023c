namespace Tolapai.Cpa;

/// <summary>Cipher algorithms of the device (<c>CpaCySymCipherAlgorithm</c>, the DES family).</summary>
public enum SymCipherAlgorithm
{
    /// <summary>Single DES, ECB (<c>CPA_CY_SYM_CIPHER_DES_ECB</c>), 8-byte key.</summary>
    DesEcb = 1,

    /// <summary>Single DES, CBC (<c>CPA_CY_SYM_CIPHER_DES_CBC</c>), 8-byte key, 8-byte IV.</summary>
    DesCbc = 2,

    /// <summary>3DES EDE, ECB (<c>CPA_CY_SYM_CIPHER_3DES_ECB</c>), 16-byte (K1K2K1) or 24-byte key.</summary>
    TripleDesEcb = 3,

    /// <summary>3DES EDE, CBC (<c>CPA_CY_SYM_CIPHER_3DES_CBC</c>), 16- or 24-byte key, 8-byte IV.</summary>
    TripleDesCbc = 4,

    /// <summary>3DES EDE, CTR with a 64-bit big-endian counter (<c>CPA_CY_SYM_CIPHER_3DES_CTR</c>), any length.</summary>
    TripleDesCtr = 5,
}

/// <summary>Which way a session ciphers (<c>CpaCySymCipherDirection</c>).</summary>
public enum SymCipherDirection
{
    /// <summary>Plaintext to ciphertext (<c>CPA_CY_SYM_CIPHER_DIRECTION_ENCRYPT</c>).</summary>
    Encrypt = 0,

    /// <summary>Ciphertext to plaintext (<c>CPA_CY_SYM_CIPHER_DIRECTION_DECRYPT</c>).</summary>
    Decrypt = 1,
}

/// <summary>Packet type of an operation (<c>CpaCySymPacketType</c>); only whole packets are supported.</summary>
public enum SymPacketType
{
    /// <summary>The whole message in one operation (<c>CPA_CY_SYM_PACKET_TYPE_FULL</c>).</summary>
    Full = 0,

    /// <summary>Part of a message whose state the session carries (<c>CPA_CY_SYM_PACKET_TYPE_PARTIAL</c>); answered <see cref="CpaStatus.Unsupported"/>.</summary>
    Partial = 1,

    /// <summary>The last part of a partial message; answered <see cref="CpaStatus.Unsupported"/>.</summary>
    LastPartial = 2,
}

/// <summary>How completions reach the application.</summary>
public enum CompletionMode
{
    /// <summary>The application calls <see cref="ICySymInstance.Poll"/>; callbacks run on the polling thread.</summary>
    Polling,

    /// <summary>A driver thread woken by the device's interrupt (doorbell) runs the callbacks; <see cref="ICySymInstance.Poll"/> answers <see cref="CpaStatus.Unsupported"/>.</summary>
    Interrupt,
}

/// <summary>
/// Called once per completed operation (<c>CpaCySymCbFunc</c>): the tag given to
/// <see cref="ICySymInstance.PerformOp"/>, the outcome, and the destination buffer list
/// (<see langword="null"/> for operations submitted by machine address). It runs on the
/// polling thread or the driver's completion thread and must not block.
/// </summary>
public delegate void SymCallback(object? callbackTag, CpaStatus status, BufferList? destination);

/// <summary>
/// Session setup (<c>CpaCySymSessionSetupData</c> with its <c>cipherSetupData</c>): the
/// algorithm, direction and key. The key is copied by <see cref="ICySymInstance.InitSession"/>.
/// </summary>
public readonly struct SymSessionSetupData
{
    /// <summary>Creates setup data.</summary>
    public SymSessionSetupData(SymCipherAlgorithm algorithm, SymCipherDirection direction, ReadOnlyMemory<byte> key)
    {
        Algorithm = algorithm;
        Direction = direction;
        Key = key;
    }

    /// <summary>Cipher algorithm.</summary>
    public SymCipherAlgorithm Algorithm { get; init; }

    /// <summary>Encrypt or decrypt.</summary>
    public SymCipherDirection Direction { get; init; }

    /// <summary>Key bytes: 8 for DES, 16 or 24 for 3DES (<c>pCipherKey</c>, <c>cipherKeyLenInBytes</c>).</summary>
    public ReadOnlyMemory<byte> Key { get; init; }
}

/// <summary>
/// One operation (<c>CpaCySymOpData</c>): session, packet type, IV, and the byte range of the
/// source buffer list to cipher. The result lands at the same range of the destination list
/// (the same list = in place); destination bytes outside the range are not written.
/// </summary>
public struct SymOpData
{
    /// <summary>The session (<c>sessionCtx</c>).</summary>
    public CySymSession? Session;

    /// <summary>Only <see cref="SymPacketType.Full"/>.</summary>
    public SymPacketType PacketType;

    /// <summary>8 bytes for CBC (the IV) and CTR (the initial big-endian counter block); ignored for ECB (<c>pIv</c>, <c>ivLenInBytes</c>). Copied at submission.</summary>
    public ReadOnlyMemory<byte> Iv;

    /// <summary>Offset of the first byte to cipher in the (concatenated) source list (<c>cryptoStartSrcOffsetInBytes</c>).</summary>
    public int CryptoStartSrcOffset;

    /// <summary>Bytes to cipher (<c>messageLenToCipherInBytes</c>): a multiple of 8 for ECB and CBC, any positive length for CTR.</summary>
    public int MessageLenToCipher;
}

/// <summary>Counters of an instance (<c>CpaCySymStats64</c>, plus retries).</summary>
public readonly record struct SymStats
{
    /// <summary>Sessions initialised.</summary>
    public long NumSessionsInitialized { get; init; }

    /// <summary>Sessions removed.</summary>
    public long NumSessionsRemoved { get; init; }

    /// <summary>Session init/remove calls refused.</summary>
    public long NumSessionErrors { get; init; }

    /// <summary>Operations accepted (submitted).</summary>
    public long NumSymOpRequests { get; init; }

    /// <summary>Operations refused at submission with an error (not counting <see cref="CpaStatus.Retry"/>); nothing was submitted.</summary>
    public long NumSymOpRequestErrors { get; init; }

    /// <summary>Submissions answered <see cref="CpaStatus.Retry"/> (ring full).</summary>
    public long NumSymOpRetries { get; init; }

    /// <summary>Operations completed with <see cref="CpaStatus.Success"/>.</summary>
    public long NumSymOpCompleted { get; init; }

    /// <summary>Operations completed with an error status.</summary>
    public long NumSymOpCompletedErrors { get; init; }
}
