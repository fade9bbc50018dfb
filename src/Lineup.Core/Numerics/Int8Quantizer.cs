using System.Numerics;
using System.Numerics.Tensors;

namespace Lineup.Core.Numerics;

/// <summary>
/// Symmetric int8 quantisation with one scale per vector: the largest component maps to ±127 and every other component
/// to the nearest step of that scale. The catalog's embeddings (<see cref="EmbeddingCodec"/>) and the inverted-file
/// index's codes both use it.
/// </summary>
public static class Int8Quantizer
{
    /// <summary>Largest code magnitude: symmetric, so -127..127 (-128 is never written).</summary>
    public const int CodeRange = 127;

    /// <summary>
    /// Writes <paramref name="vector"/> as codes scaled so its largest component maps to ±127; returns the factor that
    /// turns a code back into a component (largest magnitude / 127). A zero or non-finite vector gives zero codes and
    /// scale 0.
    /// </summary>
    public static float Quantize(ReadOnlySpan<float> vector, Span<sbyte> codes) => Quantize<sbyte>(vector, codes);

    /// <summary>As <see cref="Quantize(ReadOnlySpan{float}, Span{sbyte})"/>, widened to 16 bits (the probe side of an integer dot product).</summary>
    public static float Quantize(ReadOnlySpan<float> vector, Span<short> codes) => Quantize<short>(vector, codes);

    private static float Quantize<T>(ReadOnlySpan<float> vector, Span<T> codes)
        where T : struct, IBinaryInteger<T>
    {
        var magnitude = MathF.Abs(TensorPrimitives.MaxMagnitude(vector));
        if (magnitude == 0 || !float.IsFinite(magnitude))
        {
            codes.Clear();
            return 0;
        }

        var factor = CodeRange / magnitude;
        for (var i = 0; i < vector.Length; i++)
        {
            codes[i] = T.CreateTruncating(Math.Clamp((int)MathF.Round(vector[i] * factor), -CodeRange, CodeRange));
        }

        return magnitude / CodeRange;
    }

    /// <summary>Codes back to components: <c>code × scale</c>.</summary>
    public static void Dequantize(ReadOnlySpan<sbyte> codes, float scale, Span<float> vector)
    {
        for (var i = 0; i < codes.Length; i++)
        {
            vector[i] = codes[i] * scale;
        }
    }
}
