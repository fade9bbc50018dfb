using System.Buffers.Binary;
using System.Numerics.Tensors;
using Lineup.Core.Numerics;

namespace Lineup.Core.Tests.Numerics;

public sealed class EmbeddingBasisTests
{
    private const int D = 64;

    /// <summary>Directions the sample's embeddings span (as the pack's model puts its 512 dimensions' energy in about 160).</summary>
    private const int Span = 20;

    [Fact]
    public void A_basis_fitted_to_embeddings_that_span_few_directions_keeps_those_directions()
    {
        var sample = LowRank(600, seed: 1, out _);
        var basis = EmbeddingBasis.Fit(7, sample, 600, D)!;

        Assert.Equal(7, basis.Id);
        Assert.Equal(D, basis.Dimensions);
        Assert.Equal(Span, basis.Components);

        // Orthonormal rows.
        for (var i = 0; i < basis.Components; i++)
        {
            for (var j = 0; j < basis.Components; j++)
            {
                var dot = TensorPrimitives.Dot(basis.Rows.Slice(i * D, D), basis.Rows.Slice(j * D, D));
                Assert.Equal(i == j ? 1 : 0, dot, 1e-4);
            }
        }

        Assert.All(basis.Scales.ToArray(), s => Assert.True(s > 0));
    }

    [Fact]
    public void An_embedding_in_the_basis_encodes_as_its_id_a_scale_and_one_byte_a_direction()
    {
        var sample = LowRank(600, seed: 2, out var directions);
        var basis = EmbeddingBasis.Fit(300, sample, 600, D)!;
        var vector = Embedding(directions, new Random(99));

        var blob = EmbeddingCodec.Encode(vector, basis);

        Assert.Equal(EmbeddingCodec.BasisEncodedLength(Span), blob.Length);
        Assert.Equal(EmbeddingCodec.BasisFormat, blob[0]);
        Assert.Equal(300, BinaryPrimitives.ReadUInt16LittleEndian(blob.AsSpan(1, 2)));
        Assert.Equal((EmbeddingCodec.BasisFormat, 300), EmbeddingCodec.Describe(blob));
        Assert.Equal(D, EmbeddingCodec.Dimensions(blob, id => id == 300 ? basis : null));
        var decoded = EmbeddingCodec.Decode(blob, id => id == 300 ? basis : null);
        Assert.Equal(D, decoded.Length);
        Assert.True(VectorMath.CosineOfUnit(vector, decoded) > 0.999, $"cosine {VectorMath.CosineOfUnit(vector, decoded)}");
    }

    [Fact]
    public void Cosines_of_embeddings_decoded_from_the_basis_stay_within_a_few_thousandths()
    {
        var sample = LowRank(600, seed: 3, out var directions);
        var basis = EmbeddingBasis.Fit(1, sample, 600, D)!;
        var random = new Random(5);
        var vectors = Enumerable.Range(0, 200).Select(_ => Embedding(directions, random)).ToArray();
        var decoded = vectors.Select(v => EmbeddingCodec.Decode(EmbeddingCodec.Encode(v, basis), _ => basis)).ToArray();
        var errors = new List<double>();
        for (var a = 0; a < vectors.Length; a++)
        {
            for (var b = a + 1; b < vectors.Length; b++)
            {
                errors.Add(VectorMath.CosineOfUnit(decoded[a], decoded[b]) - VectorMath.CosineOfUnit(vectors[a], vectors[b]));
            }
        }

        var rms = Math.Sqrt(errors.Average(e => e * e));
        Assert.True(rms < 3e-3, $"rms error {rms}");
        Assert.True(errors.Max(Math.Abs) < 1.5e-2, $"largest error {errors.Max(Math.Abs)}");
    }

    [Fact]
    public void An_embedding_outside_the_basis_is_stored_in_full()
    {
        var sample = LowRank(600, seed: 4, out _);
        var basis = EmbeddingBasis.Fit(1, sample, 600, D)!;

        // A direction the sample never took: all of its energy lies outside the basis.
        var outside = new float[D];
        outside[0] = 1;
        var projected = new float[basis.Components];
        for (var i = 0; i < basis.Components; i++)
        {
            projected[i] = basis.Rows[i * D];
        }

        Assert.True(TensorPrimitives.Dot(projected, projected) < 1 - EmbeddingBasis.MaxResidualEnergy, "control: e0 is not in the basis");
        var blob = EmbeddingCodec.Encode(outside, basis);
        Assert.Equal(EmbeddingCodec.Int8Format, blob[0]);
        Assert.Equal(EmbeddingCodec.Decode(blob), EmbeddingCodec.Decode(blob, _ => basis));

        // Nor is a basis of other dimensions used.
        Assert.Equal(EmbeddingCodec.Int8Format, EmbeddingCodec.Encode(new float[D + 1], basis)[0]);
        Assert.Equal(EmbeddingCodec.Int8Format, EmbeddingCodec.Encode(sample.AsSpan(0, D), (EmbeddingBasis?)null)[0]);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void To_stored_in_a_basis_gives_exactly_what_the_catalog_decodes(bool inBasis)
    {
        var sample = LowRank(600, seed: 6, out var directions);
        var basis = EmbeddingBasis.Fit(1, sample, 600, D)!;
        var vector = inBasis ? Embedding(directions, new Random(8)) : UnitVector(new Random(8));
        var expected = EmbeddingCodec.Decode(EmbeddingCodec.Encode(vector, basis), _ => basis);

        EmbeddingCodec.ToStored(vector, basis);

        Assert.Equal(expected, vector);
        Assert.Equal(inBasis, expected.Length == D && EmbeddingCodec.Encode(expected, basis)[0] == EmbeddingCodec.BasisFormat);
    }

    [Fact]
    public void An_embedding_naming_a_basis_of_another_length_is_refused()
    {
        var sample = LowRank(600, seed: 9, out var directions);
        var basis = EmbeddingBasis.Fit(1, sample, 600, D)!;
        var blob = EmbeddingCodec.Encode(Embedding(directions, new Random(1)), basis);

        var ex = Assert.Throws<InvalidDataException>(() => EmbeddingCodec.Decode(blob[..^1], _ => basis));
        Assert.Contains($"has {EmbeddingCodec.BasisEncodedLength(Span)} bytes ({Span} coefficients); this one has {blob.Length - 1}", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Too_small_a_sample_is_refused_and_a_sample_that_fills_its_space_gives_no_basis()
    {
        var sample = LowRank(600, seed: 10, out _);
        var ex = Assert.Throws<ArgumentException>(() => EmbeddingBasis.Fit(1, sample, EmbeddingBasis.MinimumSample(D) - 1, D));
        Assert.Contains($"takes at least {EmbeddingBasis.MinimumSample(D)}", ex.Message, StringComparison.Ordinal);

        var random = new Random(11);
        var isotropic = Enumerable.Range(0, 600).SelectMany(_ => UnitVector(random)).ToArray();
        Assert.Null(EmbeddingBasis.Fit(1, isotropic, 600, D));
    }

    [Fact]
    public void A_basis_reads_back_from_its_bytes_and_damaged_bytes_are_refused()
    {
        var basis = EmbeddingBasis.Fit(12, LowRank(600, seed: 12, out _), 600, D)!;
        var copy = EmbeddingBasis.FromBytes(12, D, basis.RowBytes(), basis.ScaleBytes());
        Assert.Equal(basis.Rows.ToArray(), copy.Rows.ToArray());
        Assert.Equal(basis.Scales.ToArray(), copy.Scales.ToArray());

        var ex = Assert.Throws<InvalidDataException>(() => EmbeddingBasis.FromBytes(12, D, basis.RowBytes()[..^4], basis.ScaleBytes()));
        Assert.StartsWith("Embedding basis 12: ", ex.Message, StringComparison.Ordinal);
        Assert.Throws<InvalidDataException>(() => EmbeddingBasis.FromBytes(12, D, basis.RowBytes(), basis.ScaleBytes()[..^1]));
        var negative = basis.ScaleBytes();
        BinaryPrimitives.WriteSingleLittleEndian(negative, -1f);
        Assert.Throws<InvalidDataException>(() => EmbeddingBasis.FromBytes(12, D, basis.RowBytes(), negative));
        Assert.Throws<ArgumentOutOfRangeException>(() => new EmbeddingBasis(EmbeddingBasis.MaxId + 1, D, basis.Rows.ToArray(), basis.Scales.ToArray()));
    }

    /// <summary>
    /// <paramref name="count"/> unit embeddings in a random <see cref="Span"/>-dimensional subspace of <see cref="D"/>
    /// (orthonormal <paramref name="directions"/>, with unequal spreads and a common mean, as a face model's are), row-major.
    /// </summary>
    private static float[] LowRank(int count, int seed, out float[][] directions)
    {
        var random = new Random(seed);
        directions = new float[Span][];
        for (var k = 0; k < Span; k++)
        {
            var v = UnitVector(random);
            for (var j = 0; j < k; j++)
            {
                var dot = TensorPrimitives.Dot(v, directions[j]);
                for (var i = 0; i < D; i++)
                {
                    v[i] -= dot * directions[j][i];
                }
            }

            VectorMath.Normalize(v);
            directions[k] = v;
        }

        var sample = new float[count * D];
        for (var n = 0; n < count; n++)
        {
            Embedding(directions, random).CopyTo(sample, n * D);
        }

        return sample;
    }

    private static float[] Embedding(float[][] directions, Random random)
    {
        var v = new float[D];
        for (var k = 0; k < directions.Length; k++)
        {
            // The first direction is the mean's; the others' spreads fall off.
            var c = k == 0 ? 2 + (0.3 * Gaussian(random)) : Gaussian(random) / (1 + (0.2 * k));
            for (var i = 0; i < D; i++)
            {
                v[i] += (float)(c * directions[k][i]);
            }
        }

        VectorMath.Normalize(v);
        return v;
    }

    private static float[] UnitVector(Random random)
    {
        var v = new float[D];
        for (var i = 0; i < D; i++)
        {
            v[i] = (float)Gaussian(random);
        }

        VectorMath.Normalize(v);
        return v;
    }

    private static double Gaussian(Random random) =>
        Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
}
