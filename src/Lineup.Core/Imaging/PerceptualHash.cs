using System.Numerics;

namespace Lineup.Core.Imaging;

/// <summary>
/// The 64-bit DCT perceptual hash ("pHash") used to recognise a re-encoded, resized or recompressed copy
/// of an image that is already catalogued: luma, area-averaged to 32×32, 2-D DCT-II, the 8×8 lowest
/// frequencies, each bit set when its coefficient is above the median of the 63 AC coefficients.
/// Copies of one photo land 0 or 2 bits apart; different photos land about 30 apart (the median over the
/// shared photo set). A mirror image is far (every odd horizontal frequency changes sign; 30 bits for the
/// set's mirrored pair), and so are a crop, a rotation or added borders: those are new pictures as far as
/// this hash is concerned.
/// </summary>
/// <remarks>
/// Bit <c>8u + v</c> holds coefficient (u = vertical frequency, v = horizontal frequency). Exactly 31 of the 63
/// AC coefficients lie above their median, and the DC term, compared against the same median, lies above it
/// for every image that is not black: every hash has 32 bits set, distances between hashes are even, and
/// 63 bits carry information. A flat or nearly flat image has no structure to hash; its bits follow
/// rounding noise, so flat images may match each other.
/// </remarks>
public static class PerceptualHash
{
    /// <summary>
    /// Largest Hamming distance at which two hashes are taken for copies of one photo. Every hash has exactly 32
    /// bits set (see the remarks), so distances are even, and 2 means one pair of coefficients swapped sides of
    /// the median. Measured on the shared photo set (<c>NearDuplicateMeasurementTests</c>):
    /// <list type="bullet">
    /// <item>Re-encodings (JPEG quality 95, 75, 40 and 15, downscaled to 50 % and 25 %, PNG, upscaled 2×) land at
    /// 0 or 2, except JPEG quality 15, which reaches 4 to 6 for 1.3 % of the photos (18 of those 19 are face
    /// crops of 112 to 250 pixels): over all 1,495 photos, 10,272 of 10,291 re-encodings (99.8 %) are within 2.
    /// The test repeats this on every 10th photo.</item>
    /// <item>Genuinely different photos come as close as 4: aligned face crops share their low frequencies
    /// (two 112×112 Glint crops of one man, with and without glasses, are 4 apart; of another two men, 8).
    /// Among the 1.1 million pairs of files, only copies of the same picture are within 2.</item>
    /// </list>
    /// A false link costs more than a missed one (a new photo's faces would never be catalogued, where a miss
    /// only stores them twice), so the threshold sits below the closest different photos rather than at the
    /// 10 often quoted for general photos.
    /// </summary>
    public const int NearDuplicateDistance = 2;

    /// <summary>Side of the luma thumbnail the DCT runs on.</summary>
    private const int Side = 32;

    /// <summary>Side of the low-frequency block kept from the DCT.</summary>
    private const int Block = 8;

    /// <summary>
    /// Pixels sampled per thumbnail cell along each axis: an image wider than 32 × this is read on an evenly
    /// spaced grid of columns (and rows) rather than pixel by pixel. At 32 (a 1,024×1,024 grid) a 4000×3000
    /// image costs about 2 ms instead of 18 ms for every pixel, far below its decode. Over the 1,197 shared
    /// photos with a side above 128, the hash equals the exact area average's for 1,195 and is 2 bits off for
    /// 2. Fewer samples are cheaper but let pixel noise through: at 16 (0.45 ms) 12 photos are 2 bits off, and
    /// a synthetic scene with ±20 levels of white noise is up to 4 bits off against 2 at 32.
    /// </summary>
    internal const int DefaultSamplesPerCell = 32;

    /// <summary>
    /// Orthonormal DCT-II basis for the first 8 frequencies over 32 samples: row u holds
    /// α(u)·cos((2x + 1)uπ / 64), α(0) = √(1/32), α(u &gt; 0) = √(2/32). Only these 8 rows are ever needed.
    /// </summary>
    private static readonly float[] s_basis = BuildBasis();

    /// <summary>64-bit DCT perceptual hash of the whole image.</summary>
    public static ulong Compute(ImageBuffer image) => Compute(image, DefaultSamplesPerCell);

    /// <summary>Hamming distance between two hashes: the number of bits that differ.</summary>
    public static int Distance(ulong a, ulong b) => BitOperations.PopCount(a ^ b);

    /// <summary>Whether two hashes are close enough to be copies of one photo.</summary>
    public static bool AreNearDuplicates(ulong a, ulong b) => Distance(a, b) <= NearDuplicateDistance;

    /// <param name="samplesPerCell">Samples per cell along each axis; 0 visits every pixel (the exact area average).</param>
    internal static ulong Compute(ImageBuffer image, int samplesPerCell)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentOutOfRangeException.ThrowIfNegative(samplesPerCell);
        Span<float> luma = stackalloc float[Side * Side];
        Downscale(image, samplesPerCell, luma);
        Span<float> coefficients = stackalloc float[Block * Block];
        LowFrequencyDct(luma, coefficients);
        return Threshold(coefficients);
    }

    /// <summary>
    /// Area-averages the luma of <paramref name="image"/> into 32×32 cells. Along an axis of n pixels, cell k
    /// covers [k·n/32, (k + 1)·n/32) and a pixel on a cell boundary is shared between the two cells by the
    /// fraction of it on each side: rounding whole pixels into cells would shift a cell by up to half a pixel,
    /// a seventh of a cell in a 112-pixel face crop, and a copy at another size would not average over the
    /// same part of the picture. Along an axis longer than 32·<paramref name="samplesPerCell"/> only that
    /// many evenly spaced pixels are read, one at the centre of each of as many equal stripes (so no stripe
    /// straddles two cells); an axis shorter than 32 repeats pixels.
    /// </summary>
    private static void Downscale(ImageBuffer image, int samplesPerCell, Span<float> luma)
    {
        var (width, height) = (image.Width, image.Height);
        var limit = samplesPerCell == 0 ? int.MaxValue : Side * samplesPerCell;
        var columns = Math.Max(Side, Math.Min(width, limit));
        var rows = Math.Max(Side, Math.Min(height, limit));

        // Per sampled column, computed once instead of per row: its byte offset, its cell, and the share of it
        // inside that cell (the rest belongs to the next cell). Only the exact path (samplesPerCell = 0, used to
        // measure the sampling) reads more than 1,024 columns.
        var offsets = columns <= 1024 ? stackalloc int[columns] : new int[columns];
        var cells = columns <= 1024 ? stackalloc byte[columns] : new byte[columns];
        var shares = columns <= 1024 ? stackalloc float[columns] : new float[columns];
        for (var i = 0; i < columns; i++)
        {
            offsets[i] = SamplePosition(i, columns, width) * ImageBuffer.Channels;
            (cells[i], shares[i]) = CellShare(i, columns);
        }

        // Cell sums of BT.601 luma scaled by 256 (77, 150, 29).
        Span<double> sums = stackalloc double[Side * Side];
        sums.Clear();
        Span<float> rowSums = stackalloc float[Side];
        var pixels = image.Pixels;
        var stride = image.Stride;
        for (var j = 0; j < rows; j++)
        {
            var row = pixels.Slice(SamplePosition(j, rows, height) * stride, stride);
            // Cells are summed in registers and stored once, rather than added to through memory column by
            // column, which is what keeps a 4000×3000 photo cheap. `next` holds the part of a straddling
            // column that belongs to the following cell; every cell starts at least one column.
            float here = 0, next = 0;
            var cell = 0;
            for (var i = 0; i < columns; i++)
            {
                if (cells[i] != cell)
                {
                    rowSums[cell++] = here;
                    (here, next) = (next, 0);
                }

                var o = offsets[i];
                float y = (77 * row[o]) + (150 * row[o + 1]) + (29 * row[o + 2]);
                var inCell = shares[i] * y;
                here += inCell;
                next += y - inCell;
            }

            rowSums[cell] = here;

            var (cellRow, share) = CellShare(j, rows);
            var upper = sums.Slice(cellRow * Side, Side);
            for (var x = 0; x < Side; x++)
            {
                upper[x] += share * rowSums[x];
            }

            if (share < 1)
            {
                var lower = sums.Slice((cellRow + 1) * Side, Side);
                for (var x = 0; x < Side; x++)
                {
                    lower[x] += (1 - share) * rowSums[x];
                }
            }
        }

        // Every cell holds the same total weight, (columns / 32) × (rows / 32) samples.
        var scale = 1.0 / (256.0 * columns * rows / (Side * Side));
        for (var k = 0; k < luma.Length; k++)
        {
            luma[k] = (float)(sums[k] * scale);
        }
    }

    /// <summary>
    /// Sample <paramref name="i"/> of <paramref name="count"/> spans [i, i + 1) and cell k spans
    /// [k·count/32, (k + 1)·count/32): the cell the sample starts in, and the fraction of the sample inside it.
    /// </summary>
    private static (byte Cell, float Share) CellShare(int i, int count)
    {
        var cell = (int)((long)i * Side / count);
        var end = (long)(cell + 1) * count; // the cell's end, times 32
        var share = ((long)(i + 1) * Side) <= end ? 1f : (end - ((long)i * Side)) / (float)Side;
        return ((byte)cell, share);
    }

    /// <summary>Pixel read for sample <paramref name="i"/> of <paramref name="count"/>: the centre of its stripe.</summary>
    private static int SamplePosition(int i, int count, int length) => (int)((((2L * i) + 1) * length) / (2L * count));

    /// <summary>
    /// The 8×8 lowest-frequency coefficients of the 2-D DCT-II of the 32×32 thumbnail, separably: 8
    /// frequencies along each row, then 8 along each resulting column. Scalar loops on purpose: the
    /// summation order, and so every bit of the hash, is the same on every CPU, and the whole transform is
    /// about 16,000 multiply-adds.
    /// </summary>
    private static void LowFrequencyDct(ReadOnlySpan<float> luma, Span<float> coefficients)
    {
        // rowsByFrequency[v * 32 + y]: frequency v along row y, stored so the column pass reads it contiguously.
        Span<float> rowsByFrequency = stackalloc float[Block * Side];
        var basis = s_basis.AsSpan();
        for (var y = 0; y < Side; y++)
        {
            var row = luma.Slice(y * Side, Side);
            for (var v = 0; v < Block; v++)
            {
                rowsByFrequency[(v * Side) + y] = Dot(row, basis.Slice(v * Side, Side));
            }
        }

        for (var u = 0; u < Block; u++)
        {
            var cosines = basis.Slice(u * Side, Side);
            for (var v = 0; v < Block; v++)
            {
                coefficients[(u * Block) + v] = Dot(rowsByFrequency.Slice(v * Side, Side), cosines);
            }
        }
    }

    private static float Dot(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        var sum = 0f;
        for (var i = 0; i < a.Length; i++)
        {
            sum += a[i] * b[i];
        }

        return sum;
    }

    /// <summary>One bit per coefficient: above the median of the 63 AC coefficients (the DC term would skew it).</summary>
    private static ulong Threshold(ReadOnlySpan<float> coefficients)
    {
        Span<float> ac = stackalloc float[(Block * Block) - 1];
        coefficients[1..].CopyTo(ac);
        ac.Sort();
        var median = ac[ac.Length / 2];
        var hash = 0UL;
        for (var i = 0; i < coefficients.Length; i++)
        {
            if (coefficients[i] > median)
            {
                hash |= 1UL << i;
            }
        }

        return hash;
    }

    private static float[] BuildBasis()
    {
        var basis = new float[Block * Side];
        for (var u = 0; u < Block; u++)
        {
            var alpha = Math.Sqrt((u == 0 ? 1.0 : 2.0) / Side);
            for (var x = 0; x < Side; x++)
            {
                basis[(u * Side) + x] = (float)(alpha * Math.Cos(((2 * x) + 1) * u * Math.PI / (2 * Side)));
            }
        }

        return basis;
    }
}
