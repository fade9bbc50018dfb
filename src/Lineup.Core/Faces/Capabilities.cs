using Lineup.Core.Imaging;

namespace Lineup.Core.Faces;

/// <summary>Finds faces in a whole image. Results are ordered by descending score.</summary>
public interface IFaceDetector
{
    IReadOnlyList<FaceDetection> Detect(ImageBuffer image);
}

/// <summary>Locates facial landmarks inside a detected face box.</summary>
public interface ILandmarker
{
    /// <summary>Writes the 68 landmark points (image pixel coordinates) for the face in <paramref name="box"/>.</summary>
    void Predict(ImageBuffer image, BoxF box, Span<PointF> points68);
}

/// <summary>Turns an aligned face crop into a unit-length embedding.</summary>
public interface IFaceEmbedder
{
    /// <summary>Side of the square aligned crop the embedder expects (112).</summary>
    int InputSize { get; }

    int Dimensions { get; }

    /// <summary>Writes the L2-normalised embedding of <paramref name="alignedFace"/> into <paramref name="embedding"/>.</summary>
    void Embed(ImageBuffer alignedFace, Span<float> embedding);
}
