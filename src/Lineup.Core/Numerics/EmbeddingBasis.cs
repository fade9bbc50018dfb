using System.Buffers.Binary;
using System.Numerics.Tensors;

namespace Lineup.Core.Numerics;

/// <summary>
/// A face model's principal basis, fitted once on a sample of its catalogued embeddings: the catalog stores an embedding
/// as 10-bit coefficients along these directions (<see cref="EmbeddingCodec"/> format 2), about 216 bytes instead of 517.
/// </summary>
/// <remarks>
/// <para>It works because a face model's embeddings do not fill their space: the pack's 512-dimensional model puts all but
/// 1/10,000 of the energy of its faces in 160 to 170 directions (161 fitted on 20,000 synthetic faces drawn like the DEV
/// set, 167 on a million-face benchmark gallery). The basis keeps the leading directions that hold all
/// but <see cref="DroppedEnergy"/> of the sample's energy; an embedding with more than <see cref="MaxResidualEnergy"/> of
/// its own energy outside them (a face unlike the sample) is stored in full instead (format 1), so a poor basis costs
/// bytes, never accuracy.</para>
/// <para>Before the quantisation each coefficient is divided by its direction's scale: the square root of the
/// direction's root-mean-square coefficient in the sample. Measured on the DEV faces with 8-bit codes (pairwise cosines,
/// basis fitted on synthetic faces), that halfway point between one step for every direction (cosine error 1.05e-3,
/// standard deviation) and a step proportional to each direction's spread (1.28e-3: a face's outlying coefficient in a
/// narrow direction then sets a coarse step for all) gave the smallest error, 0.97e-3; the codec's 10-bit codes cut it to
/// 2.4e-4. The second-moment matrix is not centred: the mean's
/// direction is a basis row, and dot products between vectors in the span are kept exactly.</para>
/// <para>A basis is immutable and keeps its <see cref="Id"/> for the life of the catalog: stored embeddings name it.</para>
/// </remarks>
public sealed class EmbeddingBasis
{
    /// <summary>Share of the fitting sample's energy the basis may leave out.</summary>
    public const double DroppedEnergy = 1e-4;

    /// <summary>
    /// Share of an embedding's own energy that may lie outside the basis for it to be stored as coefficients: its cosine
    /// with any other embedding moves by at most about this much (measured figures in <see cref="EmbeddingCodec"/>).
    /// </summary>
    public const double MaxResidualEnergy = 1e-3;

    /// <summary>Embeddings a fit reads at most (spread evenly over the catalog's faces).</summary>
    public const int MaxSampleFaces = 20_000;

    /// <summary>Largest basis id (stored as two bytes in every format-2 embedding).</summary>
    public const int MaxId = ushort.MaxValue;

    private readonly float[] _rows;
    private readonly float[] _scales;

    /// <summary>Rows multiplied by their direction's scale: decoding is one multiply-add per coefficient.</summary>
    private readonly float[] _weighted;

    /// <summary>A basis as fitted or as stored: <paramref name="rows"/> is components × dimensions, row-major, orthonormal rows.</summary>
    /// <exception cref="ArgumentException">The shapes disagree, a value is not finite, or a scale is not positive.</exception>
    public EmbeddingBasis(int id, int dimensions, float[] rows, float[] scales)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(id, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(id, MaxId);
        ArgumentOutOfRangeException.ThrowIfLessThan(dimensions, 1);
        ArgumentNullException.ThrowIfNull(rows);
        ArgumentNullException.ThrowIfNull(scales);
        if (scales.Length is 0 || scales.Length >= dimensions || rows.Length != (long)scales.Length * dimensions)
        {
            throw new ArgumentException(
                $"A basis of {dimensions} dimensions has 1 to {dimensions - 1} rows of {dimensions} values and a scale each; " +
                $"this one has {rows.Length} values and {scales.Length} scales.", nameof(rows));
        }

        if (!rows.All(float.IsFinite) || !scales.All(s => float.IsFinite(s) && s > 0))
        {
            throw new ArgumentException("A basis's rows are finite and its scales finite and positive.", nameof(scales));
        }

        Id = id;
        Dimensions = dimensions;
        _rows = rows;
        _scales = scales;
        _weighted = new float[rows.Length];
        for (var i = 0; i < scales.Length; i++)
        {
            TensorPrimitives.Multiply(rows.AsSpan(i * dimensions, dimensions), scales[i], _weighted.AsSpan(i * dimensions, dimensions));
        }
    }

    /// <summary>The catalog's key for this basis, written into every embedding stored in it.</summary>
    public int Id { get; }

    /// <summary>Components of the embeddings it encodes.</summary>
    public int Dimensions { get; }

    /// <summary>Directions kept: the coefficients a format-2 embedding holds.</summary>
    public int Components => _scales.Length;

    /// <summary>The directions, row-major (<see cref="Components"/> × <see cref="Dimensions"/>).</summary>
    public ReadOnlySpan<float> Rows => _rows;

    /// <summary>Each direction's scale: the square root of its root-mean-square coefficient in the fitting sample.</summary>
    public ReadOnlySpan<float> Scales => _scales;

    /// <summary>The fewest embeddings a fit needs: four a dimension, enough to tell which directions are empty.</summary>
    public static int MinimumSample(int dimensions) => 4 * dimensions;

    /// <summary>
    /// Fits a basis to the first <paramref name="rows"/> embeddings of the row-major <paramref name="sample"/>, keeping
    /// the leading directions that hold all but <see cref="DroppedEnergy"/> of their energy.
    /// </summary>
    /// <returns>The basis, or null when no direction can be left out (the embeddings fill their space).</returns>
    /// <exception cref="ArgumentException">Fewer than <see cref="MinimumSample"/> embeddings.</exception>
    public static EmbeddingBasis? Fit(int id, ReadOnlySpan<float> sample, int rows, int dimensions)
    {
        if (rows < MinimumSample(dimensions))
        {
            throw new ArgumentException(
                $"Fitting a basis to {dimensions}-dimensional embeddings takes at least {MinimumSample(dimensions):N0} of them; the sample has {rows:N0}.",
                nameof(rows));
        }

        var (values, vectors) = PrincipalComponents.Of(sample, rows, dimensions);
        var m = PrincipalComponents.Keeping(values, DroppedEnergy);
        while (m > 0 && values[m - 1] <= 0)
        {
            m--;
        }

        if (m is 0 || m >= dimensions)
        {
            return null;
        }

        var basisRows = new float[m * dimensions];
        for (var i = 0; i < basisRows.Length; i++)
        {
            basisRows[i] = (float)vectors[i];
        }

        var scales = new float[m];
        for (var i = 0; i < m; i++)
        {
            scales[i] = (float)Math.Sqrt(Math.Sqrt(values[i] / rows));
        }

        return new EmbeddingBasis(id, dimensions, basisRows, scales);
    }

    /// <summary>The rows as stored: float32, little-endian.</summary>
    public byte[] RowBytes() => AsBytes(_rows);

    /// <summary>The scales as stored: float32, little-endian.</summary>
    public byte[] ScaleBytes() => AsBytes(_scales);

    /// <summary>A basis read back from <see cref="RowBytes"/> and <see cref="ScaleBytes"/>.</summary>
    /// <exception cref="InvalidDataException">The bytes do not make a basis of <paramref name="dimensions"/> dimensions.</exception>
    public static EmbeddingBasis FromBytes(int id, int dimensions, byte[] rows, byte[] scales)
    {
        if (rows.Length % sizeof(float) != 0 || scales.Length % sizeof(float) != 0)
        {
            throw new InvalidDataException($"Embedding basis {id}: its rows ({rows.Length} bytes) and scales ({scales.Length} bytes) are not float32 arrays.");
        }

        try
        {
            return new EmbeddingBasis(id, dimensions, FromBytes(rows), FromBytes(scales));
        }
        catch (ArgumentException e)
        {
            throw new InvalidDataException($"Embedding basis {id}: {e.Message}", e);
        }
    }

    /// <summary>
    /// Writes <paramref name="vector"/>'s coefficient along each direction, divided by its scale, into
    /// <paramref name="coefficients"/> (<see cref="Components"/> long); returns the share of the vector's energy outside
    /// the basis (1 for a zero vector).
    /// </summary>
    internal double Project(ReadOnlySpan<float> vector, Span<float> coefficients)
    {
        var d = Dimensions;
        double inside = 0;
        for (var i = 0; i < _scales.Length; i++)
        {
            var c = TensorPrimitives.Dot(_rows.AsSpan(i * d, d), vector);
            inside += (double)c * c;
            coefficients[i] = c / _scales[i];
        }

        var energy = (double)TensorPrimitives.Dot(vector, vector);
        return energy > 0 && double.IsFinite(energy) ? Math.Max(0, energy - inside) / energy : 1;
    }

    /// <summary>The vector of these (scaled) <paramref name="coefficients"/>, into <paramref name="vector"/>.</summary>
    internal void Reconstruct(ReadOnlySpan<float> coefficients, Span<float> vector)
    {
        var d = Dimensions;
        vector.Clear();
        for (var i = 0; i < coefficients.Length; i++)
        {
            if (coefficients[i] != 0)
            {
                TensorPrimitives.MultiplyAdd(_weighted.AsSpan(i * d, d), coefficients[i], vector, vector);
            }
        }
    }

    private static byte[] AsBytes(float[] values)
    {
        var bytes = new byte[values.Length * sizeof(float)];
        for (var i = 0; i < values.Length; i++)
        {
            BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * sizeof(float)), values[i]);
        }

        return bytes;
    }

    private static float[] FromBytes(byte[] bytes)
    {
        var values = new float[bytes.Length / sizeof(float)];
        for (var i = 0; i < values.Length; i++)
        {
            values[i] = BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan(i * sizeof(float)));
        }

        return values;
    }
}
