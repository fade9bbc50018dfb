using Lineup.Core.Faces;
using Lineup.Core.Imaging;
using Lineup.Core.Numerics;
using Xunit.Abstractions;

namespace Lineup.Vision.Tests;

/// <summary>
/// The per-face path (landmarks, alignment, quality, embedding with its mirrored pass) on the real models allocates
/// nothing on the managed heap once the thread has analysed one face: the ONNX runs go through buffers bound once per
/// thread, the crop and the points are reused, and the <see cref="FaceQuality"/> it returns is a value (it was a
/// 56-byte record). Before the bound buffers, each face allocated 1,736 bytes (ONNX Runtime value wrappers and arrays
/// per run). Measured with the runtime's per-thread allocation counter, which is exact (not a timing), so it belongs in
/// a unit test; <c>bench/Lineup.Bench</c> shows the same with its memory diagnoser.
/// </summary>
[Collection(EngineGroup.Name)]
[Trait("Category", "Data")]
public sealed class HotPathAllocationTests(EngineFixture fixture, ITestOutputHelper output)
{
    [SkippableFact]
    public void The_per_face_path_allocates_nothing_after_the_first_face()
    {
        var engine = fixture.Engine;
        using var decoded = engine.Decoder.Decode(File.ReadAllBytes(TestPaths.Face("deepface/images/Angelina_Jolie/img2.jpg")), DecodeLimits.Default);
        var image = decoded.Image;
        var detection = engine.Detector.Detect(image).OrderByDescending(d => d.Score).First();
        using var crop = ImageBuffer.Rent(engine.Embedder.InputSize, engine.Embedder.InputSize);
        var points = new PointF[68];
        var embedding = new float[engine.Dimensions];
        var ticks = new FaceStageTicks();

        var first = engine.Pipeline.AnalyzeFace(image, detection, decoded.Scale, crop, points, embedding, out var five, ref ticks);
        var reference = embedding.ToArray();

        const int Faces = 20;
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < Faces; i++)
        {
            engine.Pipeline.AnalyzeFace(image, detection, decoded.Scale, crop, points, embedding, out five, ref ticks);
        }

        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        output.WriteLine($"{allocated} bytes over {Faces} faces after warm-up");
        Assert.Equal(0, allocated);
        Assert.InRange(first.Score, 0, 100);

        // The bound buffers carry each run's own input: the same face gives the same unit embedding every time.
        Assert.Equal(1.0, System.Numerics.Tensors.TensorPrimitives.Norm(embedding), 3);
        Assert.True(VectorMath.CosineOfUnit(reference, embedding) > 0.9999f);
    }

    [SkippableFact]
    public async Task Threads_running_the_models_at_once_each_get_their_own_bound_buffers()
    {
        var engine = fixture.Engine;
        var photos = new[] { "deepface/images/Angelina_Jolie/img2.jpg", "face_recognition/images/Barack_Obama/obama.jpg" };
        var expected = photos.Select(p => engine.AnalyzeFile(TestPaths.Face(p), DecodeLimits.Default).Faces[0].Embedding).ToArray();

        // Both photos analysed over and over on two threads at once: a buffer shared between threads would mix them.
        var runs = Enumerable.Range(0, 2).Select(t => Task.Run(() =>
        {
            for (var i = 0; i < 6; i++)
            {
                var faces = engine.AnalyzeFile(TestPaths.Face(photos[t]), DecodeLimits.Default).Faces;
                Assert.True(VectorMath.CosineOfUnit(expected[t], faces[0].Embedding) > 0.9999f, $"{photos[t]} run {i}");
            }
        }));
        await Task.WhenAll(runs);
    }
}
