using Lineup.Core.Faces;
using Lineup.Core.Imaging;
using Lineup.Core.Numerics;

namespace Lineup.Core.Tests.Faces;

public sealed class FacePipelineTests
{
    private sealed class FakeDetector(params FaceDetection[] detections) : IFaceDetector
    {
        public IReadOnlyList<FaceDetection> Detect(ImageBuffer image) => detections;
    }

    /// <summary>Puts a plausible 68-point face inside the box: eyes at 30%/70% width, 40% height.</summary>
    private sealed class FakeLandmarker : ILandmarker
    {
        public void Predict(ImageBuffer image, BoxF box, Span<PointF> points68)
        {
            PointF At(float fx, float fy) => new(box.X1 + (fx * box.Width), box.Y1 + (fy * box.Height));
            points68.Fill(At(0.5f, 0.5f));
            foreach (var i in new[] { 37, 38, 40, 41 })
            {
                points68[i] = At(0.3f, 0.4f);
            }

            foreach (var i in new[] { 43, 44, 46, 47 })
            {
                points68[i] = At(0.7f, 0.4f);
            }

            points68[30] = At(0.5f, 0.6f);
            points68[48] = points68[60] = At(0.35f, 0.8f);
            points68[54] = points68[64] = At(0.65f, 0.8f);
        }
    }

    /// <summary>Embeds the mean colour of the crop, so the test can see the crop was filled.</summary>
    private sealed class FakeEmbedder : IFaceEmbedder
    {
        public int InputSize => 112;

        public int Dimensions => 4;

        public void Embed(ImageBuffer alignedFace, Span<float> embedding)
        {
            Assert.Equal((112, 112), (alignedFace.Width, alignedFace.Height));
            embedding.Clear();
            var pixels = alignedFace.Pixels;
            for (var i = 0; i < pixels.Length; i += 3)
            {
                embedding[0] += pixels[i];
                embedding[1] += pixels[i + 1];
                embedding[2] += pixels[i + 2];
            }

            embedding[3] = 1;
            VectorMath.Normalize(embedding);
        }
    }

    [Fact]
    public void Faces_come_back_best_first_in_original_pixels_with_unit_embeddings()
    {
        using var image = ImageBuffer.Rent(400, 300);
        image.Pixels.Fill(100);
        var detector = new FakeDetector(
            new FaceDetection(new BoxF(10, 10, 110, 110), 0.7f),
            new FaceDetection(new BoxF(200, 50, 300, 150), 0.99f));
        var pipeline = new FacePipeline(detector, new FakeLandmarker(), new FakeEmbedder());

        var faces = pipeline.Analyze(image, scale: 0.5f, out var timings);

        Assert.Equal(2, faces.Count);
        Assert.Equal(0.99f, faces[0].DetectorScore);
        Assert.Equal(new BoxF(400, 100, 600, 300), faces[0].Box); // divided by the decode scale
        Assert.Equal(new PointF(2 * (200 + 30), 2 * (50 + 40)), faces[0].Landmarks.LeftEye);
        foreach (var face in faces)
        {
            Assert.Equal(4, face.Embedding.Length);
            Assert.Equal(1f, VectorMath.CosineOfUnit(face.Embedding, face.Embedding), 5);
            Assert.True(face.Embedding[0] > 0.5f, "the aligned crop was filled from the image");
        }

        Assert.True(timings.DetectMs >= 0 && timings.EmbedMs >= 0);
    }

    [Fact]
    public void No_face_gives_an_empty_list()
    {
        using var image = ImageBuffer.Rent(10, 10);
        var pipeline = new FacePipeline(new FakeDetector(), new FakeLandmarker(), new FakeEmbedder());
        Assert.Empty(pipeline.Analyze(image));
    }

    [Fact]
    public void Scale_must_be_positive()
    {
        using var image = ImageBuffer.Rent(10, 10);
        var pipeline = new FacePipeline(new FakeDetector(), new FakeLandmarker(), new FakeEmbedder());
        Assert.Throws<ArgumentOutOfRangeException>(() => pipeline.Analyze(image, 0));
    }
}
