using System.Diagnostics.CodeAnalysis;
namespace Tolapai.Kernels.Des.Vector;

/// <summary>
/// The vector operations the byte-sliced DES pipeline needs, for one vector width. A vector of
/// <see cref="Lanes"/> bytes carries one byte for each of <see cref="Lanes"/> independent blocks
/// ("lanes"). Implementations are structs so the JIT specialises the pipeline per width and
/// inlines every call.
/// </summary>
internal interface ILaneOps<TVec>
    where TVec : unmanaged
{
    /// <summary>True when this width runs on the current CPU.</summary>
    static abstract bool IsSupported { get; }

    /// <summary>Bytes per vector = blocks processed side by side.</summary>
    static abstract int Lanes { get; }

    static abstract TVec Load(ref byte source);

    static abstract void Store(ref byte destination, TVec value);

    static abstract TVec Broadcast(byte value);

    static abstract TVec Xor(TVec a, TVec b);

    static abstract TVec Xor3(TVec a, TVec b, TVec c);

    static abstract TVec And(TVec a, TVec b);

    /// <summary>Bits of <paramref name="a"/> where <paramref name="mask"/> is set, else bits of <paramref name="b"/>.</summary>
    static abstract TVec Merge(TVec a, TVec b, TVec mask);

    /// <summary>Shifts each 16-bit element: bits cross between the two bytes, so callers mask.</summary>
    static abstract TVec ShiftLeft16(TVec value, [ConstantExpected] byte count);

    /// <summary>Shifts each 16-bit element right (logical).</summary>
    static abstract TVec ShiftRight16(TVec value, [ConstantExpected] byte count);

    /// <summary>Byte shuffle within each 128-bit lane (pshufb).</summary>
    static abstract TVec ShuffleInLanes(TVec value, TVec indices);

    static abstract TVec UnpackLow16(TVec a, TVec b);

    static abstract TVec UnpackHigh16(TVec a, TVec b);

    static abstract TVec UnpackLow32(TVec a, TVec b);

    static abstract TVec UnpackHigh32(TVec a, TVec b);

    static abstract TVec UnpackLow64(TVec a, TVec b);

    static abstract TVec UnpackHigh64(TVec a, TVec b);

    /// <summary>Mixes a round key into an E-byte: the result is what <see cref="SBoxToken"/> takes.</summary>
    static abstract TVec KeyMix(TVec eByte, TVec key);

    /// <summary>
    /// What the contribution lookups of S-box <paramref name="box"/> index with: the 6-bit input
    /// itself where a 64-entry permute exists (VBMI), else the 4-bit S-box output.
    /// </summary>
    static abstract TVec SBoxToken(TVec x, int box);

    /// <summary>The one-bit contribution of table <paramref name="pair"/>'s S-box to its target E-byte.</summary>
    static abstract TVec Contribution(TVec token, int pair);
}

/// <summary>Where round keys come from: one key broadcast to every lane, or a key per lane.</summary>
internal interface IKeySource
{
    static abstract TVec Get<TOps, TVec>(ref byte keys, int box)
        where TOps : struct, ILaneOps<TVec>
        where TVec : unmanaged;
}

/// <summary>One key for every lane, pre-broadcast: 8 entries of 64 bytes per round, of which a vector reads its width.</summary>
internal struct WideKeys : IKeySource
{
    public static TVec Get<TOps, TVec>(ref byte keys, int box)
        where TOps : struct, ILaneOps<TVec>
        where TVec : unmanaged
        => TOps.Load(ref System.Runtime.CompilerServices.Unsafe.Add(ref keys, box * 64));
}

/// <summary>A key per lane: round keys are 8 planes of <c>Lanes</c> bytes per round.</summary>
internal struct PlaneKeys : IKeySource
{
    public static TVec Get<TOps, TVec>(ref byte keys, int box)
        where TOps : struct, ILaneOps<TVec>
        where TVec : unmanaged
        => TOps.Load(ref System.Runtime.CompilerServices.Unsafe.Add(ref keys, box * TOps.Lanes));
}
