namespace Tolapai.Kernels.Des;

/// <summary>Block cipher mode of operation.</summary>
public enum CipherMode
{
    /// <summary>Electronic codebook: every block on its own.</summary>
    Ecb,

    /// <summary>Cipher block chaining with an 8-byte IV.</summary>
    Cbc,

    /// <summary>Counter mode: the IV is the initial 64-bit big-endian counter block (as BouncyCastle's SIC).</summary>
    Ctr,
}

/// <summary>Which way the cipher runs.</summary>
public enum CipherDirection
{
    /// <summary>Plaintext to ciphertext.</summary>
    Encrypt,

    /// <summary>Ciphertext to plaintext.</summary>
    Decrypt,
}

/// <summary>
/// Which implementation runs. <see cref="Auto"/> takes the widest one the CPU supports; the
/// others are callable directly so each path can be tested and measured on its own.
/// </summary>
public enum DesKernel
{
    /// <summary>The widest supported pipeline.</summary>
    Auto,

    /// <summary>One block at a time with combined S-box/P tables (no SIMD).</summary>
    Scalar,

    /// <summary>16 lanes per vector (SSSE3 shuffles, or AVX-512 VBMI where present).</summary>
    Vector128,

    /// <summary>32 lanes per vector (AVX2 shuffles, or AVX-512 VBMI where present).</summary>
    Vector256,

    /// <summary>64 lanes per vector (AVX-512 VBMI permutes, GFNI bit transposes, ternary logic).</summary>
    Vector512,
}
