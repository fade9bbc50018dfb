using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Lineup.Core.Numerics;

namespace Lineup.Index.Ivf;

/// <summary>
/// The inverted-file index's arithmetic over <see cref="Int8Quantizer"/> codes (symmetric int8, one scale per vector): the
/// integer dot product that scores a probe against a list's codes. On x86 the product widens bytes to 16 bits and uses
/// the multiply-add-adjacent instruction (<c>vpmaddwd</c>), 32 components per step with AVX-512BW, 16 with AVX2;
/// elsewhere a scalar loop gives the same integers.
/// </summary>
internal static class Int8Kernels
{
    /// <summary>
    /// Σ probe[i] × code[i] in 32-bit integers (exact: 512 products of at most 127² stay far below 2³¹). Lengths must
    /// match; the caller guarantees it.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Dot(ReadOnlySpan<short> probe, ReadOnlySpan<sbyte> code)
    {
        var n = code.Length;
        ref var p = ref MemoryMarshal.GetReference(probe);
        ref var c = ref MemoryMarshal.GetReference(code);
        var i = 0;
        var sum = 0;
        if (Avx512BW.IsSupported && n >= 64)
        {
            var acc0 = Vector512<int>.Zero;
            var acc1 = Vector512<int>.Zero;
            for (; i <= n - 64; i += 64)
            {
                var c0 = Avx512BW.ConvertToVector512Int16(Vector256.LoadUnsafe(ref c, (nuint)i));
                var c1 = Avx512BW.ConvertToVector512Int16(Vector256.LoadUnsafe(ref c, (nuint)(i + 32)));
                acc0 = Avx512F.Add(acc0, Avx512BW.MultiplyAddAdjacent(c0, Vector512.LoadUnsafe(ref p, (nuint)i)));
                acc1 = Avx512F.Add(acc1, Avx512BW.MultiplyAddAdjacent(c1, Vector512.LoadUnsafe(ref p, (nuint)(i + 32))));
            }

            sum = Vector512.Sum(acc0 + acc1);
        }
        else if (Avx2.IsSupported && n >= 32)
        {
            var acc0 = Vector256<int>.Zero;
            var acc1 = Vector256<int>.Zero;
            for (; i <= n - 32; i += 32)
            {
                var c0 = Avx2.ConvertToVector256Int16(Vector128.LoadUnsafe(ref c, (nuint)i));
                var c1 = Avx2.ConvertToVector256Int16(Vector128.LoadUnsafe(ref c, (nuint)(i + 16)));
                acc0 = Avx2.Add(acc0, Avx2.MultiplyAddAdjacent(c0, Vector256.LoadUnsafe(ref p, (nuint)i)));
                acc1 = Avx2.Add(acc1, Avx2.MultiplyAddAdjacent(c1, Vector256.LoadUnsafe(ref p, (nuint)(i + 16))));
            }

            sum = Vector256.Sum(acc0 + acc1);
        }

        for (; i < n; i++)
        {
            sum += Unsafe.Add(ref p, i) * Unsafe.Add(ref c, i);
        }

        return sum;
    }

    /// <summary>Scalar reference of <see cref="Dot"/>, for tests.</summary>
    internal static int DotScalar(ReadOnlySpan<short> probe, ReadOnlySpan<sbyte> code)
    {
        var sum = 0;
        for (var i = 0; i < code.Length; i++)
        {
            sum += probe[i] * code[i];
        }

        return sum;
    }
}
