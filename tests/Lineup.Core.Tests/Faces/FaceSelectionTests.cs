using Lineup.Core.Faces;

namespace Lineup.Core.Tests.Faces;

public sealed class FaceSelectionTests
{
    private static AnalyzedFace Face(float x1, float y1, float side, float score = 1f) =>
        new(new BoxF(x1, y1, x1 + side, y1 + side), score, default, []);

    [Fact]
    public void No_faces_give_null() => Assert.Null(FaceSelection.MostProminent([], 250, 250));

    [Fact]
    public void A_central_face_beats_a_slightly_larger_one_at_the_edge()
    {
        // An LFW-like 250×250 photo: the subject centred, a bystander's box a few pixels taller at the side.
        var subject = Face(57, 57, 135);
        var bystander = Face(133, 76, 138);
        Assert.Same(subject, FaceSelection.MostProminent([bystander, subject], 250, 250));
    }

    [Fact]
    public void A_much_larger_face_wins_even_off_centre()
    {
        // A tall portrait: the face in the upper part, a small detection near the middle.
        var subject = Face(596, 234, 367);
        var small = Face(208, 786, 259);
        Assert.Same(subject, FaceSelection.MostProminent([small, subject], 1434, 2333));
    }

    [Fact]
    public void A_weak_detection_loses_to_a_confident_one_of_similar_size()
    {
        var real = Face(100, 100, 100, 1f);
        var doubtful = Face(95, 95, 105, 0.8f);
        Assert.Same(real, FaceSelection.MostProminent([doubtful, real], 300, 300));
    }

    [Fact]
    public void Prominence_falls_towards_a_corner()
    {
        // r² = (40² + 40²) / (50² + 50²) = 0.64 for a box at the corner, so the weight is 1 − 0.32.
        var centre = FaceSelection.Prominence(new BoxF(40, 40, 60, 60), 1, 100, 100);
        var corner = FaceSelection.Prominence(new BoxF(0, 0, 20, 20), 1, 100, 100);
        Assert.Equal(400, centre, 3);
        Assert.Equal(400 * 0.68f, corner, 3);
    }

    [Fact]
    public void A_box_cut_by_the_frame_counts_by_its_inside_part_times_the_inside_fraction()
    {
        // A quarter of the box inside: inside area 100, fraction 1/4; centre at the corner: r² = 1, weight ½.
        Assert.Equal(100 * 0.25f * 0.5f, FaceSelection.Prominence(new BoxF(-10, -10, 10, 10), 1, 100, 100), 3);
        Assert.Equal(0, FaceSelection.Prominence(new BoxF(-30, -30, -10, -10), 1, 100, 100));
    }

    [Fact]
    public void A_centred_face_beats_a_taller_one_cut_by_the_frame()
    {
        // LFW Richard_Myers_0001 (250×250): the subject centred, a bystander's box taller but a quarter outside.
        var subject = new AnalyzedFace(new BoxF(58, 62, 178, 183), 1f, default, []);
        var bystander = new AnalyzedFace(new BoxF(-40, 24, 117, 181), 0.998f, default, []);
        Assert.Same(subject, FaceSelection.MostProminent([bystander, subject], 250, 250));
    }
}
