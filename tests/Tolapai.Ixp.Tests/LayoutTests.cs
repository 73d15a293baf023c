using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Tolapai.Ixp.Protocol;
using Tolapai.Xen.Ring;

namespace Tolapai.Ixp.Tests;

/// <summary>Every ixp structure's offsets and sizes as PROTOCOL.md draws them.</summary>
public class LayoutTests
{
    private static int Off<T>(string field) => (int)Marshal.OffsetOf<T>(field);

    [Fact]
    public void Request_and_response_are_the_seed_headers()
    {
        Assert.Equal(112, Unsafe.SizeOf<IxpRequest>());
        Assert.Equal(0, Off<IxpRequest>(nameof(IxpRequest.Operation)));
        Assert.Equal(1, Off<IxpRequest>(nameof(IxpRequest.NrSegments)));
        Assert.Equal(2, Off<IxpRequest>(nameof(IxpRequest.Handle)));
        Assert.Equal(4, Off<IxpRequest>(nameof(IxpRequest.Pad)));
        Assert.Equal(8, Off<IxpRequest>(nameof(IxpRequest.Id)));
        Assert.Equal(16, Off<IxpRequest>(nameof(IxpRequest.Body)));
        Assert.Equal(16, Unsafe.SizeOf<IxpResponse>());
        Assert.Equal(0, Off<IxpResponse>(nameof(IxpResponse.Id)));
        Assert.Equal(8, Off<IxpResponse>(nameof(IxpResponse.Operation)));
        Assert.Equal(9, Off<IxpResponse>(nameof(IxpResponse.Pad)));
        Assert.Equal(10, Off<IxpResponse>(nameof(IxpResponse.Status)));
        Assert.Equal(12, Off<IxpResponse>(nameof(IxpResponse.RespSize)));
        // One ring page holds 32 entries of 112 bytes after the 64-byte header (as blkif).
        Assert.Equal(112, SharedRing.EntrySize<IxpRequest, IxpResponse>());
        Assert.Equal(32u, SharedRing.RingSize(4096, 112));
        Assert.Equal(512u, SharedRing.RingSize(16 * 4096, 112));
    }

    [Fact]
    public void Bodies_fill_the_96_bytes_after_the_header()
    {
        Assert.Equal(96, Unsafe.SizeOf<IxpV1Body>());
        Assert.Equal(0, Off<IxpV1Body>(nameof(IxpV1Body.Gref0)));
        Assert.Equal(24, IxpV1Body.MaxGrefs);

        Assert.Equal(96, Unsafe.SizeOf<IxpSessionCreateBody>());
        Assert.Equal(0, Off<IxpSessionCreateBody>(nameof(IxpSessionCreateBody.Session)));
        Assert.Equal(4, Off<IxpSessionCreateBody>(nameof(IxpSessionCreateBody.Algorithm)));
        Assert.Equal(5, Off<IxpSessionCreateBody>(nameof(IxpSessionCreateBody.Direction)));
        Assert.Equal(6, Off<IxpSessionCreateBody>(nameof(IxpSessionCreateBody.KeyLength)));
        Assert.Equal(7, Off<IxpSessionCreateBody>(nameof(IxpSessionCreateBody.Pad)));
        Assert.Equal(8, Off<IxpSessionCreateBody>(nameof(IxpSessionCreateBody.Key)));

        Assert.Equal(96, Unsafe.SizeOf<IxpSessionDestroyBody>());
        Assert.Equal(0, Off<IxpSessionDestroyBody>(nameof(IxpSessionDestroyBody.Session)));

        Assert.Equal(96, Unsafe.SizeOf<IxpCipherBody>());
        Assert.Equal(0, Off<IxpCipherBody>(nameof(IxpCipherBody.Session)));
        Assert.Equal(4, Off<IxpCipherBody>(nameof(IxpCipherBody.NrSrc)));
        Assert.Equal(6, Off<IxpCipherBody>(nameof(IxpCipherBody.NrDst)));
        Assert.Equal(8, Off<IxpCipherBody>(nameof(IxpCipherBody.Iv)));
        Assert.Equal(24, Off<IxpCipherBody>(nameof(IxpCipherBody.MessageLength)));
        Assert.Equal(28, Off<IxpCipherBody>(nameof(IxpCipherBody.Pad)));
        Assert.Equal(32, Off<IxpCipherBody>(nameof(IxpCipherBody.Segment0)));
        Assert.Equal(32 + (8 * IxpCipherBody.MaxSegments), 96);

        Assert.Equal(96, Unsafe.SizeOf<IxpCipherIndirectBody>());
        Assert.Equal(0, Off<IxpCipherIndirectBody>(nameof(IxpCipherIndirectBody.Session)));
        Assert.Equal(4, Off<IxpCipherIndirectBody>(nameof(IxpCipherIndirectBody.NrSrc)));
        Assert.Equal(6, Off<IxpCipherIndirectBody>(nameof(IxpCipherIndirectBody.NrDst)));
        Assert.Equal(8, Off<IxpCipherIndirectBody>(nameof(IxpCipherIndirectBody.Iv)));
        Assert.Equal(24, Off<IxpCipherIndirectBody>(nameof(IxpCipherIndirectBody.MessageLength)));
        Assert.Equal(32, Off<IxpCipherIndirectBody>(nameof(IxpCipherIndirectBody.IndirectGref0)));
        Assert.Equal(32 + (4 * IxpCipherIndirectBody.MaxIndirectPages), 96);
    }

    [Fact]
    public void Segment_and_parameter_page()
    {
        Assert.Equal(8, Unsafe.SizeOf<IxpSegment>());
        Assert.Equal(0, Off<IxpSegment>(nameof(IxpSegment.Gref)));
        Assert.Equal(4, Off<IxpSegment>(nameof(IxpSegment.Offset)));
        Assert.Equal(6, Off<IxpSegment>(nameof(IxpSegment.Length)));
        Assert.Equal(512, IxpSegment.PerPage);

        Assert.Equal(32, Unsafe.SizeOf<DesRequestV1>());
        Assert.Equal(0, Off<DesRequestV1>(nameof(DesRequestV1.KeySize)));
        Assert.Equal(4, Off<DesRequestV1>(nameof(DesRequestV1.IvSize)));
        Assert.Equal(8, Off<DesRequestV1>(nameof(DesRequestV1.MessageSize)));
        Assert.Equal(12, Off<DesRequestV1>(nameof(DesRequestV1.Pad)));
        Assert.Equal(16, Off<DesRequestV1>(nameof(DesRequestV1.Key)));
        Assert.Equal(24, Off<DesRequestV1>(nameof(DesRequestV1.Iv)));
        Assert.Equal(4064, DesRequestV1.MaxMessage);
    }

    [Fact]
    public void Opcodes_status_codes_and_algorithms_are_fixed()
    {
        Assert.Equal([1, 2, 3, 4, 5, 6], Enum.GetValues<IxpOperation>().Select(o => (int)o));
        Assert.Equal([0, -1, -2, -3, -4, -5, -6], new[] { IxpStatus.Okay, IxpStatus.Error, IxpStatus.NotSupported, IxpStatus.BadGrant, IxpStatus.NoSession, IxpStatus.Busy, IxpStatus.DeviceError }.Select(s => (int)s));
        Assert.Equal(7, Enum.GetValues<IxpStatus>().Length);
        Assert.Equal(1, (int)IxpAlgorithm.DesEcb);
        Assert.Equal(5, (int)IxpAlgorithm.TripleDesCtr);
        // The CPA enum and the wire enum agree, so the split binding passes them through.
        Assert.Equal((int)Cpa.SymCipherAlgorithm.TripleDesCtr, (int)IxpAlgorithm.TripleDesCtr);
        Assert.Equal((int)Cpa.SymCipherAlgorithm.DesEcb, (int)IxpAlgorithm.DesEcb);
        Assert.Equal("des-ecb,des-cbc,3des-ecb,3des-cbc,3des-ctr", string.Join(',', IxpKeys.ParseAlgorithms("des-ecb, des-cbc,3des-ecb,3des-cbc,3des-ctr,rot13").Select(IxpKeys.Name)));
    }

    [Fact]
    public async Task Features_round_trip_through_their_keys_and_garbage_reads_as_defaults()
    {
        IxpBackendFeatures f = new()
        {
            Sessions = true,
            Algorithms = [IxpAlgorithm.DesCbc, IxpAlgorithm.TripleDesCtr],
            MaxSessions = 64,
            MaxSegments = 8,
            MaxIndirectSegments = 12,
            Persistent = true,
            MaxRingPageOrder = 4,
            MaxQueues = 4,
            MaxRequests = 256,
        };
        Dictionary<string, string> keys = f.ToKeys().ToDictionary(k => k.Key, k => k.Value);
        IxpBackendFeatures back = await IxpBackendFeatures.ReadAsync(k => Task.FromResult(keys.GetValueOrDefault(k)));
        Assert.Equal(f with { Algorithms = [] }, back with { Algorithms = [] });
        Assert.Equal(f.Algorithms, back.Algorithms);
        IxpBackendFeatures garbage = await IxpBackendFeatures.ReadAsync(k => Task.FromResult<string?>(k == IxpKeys.MaxRingPageOrder ? "99" : "-1x"));
        Assert.Equal(0, garbage.MaxRingPageOrder);
        Assert.False(garbage.Sessions);
        Assert.Equal(1, garbage.MaxQueues);
    }
}
