namespace Tolapai.Ixp.Protocol;

/// <summary>Operations of an <see cref="IxpRequest"/>.</summary>
public enum IxpOperation : byte
{
    /// <summary>Seed v1: DES encrypt of the parameter page (<see cref="DesRequestV1"/>) in place.</summary>
    DesEncryptV1 = 1,

    /// <summary>Seed v1: DES decrypt of the parameter page in place.</summary>
    DesDecryptV1 = 2,

    /// <summary>feature-sessions: keep a key and algorithm at a session slot.</summary>
    SessionCreate = 3,

    /// <summary>feature-sessions: forget a session slot (its key is zeroed).</summary>
    SessionDestroy = 4,

    /// <summary>feature-sessions: cipher with a session, segments inline.</summary>
    Cipher = 5,

    /// <summary>feature-max-indirect-segments: cipher with a session, segments in indirect pages.</summary>
    CipherIndirect = 6,
}

/// <summary>Status of an <see cref="IxpResponse"/> (blkif's OKAY/ERROR/EOPNOTSUPP, then ixp's own).</summary>
public enum IxpStatus : short
{
    /// <summary>Done; resp_size bytes of result.</summary>
    Okay = 0,

    /// <summary>The request is malformed (sizes, counts, lengths, offsets, session slot).</summary>
    Error = -1,

    /// <summary>Unknown operation, or a feature the backend did not advertise.</summary>
    NotSupported = -2,

    /// <summary>A grant could not be mapped as needed (not granted to dom0, out of range, revoked, read-only for output, another guest's).</summary>
    BadGrant = -3,

    /// <summary>The session slot holds no session.</summary>
    NoSession = -4,

    /// <summary>A per-guest limit (outstanding requests, sessions) or the device is out of room.</summary>
    Busy = -5,

    /// <summary>The driver failed the operation.</summary>
    DeviceError = -6,
}

/// <summary>Cipher algorithms (names in feature-algorithms).</summary>
public enum IxpAlgorithm : byte
{
    /// <summary>DES-ECB, key 8.</summary>
    DesEcb = 1,

    /// <summary>DES-CBC, key 8, IV 8.</summary>
    DesCbc = 2,

    /// <summary>3DES-ECB (EDE), key 24.</summary>
    TripleDesEcb = 3,

    /// <summary>3DES-CBC (EDE), key 24, IV 8.</summary>
    TripleDesCbc = 4,

    /// <summary>3DES-CTR, key 24, counter block 8.</summary>
    TripleDesCtr = 5,

    /// <summary>Reserved: AES-CBC, key 16/24/32, IV 16.</summary>
    AesCbc = 16,
}

/// <summary>Cipher direction.</summary>
public enum IxpDirection : byte
{
    /// <summary>Encrypt.</summary>
    Encrypt = 0,

    /// <summary>Decrypt.</summary>
    Decrypt = 1,
}

/// <summary>XenStore keys of an ixp device (PROTOCOL.md lists who writes each).</summary>
public static class IxpKeys
{
    /// <summary>Device type in XenStore paths.</summary>
    public const string DeviceType = "ixp";

    /// <summary>Frontend: ABI of the ring ("x86_64-abi"; absent = native).</summary>
    public const string Protocol = "protocol";

    /// <summary>The only ABI this implementation speaks.</summary>
    public const string NativeProtocol = "x86_64-abi";

    /// <summary>Frontend, single page ring: grant reference of the ring.</summary>
    public const string RingRef = "ring-ref";

    /// <summary>Frontend: the event channel port (of the frontend's domain) the backend binds.</summary>
    public const string EventChannel = "event-channel";

    /// <summary>Frontend: log2 of ring pages (ring-ref0..N-1 then).</summary>
    public const string RingPageOrder = "ring-page-order";

    /// <summary>Backend: largest ring-page-order accepted.</summary>
    public const string MaxRingPageOrder = "max-ring-page-order";

    /// <summary>Backend: queues per device accepted.</summary>
    public const string MultiQueueMaxQueues = "multi-queue-max-queues";

    /// <summary>Frontend: queues used (queue-N/ subdirectories when &gt; 1).</summary>
    public const string MultiQueueNumQueues = "multi-queue-num-queues";

    /// <summary>Backend: "1" when sessions and the cipher operations are served.</summary>
    public const string FeatureSessions = "feature-sessions";

    /// <summary>Backend: comma-separated algorithm names served.</summary>
    public const string FeatureAlgorithms = "feature-algorithms";

    /// <summary>Backend: session slots per device.</summary>
    public const string MaxSessions = "max-sessions";

    /// <summary>Backend: segments inline in one request.</summary>
    public const string FeatureMaxSegments = "feature-max-segments";

    /// <summary>Backend: segments in one indirect request (0/absent: no indirect).</summary>
    public const string FeatureMaxIndirectSegments = "feature-max-indirect-segments";

    /// <summary>Both: "1" = persistent grants (backend keeps pages mapped; frontend reuses them).</summary>
    public const string FeaturePersistent = "feature-persistent";

    /// <summary>Backend: requests a guest may have outstanding (over all its queues).</summary>
    public const string MaxRequests = "max-requests";

    /// <summary>Queue directory name.</summary>
    public static string Queue(int index) => "queue-" + index.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Name of an algorithm in feature-algorithms.</summary>
    public static string Name(IxpAlgorithm algorithm) => algorithm switch
    {
        IxpAlgorithm.DesEcb => "des-ecb",
        IxpAlgorithm.DesCbc => "des-cbc",
        IxpAlgorithm.TripleDesEcb => "3des-ecb",
        IxpAlgorithm.TripleDesCbc => "3des-cbc",
        IxpAlgorithm.TripleDesCtr => "3des-ctr",
        IxpAlgorithm.AesCbc => "aes-cbc",
        _ => "unknown",
    };

    /// <summary>Parses a feature-algorithms value; unknown names are skipped.</summary>
    public static List<IxpAlgorithm> ParseAlgorithms(string? value)
    {
        List<IxpAlgorithm> list = [];
        if (value is null)
        {
            return list;
        }

        foreach (string name in value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            foreach (IxpAlgorithm a in Enum.GetValues<IxpAlgorithm>())
            {
                if (Name(a) == name)
                {
                    list.Add(a);
                }
            }
        }

        return list;
    }

    /// <summary>Key bytes of an algorithm.</summary>
    public static bool IsValidKeyLength(IxpAlgorithm algorithm, int keyLength) => algorithm switch
    {
        IxpAlgorithm.DesEcb or IxpAlgorithm.DesCbc => keyLength == 8,
        IxpAlgorithm.TripleDesEcb or IxpAlgorithm.TripleDesCbc or IxpAlgorithm.TripleDesCtr => keyLength == 24,
        IxpAlgorithm.AesCbc => keyLength is 16 or 24 or 32,
        _ => false,
    };

    /// <summary>Block size: message lengths must be a multiple (CTR: any length).</summary>
    public static int BlockSize(IxpAlgorithm algorithm) => algorithm switch
    {
        IxpAlgorithm.TripleDesCtr => 1,
        IxpAlgorithm.AesCbc => 16,
        _ => 8,
    };
}
