using Lineup.Core.Faces;
using Lineup.Core.Imaging;

namespace Lineup.Core.Tests.Faces;

public sealed class FaceAlignerTests
{
    [Theory]
    [InlineData(1.0, 0.0, 0.0, 0.0)]
    [InlineData(0.37, 0.3, 12.5, -40.25)]
    [InlineData(2.5, -1.2, -100, 300)]
    [InlineData(-0.8, 0.1, 5, 5)] // rotation beyond ±90°
    public void Similarity_fit_recovers_a_known_transform_exactly(double a, double b, double tx, double ty)
    {
        var truth = new SimilarityTransform(a, b, tx, ty);
        PointF[] source = [new(10, 20), new(200, 25), new(110, 140), new(60, 230), new(170, 228)];
        var target = source.Select(truth.Apply).ToArray();
        var fit = FaceAligner.EstimateSimilarity(source, target);
        Assert.Equal(a, fit.A, 5);
        Assert.Equal(b, fit.B, 5);
        Assert.Equal(tx, fit.Tx, 3);
        Assert.Equal(ty, fit.Ty, 3);
    }

    [Fact]
    public void Similarity_fit_is_least_squares_and_never_reflects()
    {
        // A mirror image has no rotation+scale fit; the best similarity collapses instead of flipping.
        PointF[] source = [new(0, 0), new(10, 0), new(0, 10)];
        PointF[] mirrored = [new(0, 0), new(-10, 0), new(0, 10)];
        var fit = FaceAligner.EstimateSimilarity(source, mirrored);
        Assert.True(fit.Scale < 0.9 && Residual(fit, source, mirrored) > 1, $"scale {fit.Scale}");

        // With noise, the residual of the fit is no larger than that of the truth.
        var truth = new SimilarityTransform(0.5, 0.1, 3, 4);
        PointF[] points = [new(10, 20), new(200, 25), new(110, 140), new(60, 230), new(170, 228)];
        float[] noise = [0.8f, -1.1f, 0.3f, 1.7f, -0.6f];
        var noisy = points.Select((p, i) => truth.Apply(p) with { X = truth.Apply(p).X + noise[i], Y = truth.Apply(p).Y - noise[4 - i] }).ToArray();
        var estimated = FaceAligner.EstimateSimilarity(points, noisy);
        Assert.True(Residual(estimated, points, noisy) <= Residual(truth, points, noisy) + 1e-6);
    }

    [Fact]
    public void Inverse_undoes_the_transform()
    {
        var t = new SimilarityTransform(0.7, -0.4, 15, -8);
        var p = new PointF(123.5f, -42f);
        var back = t.Inverse().Apply(t.Apply(p));
        Assert.Equal(p.X, back.X, 3);
        Assert.Equal(p.Y, back.Y, 3);
    }

    [Fact]
    public void Five_points_use_the_documented_68_point_indices()
    {
        var points = Enumerable.Range(0, 68).Select(i => new PointF(i, 1000 + i)).ToArray();
        var five = FaceAligner.FivePoints(points);
        Assert.Equal(new PointF((37 + 38 + 40 + 41) / 4f, 1000 + ((37 + 38 + 40 + 41) / 4f)), five.LeftEye);
        Assert.Equal(new PointF((43 + 44 + 46 + 47) / 4f, 1000 + ((43 + 44 + 46 + 47) / 4f)), five.RightEye);
        Assert.Equal(new PointF(30, 1030), five.Nose);
        Assert.Equal(new PointF(54, 1054), five.MouthLeft);
        Assert.Equal(new PointF(59, 1059), five.MouthRight);
    }

    [Fact]
    public void Alignment_maps_the_five_points_onto_the_template()
    {
        var reference = FaceAligner.Reference112;
        var truth = new SimilarityTransform(3.1, 0.4, 250, 120); // template → image
        var inImage = new Landmarks5(
            truth.Apply(reference.LeftEye), truth.Apply(reference.RightEye), truth.Apply(reference.Nose),
            truth.Apply(reference.MouthLeft), truth.Apply(reference.MouthRight));
        var toTemplate = FaceAligner.EstimateAlignment(inImage);
        for (var i = 0; i < 5; i++)
        {
            var p = toTemplate.Apply(inImage[i]);
            Assert.Equal(reference[i].X, p.X, 2);
            Assert.Equal(reference[i].Y, p.Y, 2);
        }
    }

    [Fact]
    public void Warp_samples_the_source_through_the_inverse_transform()
    {
        // A horizontal ramp: red = x, green = y, so every destination pixel says where it was read from.
        using var source = ImageBuffer.Rent(256, 256);
        for (var y = 0; y < 256; y++)
        {
            var row = source.Row(y);
            for (var x = 0; x < 256; x++)
            {
                row[x * 3] = (byte)x;
                row[(x * 3) + 1] = (byte)y;
                row[(x * 3) + 2] = 77;
            }
        }

        // Destination = source scaled by 1/2 and shifted by (-10, -20): destination (u, v) reads source (2u + 20, 2v + 40).
        var transform = new SimilarityTransform(0.5, 0, -10, -20);
        using var crop = ImageBuffer.Rent(112, 112);
        FaceAligner.Warp(source, transform, crop);
        Assert.Equal(20, crop.Row(0)[0]);
        Assert.Equal(40, crop.Row(0)[1]);
        Assert.Equal(2 * 50 + 20, crop.Row(50)[50 * 3]);
        Assert.Equal(2 * 50 + 40, crop.Row(50)[(50 * 3) + 1]);
        Assert.Equal(77, crop.Row(50)[(50 * 3) + 2]);
        // Outside the source: black border.
        Assert.Equal(0, crop.Row(111)[111 * 3 + 2]);
    }

    private static double Residual(SimilarityTransform t, PointF[] source, PointF[] target) =>
        source.Select((p, i) => Math.Pow(t.Apply(p).X - target[i].X, 2) + Math.Pow(t.Apply(p).Y - target[i].Y, 2)).Sum();
}
