using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Tolapai.Xen.PingPong;

/// <summary>
/// Two cache lines in shared memory, one written by each side. The floor for ring round
/// trips: nothing can be cheaper than one line each way.
/// <code>
///  0               8                                                    64
///  +---------------+----------------------------------------------------+
///  | ping u64      | pad (written only by the pinger)                  |
///  +---------------+----------------------------------------------------+
///  | pong u64      | pad (written only by the ponger)                  |  @64
///  +---------------+----------------------------------------------------+
/// </code>
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = 128)]
public struct PingPongLines
{
    /// <summary>Sequence written by the pinger.</summary>
    [FieldOffset(0)] public ulong Ping;

    /// <summary>Sequence echoed by the ponger.</summary>
    [FieldOffset(64)] public ulong Pong;
}

/// <summary>Spinning ping-pong over <see cref="PingPongLines"/>.</summary>
public sealed unsafe class RawPingPong
{
    private readonly PingPongLines* _lines;

    /// <summary>Uses 128 bytes at <paramref name="lines"/> (cache-line aligned).</summary>
    public RawPingPong(byte* lines) => _lines = (PingPongLines*)lines;

    /// <summary>One round trip: publish <paramref name="seq"/>, spin until it is echoed.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void RoundTrip(ulong seq)
    {
        // Release: the pinger's line carries only the sequence.
        Volatile.Write(ref _lines->Ping, seq);
        while (Volatile.Read(ref _lines->Pong) != seq)
        {
            // Acquire loads until the echo lands.
        }
    }

    /// <summary>Echoes pings until the pinger sends <paramref name="stopSeq"/> (echoed too).</summary>
    public void Serve(ulong stopSeq)
    {
        ulong last = Volatile.Read(ref _lines->Pong);
        while (true)
        {
            ulong seq = Volatile.Read(ref _lines->Ping);
            if (seq != last)
            {
                Volatile.Write(ref _lines->Pong, seq);
                last = seq;
                if (seq == stopSeq)
                {
                    return;
                }
            }
        }
    }
}
