using System.Diagnostics;
using System.Text.Json.Serialization;
using Tolapai.Kernels.Des;

namespace Tolapai.Cpa.Sample;

/// <summary>The kernel's own throughput on the work the engine did.</summary>
public sealed record KernelBaselineResult
{
    /// <summary>Bytes per stream.</summary>
    [JsonPropertyName("size")]
    public int Size { get; init; }

    /// <summary>Independent streams per <see cref="DesCipher.RunBatch"/> call (the sample's depth).</summary>
    [JsonPropertyName("streams")]
    public int Streams { get; init; }

    /// <summary>Bytes ciphered.</summary>
    [JsonPropertyName("bytes")]
    public long Bytes { get; init; }

    /// <summary>Megabits per second of wall-clock time on one thread (best of three).</summary>
    [JsonPropertyName("mbps")]
    public double Mbps { get; init; }

    /// <summary>Megabits per second of this thread's CPU time (best of three; 0 where the thread CPU clock is missing), as <c>perf kernels</c> measures.</summary>
    [JsonPropertyName("cpuMbps")]
    public double CpuMbps { get; init; }

    /// <summary>The stricter yardstick: the larger of <see cref="Mbps"/> and <see cref="CpuMbps"/>.</summary>
    [JsonPropertyName("yardstickMbps")]
    public double YardstickMbps => Math.Max(Mbps, CpuMbps);
}

/// <summary>
/// The yardstick of the engine: <see cref="DesCipher.RunBatch"/> in this thread over
/// <c>streams</c> independent jobs of <c>size</c> bytes (one key, each job its own IV), the
/// algorithm and direction the sample ran, repeated over the same number of bytes as the
/// sample's operations at that size, the best of three repetitions, timed by wall clock (as the
/// sample is) and by this thread's CPU time (as <c>perf kernels</c> is, immune to waiting for a core).
/// </summary>
public static unsafe class KernelBaseline
{
    /// <summary>Measures; <paramref name="totalBytes"/> is rounded up to whole batches.</summary>
    public static KernelBaselineResult Measure(SymCipherAlgorithm algorithm, SymCipherDirection direction, int size, int streams, long totalBytes, int seed = 1)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(size);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(streams);
        var random = new Random(seed);
        byte[] keyBytes = new byte[SymAlgorithms.IsTripleDes(algorithm) ? 24 : 8];
        random.NextBytes(keyBytes);
        using DesKeySchedule key = DesKeySchedule.Create(keyBytes);
        long bufferBytes = (long)size * streams;
        byte* src = (byte*)System.Runtime.InteropServices.NativeMemory.AlignedAlloc((nuint)bufferBytes, 4096);
        byte* dst = (byte*)System.Runtime.InteropServices.NativeMemory.AlignedAlloc((nuint)bufferBytes, 4096);
        try
        {
            random.NextBytes(new Span<byte>(src, (int)Math.Min(bufferBytes, int.MaxValue)));
            var jobs = new DesJob[streams];
            CipherMode mode = SymAlgorithms.Mode(algorithm);
            Kernels.Des.CipherDirection dir = SymAlgorithms.Direction(direction);

            void Fill()
            {
                for (int i = 0; i < streams; i++)
                {
                    jobs[i] = new DesJob(key, mode, dir, src + ((long)i * size), dst + ((long)i * size), size, (ulong)random.NextInt64());
                }
            }

            long batches = Math.Max(1, (totalBytes + bufferBytes - 1) / bufferBytes);

            // Warm-up: a tenth as much, so the measured part runs optimised code.
            for (long b = 0; b < Math.Max(1, batches / 10); b++)
            {
                Fill();
                DesCipher.RunBatch(jobs);
            }

            // The best of three: the yardstick is what the kernel can do here, not what a
            // noisy neighbour left of it during one measurement.
            double best = double.MaxValue;
            double bestCpu = double.MaxValue;
            for (int rep = 0; rep < 3; rep++)
            {
                long c0 = ThreadCpuClock.NowNanoseconds();
                long t0 = Stopwatch.GetTimestamp();
                for (long b = 0; b < batches; b++)
                {
                    Fill();
                    DesCipher.RunBatch(jobs);
                }

                best = Math.Min(best, Stopwatch.GetElapsedTime(t0).TotalSeconds);
                bestCpu = Math.Min(bestCpu, (ThreadCpuClock.NowNanoseconds() - c0) / 1e9);
            }

            long bytes = batches * bufferBytes;
            return new KernelBaselineResult
            {
                Size = size,
                Streams = streams,
                Bytes = bytes,
                Mbps = bytes * 8 / best / 1e6,
                CpuMbps = ThreadCpuClock.IsAvailable && bestCpu > 0 ? bytes * 8 / bestCpu / 1e6 : 0,
            };
        }
        finally
        {
            System.Runtime.InteropServices.NativeMemory.AlignedFree(src);
            System.Runtime.InteropServices.NativeMemory.AlignedFree(dst);
        }
    }
}
