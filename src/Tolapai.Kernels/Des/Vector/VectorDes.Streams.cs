using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;

namespace Tolapai.Kernels.Des.Vector;

internal static partial class VectorDes<TOps, TVec>
{
    /// <summary>Per-thread working memory for <see cref="CbcEncryptStreams"/>, allocated once per thread.</summary>
    private sealed unsafe class StreamScratch
    {
        public readonly byte[] KeyPlanes = GC.AllocateArray<byte>(48 * 8 * TOps.Lanes, pinned: true);
        // Rows of Lanes blocks, one row per step of a chunk; Chain holds the last ciphertext row.
        public readonly byte[] Input = GC.AllocateArray<byte>(ChunkSteps * 8 * TOps.Lanes, pinned: true);
        public readonly byte[] Output = GC.AllocateArray<byte>(ChunkSteps * 8 * TOps.Lanes, pinned: true);
        public readonly byte[] Chain = GC.AllocateArray<byte>(8 * TOps.Lanes, pinned: true);

        // Idle lanes read and write here, a stretch's worth of blocks, so the gather loop has no branch.
        public readonly byte[] Idle = GC.AllocateArray<byte>(8 * MaxStretch, pinned: true);
        // A group's E-form state, 2 KiB (mod 4 KiB) from the key planes' first round: the rounds
        // load the state right after the conversion stored it, and their first key loads would
        // wait on those stores if the low 12 address bits matched (4K aliasing).
        private readonly byte[] _stateArea = GC.AllocateArray<byte>(4096 + (16 * 64) + 64, pinned: true);

        public ref TVec State
        {
            get
            {
                nint area = ((nint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_stateArea)) + 63) & ~(nint)63;
                nint keys = (nint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(KeyPlanes));
                return ref Unsafe.AsRef<TVec>((void*)(area + ((keys + 2048 - area) & 4095 & ~(nint)63)));
            }
        }
        public readonly int[] Job = new int[TOps.Lanes];
        public readonly int[] Remaining = new int[TOps.Lanes];
        public readonly nint[] Source = new nint[TOps.Lanes];
        public readonly nint[] Destination = new nint[TOps.Lanes];

        public byte* IdleAddress => (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(Idle));
    }

    [ThreadStatic]
    private static StreamScratch? t_scratch;

    /// <summary>Most blocks every lane advances before finished lanes are refilled.</summary>
    private const int MaxStretch = 64;

    /// <summary>
    /// Blocks moved per lane at a time: one cache line. Streams in page-aligned buffers all map
    /// to the same L1 set, so each line is read (and written) whole, once, not once per step.
    /// </summary>
    private const int ChunkSteps = 8;

    /// <summary>
    /// Shape (b): CBC-encrypts many independent streams (all DES or all 3DES), each in its own
    /// lane with its own key and IV. All lanes advance together, as many blocks at a stretch as
    /// the shortest live stream has left; then finished lanes take the next waiting streams.
    /// When fewer than <paramref name="minimumLanes"/> streams remain, they finish on the scalar
    /// kernel. <paramref name="order"/> lists the jobs to run.
    /// </summary>
    public static unsafe void CbcEncryptStreams(Span<DesJob> jobs, ReadOnlySpan<int> order, int minimumLanes)
    {
        StreamScratch scratch = t_scratch ??= new StreamScratch();
        int lanes = TOps.Lanes;
        int rounds = jobs[order[0]].Key.Rounds;
        ref byte keyPlanes = ref MemoryMarshal.GetArrayDataReference(scratch.KeyPlanes);
        ref byte input = ref MemoryMarshal.GetArrayDataReference(scratch.Input);
        ref byte output = ref MemoryMarshal.GetArrayDataReference(scratch.Output);
        ref byte chain = ref MemoryMarshal.GetArrayDataReference(scratch.Chain);
        ref TVec state = ref scratch.State;
        int[] slotJob = scratch.Job;
        int[] remaining = scratch.Remaining;
        nint[] source = scratch.Source;
        nint[] destination = scratch.Destination;

        int next = 0;
        int active = 0;
        for (int slot = 0; slot < lanes; slot++)
        {
            Park(scratch, slot);
            next = Fill(jobs, order, next, slot, scratch, ref active);
        }

        ref nint src = ref MemoryMarshal.GetArrayDataReference(source);
        ref nint dst = ref MemoryMarshal.GetArrayDataReference(destination);
        while (active >= minimumLanes)
        {
            int stretch = MaxStretch;
            for (int slot = 0; slot < lanes; slot++)
            {
                if (slotJob[slot] >= 0)
                {
                    stretch = Math.Min(stretch, remaining[slot]);
                }
            }

            int rowBytes = 8 * lanes;
            for (int done = 0; done < stretch; done += ChunkSteps)
            {
                int steps = Math.Min(ChunkSteps, stretch - done);
                nint start = done * 8;
                if (typeof(TOps) == typeof(V512Ops) && steps == ChunkSteps)
                {
                    // A whole line per lane: eight 8×8 qword transposes make the step-major rows.
                    for (int slot = 0; slot < lanes; slot += 8)
                    {
                        Prefetch(ref Unsafe.Add(ref src, slot), ref Unsafe.Add(ref dst, slot), start, 8);
                        QwordTranspose.Gather(ref Unsafe.Add(ref src, slot), start, (byte*)Unsafe.AsPointer(ref Unsafe.Add(ref input, slot * 8)), rowBytes);
                    }
                }
                else
                {
                    for (int slot = 0; slot < lanes; slot++)
                    {
                        byte* from = (byte*)Unsafe.Add(ref src, slot) + start;
                        Prefetch(ref Unsafe.Add(ref src, slot), ref Unsafe.Add(ref dst, slot), start, 1);

                        for (int k = 0; k < steps; k++)
                        {
                            Unsafe.WriteUnaligned(ref Unsafe.Add(ref input, (k * rowBytes) + (slot * 8)), Unsafe.ReadUnaligned<ulong>(from + (k * 8)));
                        }
                    }
                }

                for (int k = 0; k < steps; k++)
                {
                    // CBC: XOR the previous ciphertext row (or the IVs new streams put in Chain) as it loads.
                    ref byte row = ref Unsafe.Add(ref input, k * rowBytes);
                    ref byte previous = ref k == 0 ? ref chain : ref Unsafe.Add(ref output, (k - 1) * rowBytes);
                    ChainedGroup(ref row, ref previous, ref Unsafe.Add(ref output, k * rowBytes), ref keyPlanes, rounds / 16, ref state);
                }

                Unsafe.CopyBlockUnaligned(ref chain, ref Unsafe.Add(ref output, (steps - 1) * rowBytes), (uint)rowBytes);
                if (typeof(TOps) == typeof(V512Ops) && steps == ChunkSteps)
                {
                    for (int slot = 0; slot < lanes; slot += 8)
                    {
                        QwordTranspose.Scatter((byte*)Unsafe.AsPointer(ref Unsafe.Add(ref output, slot * 8)), rowBytes, ref Unsafe.Add(ref dst, slot), start);
                    }
                }
                else
                {
                    for (int slot = 0; slot < lanes; slot++)
                    {
                        byte* to = (byte*)Unsafe.Add(ref dst, slot) + start;
                        for (int k = 0; k < steps; k++)
                        {
                            Unsafe.WriteUnaligned(to + (k * 8), Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref output, (k * rowBytes) + (slot * 8))));
                        }
                    }
                }
            }

            for (int slot = 0; slot < lanes; slot++)
            {
                int job = slotJob[slot];
                if (job < 0)
                {
                    continue;
                }

                source[slot] += stretch * 8;
                destination[slot] += stretch * 8;
                if ((remaining[slot] -= stretch) == 0)
                {
                    jobs[job].Iv = BinaryPrimitives.ReadUInt64BigEndian(scratch.Chain.AsSpan(slot * 8, 8));
                    active--;
                    Park(scratch, slot);
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
                int length = remaining[slot] * 8;
                jobs[job].Iv = Scalar.ScalarModes.CbcEncrypt(
                    jobs[job].Key.Cooked,
                    BinaryPrimitives.ReadUInt64BigEndian(scratch.Chain.AsSpan(slot * 8, 8)),
                    new ReadOnlySpan<byte>((byte*)source[slot], length),
                    new Span<byte>((byte*)destination[slot], length));
            }
        }

        for (; next < order.Length; next++)
        {
            ref DesJob j = ref jobs[order[next]];
            j.Iv = Scalar.ScalarModes.CbcEncrypt(j.Key.Cooked, j.Iv, new ReadOnlySpan<byte>(j.Source, j.Length), new Span<byte>(j.Destination, j.Length));
        }
    }

    /// <summary>
    /// One CBC step of every lane: (row ^ previous) through the rounds with per-lane keys into
    /// <paramref name="output"/>. A loop-free method of its own, so it is not compiled as part of
    /// the stream loop by on-stack replacement (see <see cref="CryptGroup"/>).
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ChainedGroup(ref byte row, ref byte previous, ref byte output, ref byte keyPlanes, int stages, ref TVec state)
    {
        LoadGroupChained(ref row, ref previous, ref state);
        RunRounds<PlaneKeys>(ref state, ref keyPlanes, 8 * TOps.Lanes, stages);
        StoreGroup(ref state, ref output);
    }

    /// <summary>
    /// Sixty-four streams are more than the hardware prefetchers follow: asks for a lane's source
    /// and destination lines two chunks ahead (a hint; past the end of a buffer it is harmless).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Prefetch(ref nint source, ref nint destination, nint start, int count)
    {
        if (!Sse.IsSupported)
        {
            return;
        }

        for (int i = 0; i < count; i++)
        {
            Sse.Prefetch0((byte*)Unsafe.Add(ref source, i) + start + (2 * ChunkSteps * 8));
            Sse.Prefetch0((byte*)Unsafe.Add(ref destination, i) + start + (2 * ChunkSteps * 8));
        }
    }

    private static unsafe void Park(StreamScratch scratch, int slot)
    {
        scratch.Job[slot] = -1;
        scratch.Source[slot] = (nint)scratch.IdleAddress;
        scratch.Destination[slot] = (nint)scratch.IdleAddress;
    }

    /// <summary>Gives <paramref name="slot"/> the next stream with data, writing its key into the slot's lane of every key plane.</summary>
    private static unsafe int Fill(Span<DesJob> jobs, ReadOnlySpan<int> order, int next, int slot, StreamScratch scratch, ref int active)
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
        ref DesJob j = ref jobs[job];
        ReadOnlySpan<byte> keys = j.Key.SixBitKeys(Sliced);
        int lane = BlockToLane[slot];
        int lanes = TOps.Lanes;
        byte[] planes = scratch.KeyPlanes;
        ref byte plane = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(planes), lane);
        for (int i = 0; i < keys.Length; i++)
        {
            Unsafe.Add(ref plane, i * lanes) = keys[i];
        }

        scratch.Job[slot] = job;
        scratch.Remaining[slot] = j.Length / 8;
        scratch.Source[slot] = (nint)j.Source;
        scratch.Destination[slot] = (nint)j.Destination;
        BinaryPrimitives.WriteUInt64BigEndian(scratch.Chain.AsSpan(slot * 8, 8), j.Iv);
        active++;
        return next + 1;
    }
}
