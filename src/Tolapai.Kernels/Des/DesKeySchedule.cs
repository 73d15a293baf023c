using System.Buffers.Binary;
using System.Security.Cryptography;

namespace Tolapai.Kernels.Des;

/// <summary>
/// A DES or 3DES key, scheduled once and reused by every kernel. For 3DES the 48 round keys are
/// laid out as the EDE sequence runs them (K1 forward, K2 backward, K3 forward), so encryption
/// walks the sequence forwards and decryption walks it backwards. Key material is zeroed on
/// <see cref="Dispose"/>.
/// </summary>
public sealed class DesKeySchedule : IDisposable
{
    // Round keys in the scalar kernel's "cooked" form: two words per round (S1/S3/S5/S7 and
    // S8/S2/S4/S6 chunks at the bit positions ScalarDes extracts them from).
    private readonly uint[] _cooked;

    // Round keys as eight 6-bit S-box inputs per round (b1 = bit 5), the form the SIMD kernels XOR in.
    private readonly byte[] _sixBit;

    // The same in the bit order of the 64-lane merge round's E-bytes (Vector.MergeRounds).
    private readonly byte[] _sixBitStored;

    private bool _disposed;

    private DesKeySchedule(int keyLength, int rounds)
    {
        KeyLength = keyLength;
        Rounds = rounds;
        _cooked = GC.AllocateArray<uint>(rounds * 2, pinned: true);
        _sixBit = GC.AllocateArray<byte>(rounds * 8, pinned: true);
        _sixBitStored = GC.AllocateArray<byte>(rounds * 8, pinned: true);
    }

    /// <summary>8 for DES, 16 for 2-key 3DES (K1K2K1), 24 for 3-key 3DES.</summary>
    public int KeyLength { get; }

    /// <summary>True for 3DES (EDE).</summary>
    public bool IsTripleDes => Rounds == 48;

    /// <summary>16 for DES, 48 for 3DES.</summary>
    internal int Rounds { get; }

    internal ReadOnlySpan<uint> Cooked
    {
        get
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return _cooked;
        }
    }

    /// <summary>
    /// The six-bit round keys broadcast to 64 lanes (64 bytes per S-box per round), made on first
    /// use by a SIMD kernel and kept: the rounds then XOR the key straight from memory instead of
    /// broadcasting a byte eight times a round. Narrower vectors read the front of each entry.
    /// </summary>
    internal ReadOnlySpan<byte> BroadcastPlanes
    {
        get
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_broadcastPlanes is { } planes)
            {
                return planes;
            }

            var built = GC.AllocateArray<byte>(_sixBit.Length * 64, pinned: true);
            for (int i = 0; i < _sixBit.Length; i++)
            {
                built.AsSpan(i * 64, 64).Fill(_sixBit[i]);
            }

            // Racing threads build identical arrays; whichever lands is used.
            return Interlocked.CompareExchange(ref _broadcastPlanes, built, null) ?? built;
        }
    }

    private byte[]? _broadcastPlanes;
    private byte[]? _keyedTables;

    /// <summary>
    /// The 64-lane merge round's S-box tables with this key folded in (<see cref="Vector.MergeRounds.BuildKeyedTables"/>),
    /// made on first use: 8 KiB for DES, 24 KiB for 3DES, in place of broadcast key planes.
    /// </summary>
    internal ReadOnlySpan<byte> KeyedTables
    {
        get
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_keyedTables is { } tables)
            {
                return tables;
            }

            byte[] built = Vector.MergeRounds.BuildKeyedTables(_sixBitStored);
            return Interlocked.CompareExchange(ref _keyedTables, built, null) ?? built;
        }
    }

    /// <summary>The six-bit round keys, each in stored bit order when <paramref name="stored"/>.</summary>
    internal ReadOnlySpan<byte> SixBitKeys(bool stored)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return stored ? _sixBitStored : _sixBit;
    }

    /// <summary>True once <see cref="Dispose"/> has cleared the key.</summary>
    public bool IsDisposed => _disposed;

    /// <summary>True when <paramref name="length"/> is a valid DES (8) or 3DES (16, 24) key length.</summary>
    public static bool IsValidKeyLength(int length) => length is 8 or 16 or 24;

    /// <summary>Schedules an 8-byte DES key or a 16/24-byte 3DES key. Parity bits are ignored and weak keys accepted, as hardware does.</summary>
    public static DesKeySchedule Create(ReadOnlySpan<byte> key)
    {
        if (!IsValidKeyLength(key.Length))
        {
            throw new ArgumentException($"A DES key is 8 bytes and a 3DES key 16 or 24 bytes, not {key.Length}.", nameof(key));
        }

        var schedule = new DesKeySchedule(key.Length, key.Length == 8 ? 16 : 48);
        Span<ulong> roundKeys = stackalloc ulong[16];
        try
        {
            int stages = key.Length == 8 ? 1 : 3;
            for (int stage = 0; stage < stages; stage++)
            {
                // K1K2K1 for 16-byte keys, K1K2K3 for 24-byte keys.
                int offset = stage == 2 && key.Length == 16 ? 0 : stage * 8;
                DesReference.RoundKeys(BinaryPrimitives.ReadUInt64BigEndian(key.Slice(offset, 8)), roundKeys);

                // The middle stage of EDE decrypts: its keys run backwards in the sequence.
                bool backwards = stage == 1;
                for (int i = 0; i < 16; i++)
                {
                    schedule.Store((stage * 16) + i, roundKeys[backwards ? 15 - i : i]);
                }
            }
        }
        finally
        {
            CryptographicOperations.ZeroMemory(System.Runtime.InteropServices.MemoryMarshal.AsBytes(roundKeys));
        }

        return schedule;
    }

    private void Store(int round, ulong roundKey)
    {
        Span<int> six = stackalloc int[8];
        for (int box = 0; box < 8; box++)
        {
            six[box] = (int)(roundKey >> (42 - (6 * box))) & 0x3F;
            _sixBit[(round * 8) + box] = (byte)six[box];
            _sixBitStored[(round * 8) + box] = (byte)Vector.MergeRounds.Store(box, six[box]);
        }

        _cooked[round * 2] = (uint)((six[0] << 26) | (six[2] << 18) | (six[4] << 10) | (six[6] << 2));
        _cooked[(round * 2) + 1] = (uint)((six[7] << 26) | (six[1] << 18) | (six[3] << 10) | (six[5] << 2));
        six.Clear();
    }

    /// <summary>Clears the key material.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        CryptographicOperations.ZeroMemory(System.Runtime.InteropServices.MemoryMarshal.AsBytes(_cooked.AsSpan()));
        CryptographicOperations.ZeroMemory(_sixBit);
        CryptographicOperations.ZeroMemory(_sixBitStored);
        if (_broadcastPlanes is not null)
        {
            CryptographicOperations.ZeroMemory(_broadcastPlanes);
        }

        // Keyed tables reveal the key as surely as the key itself.
        if (_keyedTables is not null)
        {
            CryptographicOperations.ZeroMemory(_keyedTables);
        }

        _disposed = true;
    }
}
