using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Tolapai.Kernels.Des.Vector;

internal static partial class VectorDes<TOps, TVec>
{
    /// <summary>Per-thread working memory for <see cref="CbcEncryptStreams"/>, allocated once per thread.</summary>
    private sealed class StreamScratch
    {
        public readonly byte[] KeyPlanes = GC.AllocateArray<byte>(48 * 8 * TOps.Lanes, pinned: true);
        public readonly byte[] Input = GC.AllocateArray<byte>(8 * TOps.Lanes, pinned: true);
        public readonly byte[] Output = GC.AllocateArray<byte>(8 * TOps.Lanes, pinned: true);
        public readonly TVec[] State = new TVec[16];
        public readonly int[] Job = new int[TOps.Lanes];
        public readonly int[] Position = new int[TOps.Lanes];
        public readonly ulong[] Chain = new ulong[TOps.Lanes];
    }

    [ThreadStatic]
    private static StreamScratch? t_scratch;

    /// <summary>
    /// Shape (b): CBC-encrypts many independent streams (all DES or all 3DES), each in its own
    /// lane with its own key and IV. All lanes advance one block per step; a lane whose stream
    /// ends takes the next waiting stream. When fewer streams remain than make a vector step pay,
    /// they finish on the scalar kernel. <paramref name="order"/> lists the jobs to run.
    /// </summary>
    public static unsafe void CbcEncryptStreams(Span<DesJob> jobs, ReadOnlySpan<int> order, int minimumLanes)
    {
        StreamScratch scratch = t_scratch ??= new StreamScratch();
        int lanes = TOps.Lanes;
        int rounds = jobs[order[0]].Key.Rounds;
        ref byte keyPlanes = ref MemoryMarshal.GetArrayDataReference(scratch.KeyPlanes);
        ref byte input = ref MemoryMarshal.GetArrayDataReference(scratch.Input);
        ref byte output = ref MemoryMarshal.GetArrayDataReference(scratch.Output);
        ref TVec state = ref MemoryMarshal.GetArrayDataReference(scratch.State);
        int[] slotJob = scratch.Job;
        int[] position = scratch.Position;
        ulong[] chain = scratch.Chain;

        int next = 0;
        int active = 0;
        for (int slot = 0; slot < lanes; slot++)
        {
            slotJob[slot] = -1;
            next = Fill(jobs, order, next, slot, scratch, ref active);
        }

        while (active >= minimumLanes)
        {
            for (int slot = 0; slot < lanes; slot++)
            {
                int job = slotJob[slot];
                if (job >= 0)
                {
                    ulong plain = Unsafe.ReadUnaligned<ulong>(jobs[job].Source + position[slot]);
                    Unsafe.WriteUnaligned(ref Unsafe.Add(ref input, slot * 8), plain ^ chain[slot]);
                }
            }

            LoadGroup(ref input, ref state);
            Rounds<PlaneKeys>(ref state, ref keyPlanes, 8 * lanes, rounds / 16);
            StoreGroup(ref state, ref output);

            for (int slot = 0; slot < lanes; slot++)
            {
                int job = slotJob[slot];
                if (job < 0)
                {
                    continue;
                }

                ref DesJob j = ref jobs[job];
                ulong cipher = Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref output, slot * 8));
                Unsafe.WriteUnaligned(j.Destination + position[slot], cipher);
                chain[slot] = cipher;
                position[slot] += 8;
                if (position[slot] == j.Length)
                {
                    j.Iv = System.Buffers.Binary.BinaryPrimitives.ReverseEndianness(cipher);
                    active--;
                    slotJob[slot] = -1;
                    next = Fill(jobs, order, next, slot, scratch, ref active);
                }
            }
        }

        // Too few streams left to fill a vector: finish them, and any not yet started, one block at a time.
        for (int slot = 0; slot < lanes; slot++)
        {
            int job = slotJob[slot];
            if (job >= 0)
            {
                ref DesJob j = ref jobs[job];
                int done = position[slot];
                j.Iv = Scalar.ScalarModes.CbcEncrypt(
                    j.Key.Cooked,
                    System.Buffers.Binary.BinaryPrimitives.ReverseEndianness(chain[slot]),
                    new ReadOnlySpan<byte>(j.Source + done, j.Length - done),
                    new Span<byte>(j.Destination + done, j.Length - done));
            }
        }

        for (; next < order.Length; next++)
        {
            ref DesJob j = ref jobs[order[next]];
            j.Iv = Scalar.ScalarModes.CbcEncrypt(j.Key.Cooked, j.Iv, new ReadOnlySpan<byte>(j.Source, j.Length), new Span<byte>(j.Destination, j.Length));
        }
    }

    /// <summary>Gives <paramref name="slot"/> the next stream with data, writing its key into the slot's lane of every key plane.</summary>
    private static int Fill(Span<DesJob> jobs, ReadOnlySpan<int> order, int next, int slot, StreamScratch scratch, ref int active)
    {
        while (next < order.Length && jobs[order[next]].Length == 0)
        {
            next++;
        }

        if (next == order.Length)
        {
            return next;
        }

        int job = order[next];
        ReadOnlySpan<byte> keys = jobs[job].Key.SixBit;
        int lane = BlockToLane[slot];
        int lanes = TOps.Lanes;
        byte[] planes = scratch.KeyPlanes;
        for (int i = 0; i < keys.Length; i++)
        {
            planes[(i * lanes) + lane] = keys[i];
        }

        scratch.Job[slot] = job;
        scratch.Position[slot] = 0;
        scratch.Chain[slot] = System.Buffers.Binary.BinaryPrimitives.ReverseEndianness(jobs[job].Iv);
        active++;
        return next + 1;
    }
}
