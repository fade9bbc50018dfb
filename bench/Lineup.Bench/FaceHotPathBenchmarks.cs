using BenchmarkDotNet.Attributes;
using Lineup.Core.Faces;
using Lineup.Core.Imaging;
using Lineup.Vision;
using Lineup.Vision.Models;

namespace Lineup.Bench;

/// <summary>
/// The per-face path on the real models (<see cref="FacePipeline.AnalyzeFace"/>: landmarks, alignment, quality,
/// embedding with its mirrored pass) next to its stages, on one decoded photo. The memory diagnoser's "Allocated" column
/// is the point: after warm-up the whole path allocates nothing (its quality result is a value).
/// </summary>
[MemoryDiagnoser]
public class FaceHotPathBenchmarks
{
    private FaceEngine _engine = null!;
    private DecodedImage _decoded = null!;
    private FaceDetection _detection;
    private ImageBuffer _crop = null!;
    private readonly PointF[] _points = new PointF[68];
    private float[] _embedding = [];

    [GlobalSetup]
    public void Setup()
    {
        var store = new ModelStore(BenchPaths.Models);
        store.EnsureAsync().GetAwaiter().GetResult();
        _engine = FaceEngine.Create(store);
        _decoded = _engine.Decoder.Decode(File.ReadAllBytes(BenchPaths.Photo), DecodeLimits.Default);
        _detection = _engine.Detector.Detect(_decoded.Image).OrderByDescending(d => d.Score).First();
        _crop = ImageBuffer.Rent(_engine.Embedder.InputSize, _engine.Embedder.InputSize);
        _embedding = new float[_engine.Dimensions];
        Face();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _crop.Dispose();
        _decoded.Dispose();
        _engine.Dispose();
    }

    /// <summary>The whole per-face path.</summary>
    [Benchmark(Baseline = true)]
    public FaceQuality Face()
    {
        var ticks = new FaceStageTicks();
        return _engine.Pipeline.AnalyzeFace(_decoded.Image, _detection, _decoded.Scale, _crop, _points, _embedding, out _, ref ticks);
    }

    /// <summary>68 landmarks: one 64×64 network run.</summary>
    [Benchmark]
    public PointF Landmarks()
    {
        _engine.Landmarker.Predict(_decoded.Image, _detection.Box, _points);
        return _points[30];
    }

    /// <summary>The similarity warp into the 112×112 crop.</summary>
    [Benchmark]
    public void Align() =>
        FaceAligner.Warp(_decoded.Image, FaceAligner.EstimateAlignment(FaceAligner.FivePoints(_points)), _crop);

    /// <summary>The embedding: two 112×112 network runs (the crop and its mirror) and a normalisation.</summary>
    [Benchmark]
    public float Embed()
    {
        _engine.Embedder.Embed(_crop, _embedding);
        return _embedding[0];
    }
}
