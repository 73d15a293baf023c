using System.Buffers.Binary;
using Tolapai.Kernels.Des;

namespace Tolapai.Cpa.Software;

/// <summary>
/// Ciphers a byte range of one buffer list into the same range of another (or the same) list
/// on the kernels, carrying the chaining value across flat-buffer boundaries; a block split by
/// a boundary is gathered, ciphered and scattered.
/// </summary>
internal static unsafe class ListCipher
{
    public static void Run(DesKeySchedule key, CipherMode mode, Kernels.Des.CipherDirection direction, ulong iv, BufferList source, BufferList destination, int offset, int length)
    {
        Span<byte> ivBytes = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64BigEndian(ivBytes, iv);
        Span<byte> block = stackalloc byte[8];
        Cursor s = Cursor.At(source, offset);
        Cursor d = Cursor.At(destination, offset);
        int remaining = length;
        while (remaining > 0)
        {
            int piece = Math.Min(Math.Min(s.Available, d.Available), remaining);
            int whole = mode == CipherMode.Ctr && piece == remaining ? piece : piece & ~7;
            if (whole > 0)
            {
                DesCipher.Transform(key, mode, direction, ivBytes, new ReadOnlySpan<byte>(s.Pointer, whole), new Span<byte>(d.Pointer, whole));
                s.Advance(whole);
                d.Advance(whole);
                remaining -= whole;
                continue;
            }

            int blk = Math.Min(8, remaining);
            Span<byte> b = block[..blk];
            Cursor g = s;
            for (int i = 0; i < blk; i++)
            {
                b[i] = *g.Pointer;
                g.Advance(1);
            }

            DesCipher.Transform(key, mode, direction, ivBytes, b, b);
            for (int i = 0; i < blk; i++)
            {
                *d.Pointer = b[i];
                d.Advance(1);
            }

            s = g;
            remaining -= blk;
        }

        block.Clear();
    }

    private struct Cursor
    {
        private BufferList _list;
        private int _buffer;
        private int _offset;

        public readonly int Available => _list[_buffer].DataLength - _offset;

        public readonly byte* Pointer => _list[_buffer].Data + _offset;

        public static Cursor At(BufferList list, int offset)
        {
            Cursor c = new() { _list = list };
            c.Advance(offset);
            return c;
        }

        public void Advance(int by)
        {
            _offset += by;
            while (_buffer < _list.Count - 1 && _offset >= _list[_buffer].DataLength)
            {
                _offset -= _list[_buffer].DataLength;
                _buffer++;
            }
        }
    }
}
