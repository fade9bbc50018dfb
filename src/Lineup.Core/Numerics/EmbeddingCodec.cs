using System.Buffers;
using System.Buffers.Binary;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;

namespace Lineup.Core.Numerics;

/// <summary>
/// How the catalog stores a face's embedding (both backends, the same bytes), in one of two formats named by the first
/// byte:
/// <list type="bullet">
/// <item>format 1: the vector's scale as a little-endian float32, then one signed byte per component
/// (<see cref="Int8Quantizer"/>: the largest component is ±127 steps of the scale). 517 bytes for 512 dimensions,
/// against 1,024 as float16 (schema 10 and before) and 2,048 as float32.</item>
/// <item>format 2: the id of the model's <see cref="EmbeddingBasis"/> (little-endian uint16), a scale (float32), then a
/// 10-bit code per basis direction, packed little-endian: the vector's coefficients along the basis, each divided by the
/// direction's scale, quantised so the largest is ±511 steps of the scale. 7 bytes plus 10 bits a direction (216 for the
/// pack's model, whose basis keeps about 167 of 512 directions). Ten bits, not eight: the coefficients' rounding error
/// lies in the directions the embeddings themselves span, where it moves cosines about twice as much per unit of energy as
/// format 1's error spread over all 512. Measured on the 1,808 DEV faces' 1.63M pairs, their int8 rows re-encoded in a
/// basis fitted on 20,000 synthetic faces (161 directions): cosines moved by 9.7e-4 (standard deviation) with 8 bits and
/// by 2.4e-4, at most 1.4e-3, with 10, against format 1's 4.7e-4 from float16; a threshold from 0.3 to 0.5 then decides
/// 3 to 15 pairs the other way, and no DEV face lay outside the basis (its residual energy at most 6.7e-4, median
/// 1.1e-4). Written whenever the model has a basis and the vector lies in it to within
/// <see cref="EmbeddingBasis.MaxResidualEnergy"/>; format 1 otherwise.</item>
/// </list>
/// </summary>
/// <remarks>
/// Format 1, measured on the 1,808 DEV faces (all 1.63M pairs), against the same embeddings at float16 (the encoding
/// before): the cosine of two decoded embeddings differs by 4.7e-4 (standard deviation), at most 2.6e-3, and a threshold
/// between 0.3 and 0.5 decides 7 to 46 of the 1.63M pairs the other way (pairs that lie within that distance of it).
/// Format 2's figures are in docs/performance.md. A search's re-rank and the clustering read these decoded vectors;
/// 1:1 verification of two photos compares their fresh ones.
/// </remarks>
public static class EmbeddingCodec
{
    /// <summary>The first byte of an int8 embedding.</summary>
    public const byte Int8Format = 1;

    /// <summary>The first byte of an embedding stored as coefficients of its model's <see cref="EmbeddingBasis"/>.</summary>
    public const byte BasisFormat = 2;

    /// <summary>Bytes before the components of format 1: the format byte and the scale.</summary>
    public const int HeaderBytes = 5;

    /// <summary>Bytes before the coefficients of format 2: the format byte, the basis id and the scale.</summary>
    public const int BasisHeaderBytes = 7;

    /// <summary>Bits of one format-2 coefficient code (two's complement, packed little-endian).</summary>
    public const int BasisCodeBits = 10;

    /// <summary>Largest format-2 code magnitude: symmetric, so -511..511.</summary>
    public const int BasisCodeRange = (1 << (BasisCodeBits - 1)) - 1;

    /// <summary>Longest vector <see cref="ToStored"/> works on without renting (its scratch is on the stack).</summary>
    private const int StackLimit = 4096;

    /// <summary>The encoded length of an embedding in a basis of <paramref name="components"/> directions.</summary>
    public static int BasisEncodedLength(int components) => BasisHeaderBytes + (((components * BasisCodeBits) + 7) / 8);

    /// <summary>The encoded length of an embedding of <paramref name="dimensions"/> components.</summary>
    public static int EncodedLength(int dimensions) => dimensions + HeaderBytes;

    /// <summary>The number of components in an encoding of <paramref name="encodedLength"/> bytes.</summary>
    public static int Dimensions(int encodedLength) => encodedLength - HeaderBytes;

    /// <summary>Encodes <paramref name="vector"/> (finite components; a zero vector encodes as zeros).</summary>
    public static byte[] Encode(ReadOnlySpan<float> vector)
    {
        var blob = new byte[EncodedLength(vector.Length)];
        Encode(vector, blob);
        return blob;
    }

    /// <summary>Encodes <paramref name="vector"/> into <paramref name="blob"/>, which has <see cref="EncodedLength"/> bytes.</summary>
    public static void Encode(ReadOnlySpan<float> vector, Span<byte> blob)
    {
        if (blob.Length != EncodedLength(vector.Length))
        {
            throw new ArgumentException(
                $"An embedding of {vector.Length} components encodes in {EncodedLength(vector.Length)} bytes, not {blob.Length}.", nameof(blob));
        }

        blob[0] = Int8Format;
        var scale = Int8Quantizer.Quantize(vector, MemoryMarshal.Cast<byte, sbyte>(blob[HeaderBytes..]));
        BinaryPrimitives.WriteSingleLittleEndian(blob[1..HeaderBytes], scale);
    }

    /// <summary>
    /// Encodes <paramref name="vector"/> in <paramref name="basis"/> (format 2) when it lies in it to within
    /// <see cref="EmbeddingBasis.MaxResidualEnergy"/>, else as <see cref="Encode(ReadOnlySpan{float})"/> does (format 1,
    /// also when <paramref name="basis"/> is null or of other dimensions).
    /// </summary>
    public static byte[] Encode(ReadOnlySpan<float> vector, EmbeddingBasis? basis)
    {
        if (basis is null || basis.Dimensions != vector.Length)
        {
            return Encode(vector);
        }

        var blob = new byte[BasisEncodedLength(basis.Components)];
        return TryEncode(vector, basis, blob) ? blob : Encode(vector);
    }

    /// <summary>Decodes an embedding of either format; <paramref name="bases"/> finds a format-2 embedding's basis by id.</summary>
    /// <exception cref="InvalidDataException">The bytes are not an embedding, or name a basis <paramref name="bases"/> does not have.</exception>
    public static float[] Decode(ReadOnlySpan<byte> blob, Func<int, EmbeddingBasis?>? bases = null)
    {
        var vector = new float[Dimensions(blob, bases)];
        Decode(blob, vector, bases);
        return vector;
    }

    /// <summary>Decodes into <paramref name="vector"/>, which has exactly the encoded number of components.</summary>
    /// <exception cref="InvalidDataException">The bytes are not an embedding, or name a basis <paramref name="bases"/> does not have.</exception>
    public static void Decode(ReadOnlySpan<byte> blob, Span<float> vector, Func<int, EmbeddingBasis?>? bases = null)
    {
        var (scale, basis) = CheckedHeader(blob, bases);
        var dimensions = basis?.Dimensions ?? Dimensions(blob.Length);
        if (vector.Length != dimensions)
        {
            throw new ArgumentException($"The embedding has {dimensions} components; the buffer holds {vector.Length}.", nameof(vector));
        }

        if (basis is null)
        {
            Int8Quantizer.Dequantize(MemoryMarshal.Cast<byte, sbyte>(blob[HeaderBytes..]), scale, vector);
        }
        else
        {
            DecodeInBasis(blob, scale, basis, vector);
        }
    }

    /// <summary>The number of components an encoded embedding decodes to.</summary>
    /// <exception cref="InvalidDataException">The bytes are not an embedding, or name a basis <paramref name="bases"/> does not have.</exception>
    public static int Dimensions(ReadOnlySpan<byte> blob, Func<int, EmbeddingBasis?>? bases = null)
    {
        var (_, basis) = CheckedHeader(blob, bases);
        return basis?.Dimensions ?? Dimensions(blob.Length);
    }

    /// <summary>The format byte (<see cref="Int8Format"/> or <see cref="BasisFormat"/>) and, for format 2, the basis id.</summary>
    /// <exception cref="InvalidDataException">The bytes are not an embedding.</exception>
    public static (byte Format, int BasisId) Describe(ReadOnlySpan<byte> blob)
    {
        switch (blob)
        {
            case [Int8Format, ..] when blob.Length > HeaderBytes:
                return (Int8Format, 0);
            case [BasisFormat, ..] when blob.Length > BasisHeaderBytes:
                return (BasisFormat, BinaryPrimitives.ReadUInt16LittleEndian(blob[1..3]));
            case [BasisFormat, ..]:
                throw new InvalidDataException(
                    $"An encoded embedding in a basis (format {BasisFormat}) has more than {BasisHeaderBytes} bytes; this one has {blob.Length}.");
            case [] or [Int8Format, ..]:
                throw new InvalidDataException($"An encoded embedding has more than {HeaderBytes} bytes; this one has {blob.Length}.");
            default:
                throw new InvalidDataException(
                    $"An encoded embedding starts with format byte {Int8Format} or {BasisFormat}; this one starts with {blob[0]}.");
        }
    }

    /// <summary>
    /// Replaces <paramref name="vector"/> in place with what the catalog gives back for it, exactly (the bytes
    /// <see cref="Encode(ReadOnlySpan{float}, EmbeddingBasis?)"/> writes, decoded as <see cref="Decode(ReadOnlySpan{byte}, Func{int, EmbeddingBasis?}?)"/>
    /// does). An index fed these vectors holds what a rebuild from the catalog gives it, bit for bit.
    /// </summary>
    public static void ToStored(Span<float> vector, EmbeddingBasis? basis = null)
    {
        var length = HeaderBytes + (2 * vector.Length);
        var rented = length > StackLimit ? ArrayPool<byte>.Shared.Rent(length) : null;
        try
        {
            var blob = rented is null ? stackalloc byte[length] : rented.AsSpan(0, length);
            if (basis is not null && basis.Dimensions == vector.Length)
            {
                var coded = blob[..BasisEncodedLength(basis.Components)];
                if (TryEncode(vector, basis, coded))
                {
                    DecodeInBasis(coded, BinaryPrimitives.ReadSingleLittleEndian(coded[3..BasisHeaderBytes]), basis, vector);
                    return;
                }
            }

            // vector and decoded are the same memory: every component is read into codes before any is written.
            var codes = MemoryMarshal.Cast<byte, sbyte>(blob[..vector.Length]);
            var scale = Int8Quantizer.Quantize(vector, codes);
            Int8Quantizer.Dequantize(codes, scale, vector);
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    /// <summary>Writes format 2 into <paramref name="blob"/> (<see cref="BasisEncodedLength"/> bytes); false when the vector lies too far outside the basis.</summary>
    private static bool TryEncode(ReadOnlySpan<float> vector, EmbeddingBasis basis, Span<byte> blob)
    {
        var m = basis.Components;
        var rented = m > StackLimit / sizeof(float) ? ArrayPool<float>.Shared.Rent(m) : null;
        try
        {
            var coefficients = rented is null ? stackalloc float[m] : rented.AsSpan(0, m);
            if (basis.Project(vector, coefficients) > EmbeddingBasis.MaxResidualEnergy)
            {
                return false;
            }

            var largest = TensorPrimitives.MaxMagnitude(coefficients);
            var scale = float.IsFinite(largest) && largest != 0 ? Math.Abs(largest) / BasisCodeRange : 0f;
            var inverse = scale > 0 ? 1 / scale : 0f;
            blob[0] = BasisFormat;
            BinaryPrimitives.WriteUInt16LittleEndian(blob[1..3], (ushort)basis.Id);
            BinaryPrimitives.WriteSingleLittleEndian(blob[3..BasisHeaderBytes], scale);
            var codes = blob[BasisHeaderBytes..];
            codes.Clear();
            ulong bits = 0;
            var (filled, at) = (0, 0);
            const ulong Mask = (1UL << BasisCodeBits) - 1;
            foreach (var c in coefficients)
            {
                var code = (int)Math.Clamp(MathF.Round(c * inverse), -BasisCodeRange, BasisCodeRange);
                bits |= ((ulong)code & Mask) << filled;
                filled += BasisCodeBits;
                while (filled >= 8)
                {
                    codes[at++] = (byte)bits;
                    bits >>= 8;
                    filled -= 8;
                }
            }

            if (filled > 0)
            {
                codes[at] = (byte)bits;
            }

            return true;
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<float>.Shared.Return(rented);
            }
        }
    }

    /// <summary>Unpacks a format-2 embedding's codes, times <paramref name="scale"/>, and rebuilds the vector from the basis.</summary>
    private static void DecodeInBasis(ReadOnlySpan<byte> blob, float scale, EmbeddingBasis basis, Span<float> vector)
    {
        var m = basis.Components;
        var rented = m > StackLimit / sizeof(float) ? ArrayPool<float>.Shared.Rent(m) : null;
        try
        {
            var coefficients = rented is null ? stackalloc float[m] : rented.AsSpan(0, m);
            var codes = blob[BasisHeaderBytes..];
            ulong bits = 0;
            var (filled, at) = (0, 0);
            for (var i = 0; i < m; i++)
            {
                while (filled < BasisCodeBits)
                {
                    bits |= (ulong)codes[at++] << filled;
                    filled += 8;
                }

                // Sign-extend the low BasisCodeBits bits.
                var code = (int)((uint)bits << (32 - BasisCodeBits)) >> (32 - BasisCodeBits);
                bits >>= BasisCodeBits;
                filled -= BasisCodeBits;
                coefficients[i] = code * scale;
            }

            basis.Reconstruct(coefficients, vector);
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<float>.Shared.Return(rented);
            }
        }
    }

    /// <summary>The scale and, for format 2, the basis of a well-formed embedding.</summary>
    private static (float Scale, EmbeddingBasis? Basis) CheckedHeader(ReadOnlySpan<byte> blob, Func<int, EmbeddingBasis?>? bases)
    {
        var (format, id) = Describe(blob);
        var scale = BinaryPrimitives.ReadSingleLittleEndian(format == BasisFormat ? blob[3..BasisHeaderBytes] : blob[1..HeaderBytes]);
        if (!float.IsFinite(scale) || scale < 0)
        {
            throw new InvalidDataException($"An encoded embedding's scale is a finite number of at least 0; this one is {scale}.");
        }

        if (format != BasisFormat)
        {
            return (scale, null);
        }

        var basis = bases?.Invoke(id)
            ?? throw new InvalidDataException($"The embedding is stored in basis {id}, which the catalog does not have.");
        if (blob.Length != BasisEncodedLength(basis.Components))
        {
            throw new InvalidDataException(
                $"An embedding in basis {id} has {BasisEncodedLength(basis.Components)} bytes ({basis.Components} coefficients); this one has {blob.Length}.");
        }

        return (scale, basis);
    }
}
