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
    public void Prominence_halves_in_a_corner()
    {
        var centre = FaceSelection.Prominence(new BoxF(40, 40, 60, 60), 1, 100, 100);
        var corner = FaceSelection.Prominence(new BoxF(-10, -10, 10, 10), 1, 100, 100);
        Assert.Equal(400, centre, 3);
        Assert.Equal(200, corner, 3);
    }
}
