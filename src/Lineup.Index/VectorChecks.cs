using System.Numerics.Tensors;

namespace Lineup.Index;

/// <summary>Argument checks shared by the index implementations, so both fail the same way on the same input.</summary>
internal static class VectorChecks
{
    public static void Vector(ReadOnlySpan<float> vector, int dimensions, string paramName)
    {
        if (vector.Length != dimensions)
        {
            throw new ArgumentException($"The index holds {dimensions}-dimensional vectors; got {vector.Length}.", paramName);
        }

        if (!TensorPrimitives.IsFiniteAll(vector))
        {
            throw new ArgumentException("The vector has a NaN or infinite component.", paramName);
        }

        if (TensorPrimitives.SumOfSquares(vector) == 0)
        {
            throw new ArgumentException("The zero vector has no direction; cosine similarity is undefined.", paramName);
        }
    }

    public static void Batch(ReadOnlySpan<long> keys, ReadOnlySpan<float> vectors, int dimensions)
    {
        if ((long)keys.Length * dimensions != vectors.Length)
        {
            throw new ArgumentException(
                $"{keys.Length} keys need {(long)keys.Length * dimensions} floats of {dimensions}-dimensional vectors; got {vectors.Length}.",
                nameof(vectors));
        }

        for (var i = 0; i < keys.Length; i++)
        {
            Vector(vectors.Slice(i * dimensions, dimensions), dimensions, nameof(vectors));
        }
    }
}
