using System.Buffers;
using Lineup.Core.Faces;
using Lineup.Core.Imaging;
using Lineup.Core.Numerics;
using Lineup.Vision.Models;

namespace Lineup.Vision.Onnx;

/// <summary>
/// The pack's embedder (<c>fr_feature.onnx</c>, input [1,3,112,112] RGB (v − 127) / 128, output 512 values of
/// raw length 1.4–4.0; models.md), L2-normalised so that cosine similarity is a dot product.
/// </summary>
public sealed class OnnxFaceEmbedder : IFaceEmbedder, IDisposable
{
    private readonly OnnxModel _model;

    public OnnxFaceEmbedder(ModelStore store)
    {
        ArgumentNullException.ThrowIfNull(store);
        _model = new OnnxModel(store.PathOf("embedder"), store.Manifest.Get("embedder"));
        InputSize = (int)_model.InputShape[3];
        Dimensions = _model.OutputLengths[0];
    }

    public int InputSize { get; }

    public int Dimensions { get; }

    public void Embed(ImageBuffer alignedFace, Span<float> embedding)
    {
        ArgumentNullException.ThrowIfNull(alignedFace);
        if (embedding.Length != Dimensions)
        {
            throw new ArgumentException($"The embedding span must hold {Dimensions} values.", nameof(embedding));
        }

        var pool = ArrayPool<float>.Shared;
        var input = pool.Rent(_model.InputLength);
        var output = pool.Rent(Dimensions);
        try
        {
            // At 112×112 the bilinear grid lands on pixel centres: a plain copy with normalisation.
            TensorWriter.Write(
                alignedFace, new SourceRegion(0, 0, alignedFace.Width, alignedFace.Height), input, InputSize, InputSize,
                TensorLayout.Rgb, mean: 127f, scale: 128f);
            _model.Run(input, [output]);
            output.AsSpan(0, Dimensions).CopyTo(embedding);
            VectorMath.Normalize(embedding);
        }
        finally
        {
            pool.Return(input);
            pool.Return(output);
        }
    }

    public void Dispose() => _model.Dispose();
}
