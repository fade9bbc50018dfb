using System.Numerics.Tensors;
using System.Runtime.InteropServices;

namespace Lineup.Core.Numerics;

/// <summary>Embedding arithmetic on spans (vectorised through <see cref="TensorPrimitives"/>).</summary>
public static class VectorMath
{
    /// <summary>Scales <paramref name="vector"/> to unit length in place; returns the original length.</summary>
    public static float Normalize(Span<float> vector)
    {
        var norm = TensorPrimitives.Norm(vector);
        if (norm > 0 && float.IsFinite(norm))
        {
            TensorPrimitives.Divide(vector, norm, vector);
        }

        return norm;
    }

    /// <summary>Cosine similarity of two unit vectors (their dot product).</summary>
    public static float CosineOfUnit(ReadOnlySpan<float> a, ReadOnlySpan<float> b) => TensorPrimitives.Dot(a, b);

    /// <summary>Encodes a vector as little-endian IEEE half floats (2 bytes per component).</summary>
    public static byte[] ToHalfBlob(ReadOnlySpan<float> vector)
    {
        var blob = new byte[vector.Length * 2];
        var halves = MemoryMarshal.Cast<byte, Half>(blob.AsSpan());
        TensorPrimitives.ConvertToHalf(vector, halves);
        return blob;
    }

    /// <summary>Decodes a half-float blob written by <see cref="ToHalfBlob"/>.</summary>
    public static float[] FromHalfBlob(ReadOnlySpan<byte> blob)
    {
        if (blob.Length % 2 != 0)
        {
            throw new ArgumentException("A half-float blob has an even number of bytes.", nameof(blob));
        }

        var halves = MemoryMarshal.Cast<byte, Half>(blob);
        var vector = new float[halves.Length];
        TensorPrimitives.ConvertToSingle(halves, vector);
        return vector;
    }
}
