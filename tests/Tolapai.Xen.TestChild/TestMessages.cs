using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Tolapai.Xen.TestChild;

/// <summary>
/// A 64-byte checksummed request.
/// <code>
///  0        8        16       20       24                                   64
///  +--------+--------+--------+--------+------------------------------------+
///  | seq    | salt   | len    | crc    | payload[40]                        |
///  +--------+--------+--------+--------+------------------------------------+
/// </code>
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = 64)]
public struct TestRequest
{
    /// <summary>Sequence number, 0, 1, 2, ...</summary>
    [FieldOffset(0)] public ulong Seq;

    /// <summary>Random per request.</summary>
    [FieldOffset(8)] public ulong Salt;

    /// <summary>Payload bytes used.</summary>
    [FieldOffset(16)] public uint Length;

    /// <summary>Checksum of seq, salt, length and payload.</summary>
    [FieldOffset(20)] public uint Checksum;

    /// <summary>Payload (40 bytes).</summary>
    [FieldOffset(24)] public Payload40 Payload;

    /// <summary>Fills a request deterministically from seq and salt.</summary>
    public static TestRequest Make(ulong seq, ulong salt)
    {
        TestRequest r = default;
        r.Seq = seq;
        r.Salt = salt;
        r.Length = (uint)(salt % 41);
        Span<byte> p = r.Payload;
        ulong x = salt ^ (seq * 0x9E3779B97F4A7C15UL);
        for (int i = 0; i < (int)r.Length; i++)
        {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            p[i] = (byte)x;
        }

        r.Checksum = r.Compute();
        return r;
    }

    /// <summary>FNV-1a over the fields other than the checksum.</summary>
    public readonly uint Compute()
    {
        uint h = 2166136261;
        h = Mix(h, Seq);
        h = Mix(h, Salt);
        h = Mix(h, Length);
        ReadOnlySpan<byte> p = Payload;
        for (int i = 0; i < p.Length; i++)
        {
            h = (h ^ p[i]) * 16777619;
        }

        return h;
    }

    /// <summary>True when the checksum matches and the payload is what <see cref="Make"/> gives.</summary>
    public readonly bool IsIntact()
    {
        if (Length > 40 || Checksum != Compute())
        {
            return false;
        }

        TestRequest expected = Make(Seq, Salt);
        ReadOnlySpan<byte> a = Payload;
        ReadOnlySpan<byte> b = expected.Payload;
        return a.SequenceEqual(b);
    }

    internal static uint Mix(uint h, ulong v)
    {
        for (int i = 0; i < 8; i++)
        {
            h = (h ^ (byte)(v >> (i * 8))) * 16777619;
        }

        return h;
    }
}

/// <summary>40 bytes of payload.</summary>
[InlineArray(40)]
public struct Payload40
{
    private byte _first;
}

/// <summary>
/// A 16-byte response echoing the request's seq and a checksum over (seq, request checksum).
/// <code>
///  0        8        12       16
///  +--------+--------+--------+
///  | seq    | crc    | status |
///  +--------+--------+--------+
/// </code>
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = 16)]
public struct TestResponse
{
    /// <summary>The answered request's seq.</summary>
    [FieldOffset(0)] public ulong Seq;

    /// <summary>Mix of seq and the request checksum.</summary>
    [FieldOffset(8)] public uint Checksum;

    /// <summary>0 when the backend found the request intact.</summary>
    [FieldOffset(12)] public int Status;

    /// <summary>The response a correct backend gives to <paramref name="req"/>.</summary>
    public static TestResponse For(in TestRequest req, int status) =>
        new() { Seq = req.Seq, Checksum = TestRequest.Mix(req.Checksum, ~req.Seq), Status = status };
}
