using System.Buffers;
using System.Diagnostics;
using Lineup.Core.Catalog;
using Lineup.Core.Faces;
using Lineup.Core.Imaging;
using Lineup.Vision.Imaging;
using Lineup.Vision.Models;
using Lineup.Vision.Onnx;

namespace Lineup.Vision;

/// <summary>
/// The long-lived face engine of one model pack: the three ONNX sessions (built once; thread-safe), the safe
/// decoder and the pipeline. Create it once per process and dispose it at shutdown; ingest workers each get
/// their own session set from <see cref="CreateWorker"/>, so that workers never contend inside one session.
/// </summary>
public sealed class FaceEngine : IPhotoAnalyzer, IDisposable
{
    private readonly OnnxFaceDetector _detector;
    private readonly OnnxLandmarker _landmarker;
    private readonly OnnxFaceEmbedder _embedder;
    private ModelStore? _store;
    private DetectorOptions? _detectorOptions;

    private FaceEngine(string modelId, OnnxFaceDetector detector, OnnxLandmarker landmarker, OnnxFaceEmbedder embedder, PictureOptions pictures)
    {
        ModelId = modelId;
        Pictures = pictures;
        _detector = detector;
        _landmarker = landmarker;
        _embedder = embedder;
        Pipeline = new FacePipeline(detector, landmarker, embedder);
    }

    /// <summary>The pack id stored with every embedding, e.g. <c>faceplugin-0.0.1</c>.</summary>
    public string ModelId { get; }

    public IImageDecoder Decoder { get; } = new SkiaImageDecoder();

    public FacePipeline Pipeline { get; }

    public IFaceDetector Detector => _detector;

    public ILandmarker Landmarker => _landmarker;

    public IFaceEmbedder Embedder => _embedder;

    public int Dimensions => _embedder.Dimensions;

    /// <summary>The pictures made when an analysis asks for them (gallery ingest).</summary>
    public PictureOptions Pictures { get; }

    /// <summary>The manifest of the loaded pack (checksums, calibration).</summary>
    public ModelPackManifest Manifest { get; private init; } = ModelPackManifest.Default;

    /// <summary>
    /// Loads the pack's detector, landmarker and embedder from a verified <paramref name="store"/> (call
    /// <see cref="ModelStore.EnsureAsync"/> first; a missing file fails here with the fetch command).
    /// </summary>
    /// <param name="pictures">Sizes of the gallery's previews and thumbnails; <see cref="PictureOptions.Default"/> when null.</param>
    public static FaceEngine Create(ModelStore store, DetectorOptions? detectorOptions = null, PictureOptions? pictures = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        pictures ??= PictureOptions.Default;
        pictures.Validate();
        OnnxFaceDetector? detector = null;
        OnnxLandmarker? landmarker = null;
        try
        {
            detector = new OnnxFaceDetector(store, detectorOptions);
            landmarker = new OnnxLandmarker(store);
            var embedder = new OnnxFaceEmbedder(store);
            return new FaceEngine(store.Manifest.Id, detector, landmarker, embedder, pictures)
            {
                Manifest = store.Manifest,
                _store = store,
                _detectorOptions = detectorOptions,
            };
        }
        catch
        {
            landmarker?.Dispose();
            detector?.Dispose();
            throw;
        }
    }

    /// <summary>
    /// A second engine over the same verified pack with its own ONNX sessions (about 30 MB each), for one
    /// ingest worker. The caller disposes it.
    /// </summary>
    public FaceEngine CreateWorker() =>
        Create(_store ?? throw new InvalidOperationException("This engine was not created from a model store."), _detectorOptions, Pictures);

    /// <summary>Reads, decodes and analyses a file; the byte limit is checked before the file is read.</summary>
    /// <param name="withPictures">Also make the preview and face thumbnails (see <see cref="Analyze(ReadOnlySpan{byte}, DecodeLimits, bool)"/>).</param>
    public PhotoAnalysis AnalyzeFile(string path, DecodeLimits limits, bool withPictures = false)
    {
        ArgumentNullException.ThrowIfNull(limits);
        var start = Stopwatch.GetTimestamp();
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1, FileOptions.SequentialScan);
        var length = file.Length;
        if (length > limits.MaxBytes)
        {
            throw new ImageRejectedException(
                ImageRejection.TooManyBytes, $"The image file is {length:N0} bytes, more than the {limits.MaxBytes:N0}-byte limit.");
        }

        var buffer = ArrayPool<byte>.Shared.Rent((int)Math.Max(1, length));
        try
        {
            var read = 0;
            while (read < length && file.Read(buffer, read, (int)length - read) is var n and > 0)
            {
                read += n;
            }

            return Analyze(buffer.AsSpan(0, read), limits, withPictures, Stopwatch.GetTimestamp() - start);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Decodes and analyses a probe's encoded bytes (no pictures). Bad input throws <see cref="ImageRejectedException"/>.</summary>
    public PhotoAnalysis Analyze(ReadOnlySpan<byte> encoded, DecodeLimits limits) => Analyze(encoded, limits, withPictures: false, 0);

    /// <summary>
    /// Decodes and analyses encoded image bytes; with <paramref name="withPictures"/> (and <see cref="Pictures"/>
    /// enabled) also makes the preview and each face's thumbnail from the decoded pixels. Bad input throws
    /// <see cref="ImageRejectedException"/>.
    /// </summary>
    public PhotoAnalysis Analyze(ReadOnlySpan<byte> encoded, DecodeLimits limits, bool withPictures) => Analyze(encoded, limits, withPictures, 0);

    private PhotoAnalysis Analyze(ReadOnlySpan<byte> encoded, DecodeLimits limits, bool withPictures, long readTicks)
    {
        var start = Stopwatch.GetTimestamp();
        using var decoded = Decoder.Decode(encoded, limits);
        var decodeMs = (Stopwatch.GetTimestamp() - start + readTicks) * 1000.0 / Stopwatch.Frequency;
        var faces = Pipeline.Analyze(decoded.Image, decoded.Scale, out var t);
        Picture? preview = null;
        var picturesMs = 0.0;
        if (withPictures && Pictures.Enabled)
        {
            var p0 = Stopwatch.GetTimestamp();
            preview = PictureEncoder.Preview(decoded.Image, Pictures);
            faces = WithThumbnails(faces, decoded);
            picturesMs = (Stopwatch.GetTimestamp() - p0) * 1000.0 / Stopwatch.Frequency;
        }

        // The hash is taken from the decoded pixels (EXIF-rotated, possibly decoded at reduced size): a 32×32
        // summary is the same either way, and that is what makes resized copies match.
        return new PhotoAnalysis(
            decoded.Info, decoded.Scale, faces, new StageTimings(decodeMs, t.DetectMs, t.LandmarksMs, t.AlignMs, t.EmbedMs) { PicturesMs = picturesMs })
        {
            PerceptualHash = PerceptualHash.Compute(decoded.Image),
            Preview = preview,
        };
    }

    /// <summary>The faces with their thumbnails, cut from the decoded buffer (boxes are in original pixels).</summary>
    private IReadOnlyList<AnalyzedFace> WithThumbnails(IReadOnlyList<AnalyzedFace> faces, DecodedImage decoded)
    {
        if (faces.Count == 0)
        {
            return faces;
        }

        var scale = decoded.Scale;
        var result = new AnalyzedFace[faces.Count];
        for (var i = 0; i < result.Length; i++)
        {
            var b = faces[i].Box;
            var box = new BoxF(b.X1 * scale, b.Y1 * scale, b.X2 * scale, b.Y2 * scale);
            result[i] = faces[i] with { Thumbnail = PictureEncoder.FaceThumbnail(decoded.Image, box, Pictures) };
        }

        return result;
    }

    public void Dispose()
    {
        _detector.Dispose();
        _landmarker.Dispose();
        _embedder.Dispose();
    }
}
