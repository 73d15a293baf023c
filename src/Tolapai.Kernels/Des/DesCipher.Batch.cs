using System.Buffers.Binary;

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
        Span<byte> iv = stackalloc byte[8];
        for (int i = 0; i < jobs.Length; i++)
        {
            ref DesJob job = ref jobs[i];
            BinaryPrimitives.WriteUInt64BigEndian(iv, job.Iv);
            Transform(job.Key, job.Mode, job.Direction, iv, new ReadOnlySpan<byte>(job.Source, job.Length), new Span<byte>(job.Destination, job.Length), kernel);
            job.Iv = BinaryPrimitives.ReadUInt64BigEndian(iv);
        }
    }
}
