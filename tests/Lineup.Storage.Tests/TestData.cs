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
