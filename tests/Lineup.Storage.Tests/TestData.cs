using System.Security.Cryptography;
using Lineup.Core.Catalog;
using Lineup.Core.Faces;
using Lineup.Core.Numerics;

namespace Lineup.Storage.Tests;

internal static class TestData
{
    public const string Model = "test-model-v1";

    public static float[] UnitVector(Random random, int dimensions = 512)
    {
        var v = new float[dimensions];
        for (var i = 0; i < v.Length; i++)
        {
            v[i] = (float)((random.NextDouble() * 2) - 1);
        }

        VectorMath.Normalize(v);
        return v;
    }

    public static AnalyzedFace Face(Random random, int dimensions = 512)
    {
        var x = random.Next(0, 500);
        var y = random.Next(0, 500);
        return new AnalyzedFace(
            new BoxF(x, y, x + 100.5f, y + 100.25f),
            0.5f + ((float)random.NextDouble() / 2),
            new Landmarks5(new(x + 30, y + 40), new(x + 70, y + 40), new(x + 50, y + 60), new(x + 35, y + 80), new(x + 65, y + 80.5f)),
            UnitVector(random, dimensions));
    }

    /// <summary>
    /// <paramref name="span"/> orthonormal directions of <paramref name="dimensions"/>: embeddings that lie in them span few
    /// directions, as a face model's do (<see cref="LowRankImage"/>), so an embedding basis can be fitted to them.
    /// </summary>
    public static float[][] Directions(Random random, int dimensions, int span)
    {
        var directions = new float[span][];
        for (var k = 0; k < span; k++)
        {
            var v = UnitVector(random, dimensions);
            for (var j = 0; j < k; j++)
            {
                var dot = System.Numerics.Tensors.TensorPrimitives.Dot(v, directions[j]);
                for (var i = 0; i < dimensions; i++)
                {
                    v[i] -= dot * directions[j][i];
                }
            }

            VectorMath.Normalize(v);
            directions[k] = v;
        }

        return directions;
    }

    /// <summary>An image with one face whose embedding lies in <paramref name="directions"/> (the first one its mean's).</summary>
    public static NewImage LowRankImage(long collectionId, Random random, float[][] directions)
    {
        var embedding = new float[directions[0].Length];
        for (var k = 0; k < directions.Length; k++)
        {
            var c = k == 0 ? 2 + random.NextDouble() : ((random.NextDouble() * 2) - 1) / (1 + (0.2 * k));
            for (var i = 0; i < embedding.Length; i++)
            {
                embedding[i] += (float)(c * directions[k][i]);
            }
        }

        VectorMath.Normalize(embedding);
        return WithFace(Image(collectionId, random, faces: 1), embedding);
    }

    /// <summary><paramref name="image"/> with its one face's embedding replaced.</summary>
    public static NewImage WithFace(NewImage image, float[] embedding) =>
        image with { Faces = [image.Faces[0] with { Embedding = embedding }] };

    public static NewImage Image(long collectionId, Random random, int faces = 2, Provenance? provenance = null)
    {
        var bytes = new byte[64];
        random.NextBytes(bytes);
        return new NewImage(
            collectionId,
            SHA256.HashData(bytes),
            bytes.Length,
            "jpeg",
            640,
            480,
            provenance ?? new Provenance("https://example.org/a.jpg", "https://example.org/page"),
            Enumerable.Range(0, faces).Select(_ => Face(random)).ToArray());
    }
}
