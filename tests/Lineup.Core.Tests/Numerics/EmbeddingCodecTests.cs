using System.Buffers.Binary;
using Lineup.Core.Numerics;

namespace Lineup.Core.Tests.Numerics;

public sealed class EmbeddingCodecTests
{
    [Fact]
    public void An_embedding_encodes_in_a_format_byte_a_scale_and_one_byte_a_component()
    {
        var vector = UnitVectors(1, 512, seed: 3)[0];
        var blob = EmbeddingCodec.Encode(vector);

        Assert.Equal(517, blob.Length);
        Assert.Equal(EmbeddingCodec.Int8Format, blob[0]);
        var scale = BinaryPrimitives.ReadSingleLittleEndian(blob.AsSpan(1, 4));
        Assert.Equal(vector.Max(Math.Abs) / 127, scale, 1e-7f);

        // The largest component is exactly ±127 steps; every component decodes to within half a step.
        var largest = Array.IndexOf(vector, vector.MaxBy(Math.Abs));
        Assert.Equal(127, Math.Abs((sbyte)blob[5 + largest]));
        var decoded = EmbeddingCodec.Decode(blob);
        Assert.Equal(512, decoded.Length);
        for (var i = 0; i < vector.Length; i++)
        {
            Assert.True(Math.Abs(decoded[i] - vector[i]) <= scale / 2 + 1e-7f, $"component {i}: {vector[i]} → {decoded[i]}");
        }
    }

    [Fact]
    public void Cosines_of_decoded_embeddings_stay_within_a_few_thousandths_of_the_float32_ones()
    {
        // 300 random unit vectors (44,850 pairs); the model's own embeddings were measured the same way (see EmbeddingCodec).
        var vectors = UnitVectors(300, 512, seed: 7);
        var decoded = vectors.Select(v => EmbeddingCodec.Decode(EmbeddingCodec.Encode(v))).ToArray();
        var errors = new List<double>();
        for (var a = 0; a < vectors.Length; a++)
        {
            for (var b = a + 1; b < vectors.Length; b++)
            {
                errors.Add(VectorMath.CosineOfUnit(decoded[a], decoded[b]) - VectorMath.CosineOfUnit(vectors[a], vectors[b]));
            }
        }

        var rms = Math.Sqrt(errors.Average(e => e * e));
        Assert.True(rms < 1e-3, $"rms error {rms}");
        Assert.True(errors.Max(Math.Abs) < 5e-3, $"largest error {errors.Max(Math.Abs)}");
    }

    [Fact]
    public void A_zero_vector_encodes_with_scale_0_and_decodes_to_zeros()
    {
        var blob = EmbeddingCodec.Encode(new float[8]);
        Assert.Equal(13, blob.Length);
        Assert.All(EmbeddingCodec.Decode(blob), c => Assert.Equal(0f, c));
    }

    [Theory]
    [InlineData(512)]
    [InlineData(5000)]
    public void To_stored_replaces_a_vector_in_place_with_exactly_what_the_catalog_gives_back(int dimensions)
    {
        // 5,000 components take the pooled buffer instead of the stack.
        var vector = UnitVectors(1, dimensions, seed: 13)[0];
        var expected = EmbeddingCodec.Decode(EmbeddingCodec.Encode(vector));
        EmbeddingCodec.ToStored(vector);
        Assert.Equal(expected, vector);
    }

    [Theory]
    [InlineData(new byte[] { }, "more than 5 bytes; this one has 0")]
    [InlineData(new byte[] { 1, 0, 0, 0, 0 }, "more than 5 bytes; this one has 5")]
    [InlineData(new byte[] { 3, 0, 0, 0, 0, 1 }, "format byte 1 or 2; this one starts with 3")]
    [InlineData(new byte[] { 2, 1, 0, 0, 0, 0, 0 }, "in a basis (format 2) has more than 7 bytes; this one has 7")]
    [InlineData(new byte[] { 2, 1, 0, 0, 0, 0, 0, 1 }, "stored in basis 1, which the catalog does not have")]
    [InlineData(new byte[] { 1, 0, 0, 0x80, 0xBF, 1 }, "scale is a finite number of at least 0; this one is -1")]
    [InlineData(new byte[] { 1, 0, 0, 0x80, 0x7F, 1 }, "scale is a finite number of at least 0; this one is")]
    public void Bytes_that_are_not_an_embedding_are_refused_saying_why(byte[] blob, string reason)
    {
        var ex = Assert.Throws<InvalidDataException>(() => EmbeddingCodec.Decode(blob));
        Assert.Contains(reason, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Buffers_of_the_wrong_length_are_refused()
    {
        Assert.Throws<ArgumentException>(() => EmbeddingCodec.Encode(new float[4], new byte[8]));
        Assert.Throws<ArgumentException>(() => EmbeddingCodec.Decode(EmbeddingCodec.Encode(new float[4]), new float[5]));
    }

    private static float[][] UnitVectors(int count, int dimensions, int seed)
    {
        var random = new Random(seed);
        var vectors = new float[count][];
        for (var i = 0; i < count; i++)
        {
            var v = new float[dimensions];
            for (var j = 0; j < dimensions; j++)
            {
                // Box-Muller: Gaussian components make a uniformly random direction.
                v[j] = (float)(Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble()));
            }

            VectorMath.Normalize(v);
            vectors[i] = v;
        }

        return vectors;
    }
}
