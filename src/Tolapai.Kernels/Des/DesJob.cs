namespace Tolapai.Kernels.Des;

/// <summary>
/// One unit of work for <see cref="DesCipher.RunBatch"/>: a key, a mode and direction, an IV
/// or initial counter, and source/destination memory (the same address for in-place). The
/// memory is raw because jobs usually point into mapped guest pages that the GC never sees.
/// </summary>
public unsafe struct DesJob
{
    /// <summary>The scheduled key (shared by any number of jobs).</summary>
    public DesKeySchedule Key;

    /// <summary>ECB, CBC or CTR.</summary>
    public CipherMode Mode;

    /// <summary>Encrypt or decrypt.</summary>
    public CipherDirection Direction;

    /// <summary>Input bytes.</summary>
    public byte* Source;

    /// <summary>Output bytes: equal to <see cref="Source"/> for in-place, else not overlapping it.</summary>
    public byte* Destination;

    /// <summary>Bytes to process: whole blocks for ECB and CBC, any length for CTR.</summary>
    public int Length;

    /// <summary>
    /// The IV (CBC) or counter block (CTR) as a big-endian 64-bit value; on return, the chaining
    /// value that continues the stream (last ciphertext block, or next counter).
    /// </summary>
    public ulong Iv;

    /// <summary>Creates a job.</summary>
    public DesJob(DesKeySchedule key, CipherMode mode, CipherDirection direction, byte* source, byte* destination, int length, ulong iv = 0)
    {
        Key = key;
        Mode = mode;
        Direction = direction;
        Source = source;
        Destination = destination;
        Length = length;
        Iv = iv;
    }
}
