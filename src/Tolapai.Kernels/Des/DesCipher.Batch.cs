using System.Buffers;
using System.Diagnostics;
using System.Runtime.Intrinsics;
using Tolapai.Faults;

namespace Tolapai.Kernels.Des;

public static partial class DesCipher
{
    /// <summary>
    /// Runs a batch of independent jobs. CBC-encrypt jobs, each serial on its own, share the
    /// SIMD lanes: every stream gets a lane with its own key and IV and all lanes advance one
    /// block per step. Parallel-mode jobs run one after another on the widest pipeline. Every
    /// job is validated before any is run; <see cref="DesJob.Iv"/> is updated on return.
    /// </summary>
    public static unsafe void RunBatch(Span<DesJob> jobs, DesKernel kernel = DesKernel.Auto)
    {
        Span<byte> iv = stackalloc byte[8];
        for (int i = 0; i < jobs.Length; i++)
        {
            ref DesJob job = ref jobs[i];
            if (job.Key is null || job.Key.IsDisposed)
            {
                ThrowHelper.ThrowArgument(nameof(jobs), $"Job {i} has no key, or its key was disposed.");
            }

            if (job.Length < 0 || (job.Length > 0 && (job.Source == null || job.Destination == null)))
            {
                ThrowHelper.ThrowArgument(nameof(jobs), $"Job {i} has a negative length or a null buffer.");
            }

            Validate(job.Mode, iv, new ReadOnlySpan<byte>(job.Source, job.Length), new Span<byte>(job.Destination, job.Length));
        }

        kernel = Resolve(kernel);
        RunBatchCore(jobs, kernel);
    }

    private static unsafe void RunBatchCore(Span<DesJob> jobs, DesKernel kernel)
    {
        // CBC-encrypt jobs go to the lanes, DES and 3DES apart (they run different round counts).
        int[]? rented = null;
        Span<int> order = jobs.Length <= 512 ? stackalloc int[512] : (rented = ArrayPool<int>.Shared.Rent(jobs.Length));
        try
        {
            int des = 0;
            int tripleDes = jobs.Length;
            for (int i = 0; i < jobs.Length; i++)
            {
                ref DesJob job = ref jobs[i];
                if (kernel != DesKernel.Scalar && job.Mode == CipherMode.Cbc && job.Direction == CipherDirection.Encrypt)
                {
                    if (job.Key.IsTripleDes)
                    {
                        order[--tripleDes] = i;
                    }
                    else
                    {
                        order[des++] = i;
                    }

                    continue;
                }

                // Validated by RunBatch already: straight to the work.
                job.Iv = TransformCore(job.Key, job.Mode, job.Direction, job.Iv, new ReadOnlySpan<byte>(job.Source, job.Length), new Span<byte>(job.Destination, job.Length), kernel);
            }

            if (des > 0)
            {
                CbcEncryptStreams(kernel, jobs, order[..des]);
            }

            if (tripleDes < jobs.Length)
            {
                CbcEncryptStreams(kernel, jobs, order[tripleDes..jobs.Length]);
            }
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<int>.Shared.Return(rented);
            }
        }
    }

    // A vector step costs about as much as a few dozen scalar blocks: below this many live
    // streams, the remaining ones finish faster one block at a time.
    private static int MinimumLanes(int lanes) => Math.Max(2, lanes / 16);

    private static void CbcEncryptStreams(DesKernel kernel, Span<DesJob> jobs, ReadOnlySpan<int> order)
    {
        // Test-only (TOLAPAI_TEST_FAULTS): the lanes are the SIMD kernel's work.
        long faultStart = TestFaults.Any ? Stopwatch.GetTimestamp() : 0;
        CbcEncryptStreamsWork(kernel, jobs, order);
        if (TestFaults.Any)
        {
            TestFaults.Burn(faultStart, TestFaults.SlowSimdKernel);
        }
    }

    private static void CbcEncryptStreamsWork(DesKernel kernel, Span<DesJob> jobs, ReadOnlySpan<int> order)
    {
        switch (kernel)
        {
            case DesKernel.Vector512:
                Vector.VectorDes<Vector.V512Ops, Vector512<byte>>.CbcEncryptStreams(jobs, order, MinimumLanes(64));
                break;
            case DesKernel.Vector256:
                Vector.VectorDes<Vector.V256Ops, Vector256<byte>>.CbcEncryptStreams(jobs, order, MinimumLanes(32));
                break;
            default:
                Vector.VectorDes<Vector.V128Ops, Vector128<byte>>.CbcEncryptStreams(jobs, order, MinimumLanes(16));
                break;
        }
    }
}
