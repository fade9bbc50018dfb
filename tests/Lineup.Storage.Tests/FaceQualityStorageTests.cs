using Lineup.Core.Catalog;
using Lineup.Core.Faces;
using Lineup.Storage.Postgres;

namespace Lineup.Storage.Tests;

/// <summary>
/// A face's quality and every component round-trip on both backends. (An older SQLite file's faces without one:
/// <see cref="SqliteCatalogTests"/>.)
/// </summary>
public abstract class FaceQualityStorageContract<TCatalog>(ICatalogBackend<TCatalog> backend) : IAsyncLifetime
    where TCatalog : class, ICatalog
{
    private readonly Random _random = new(4321);

    protected ICatalogBackend<TCatalog> Backend { get; } = backend;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await Backend.DisposeAsync();

    [SkippableFact]
    public async Task Quality_and_every_component_round_trip_and_a_face_without_one_reads_null()
    {
        var assessed = TestData.Face(_random);
        assessed = assessed with
        {
            Quality = new FaceQuality(73.25f, 41.5f, 187.75f, 128.5f, 34.125f, -12.5f, 7.25f, -3.5f, assessed.DetectorScore, 2.875f),
        };
        var unassessed = TestData.Face(_random);
        var image = TestData.Image(1, _random, faces: 0) with { Faces = [assessed, unassessed] };

        long imageId;
        IReadOnlyList<long> faceIds;
        await using (var catalog = await Backend.OpenAsync())
        {
            var collection = await catalog.EnsureCollectionAsync("press", "public-interest", "GB");
            var stored = Assert.Single(await catalog.AddImagesAsync([image with { CollectionId = collection.Id }]));
            (imageId, faceIds) = (stored.ImageId, stored.FaceIds);
        }

        await using var reopened = await Backend.OpenAsync();
        var faces = await reopened.GetFacesOfImageAsync(imageId);
        Assert.Equal(2, faces.Count);
        Assert.Equal(assessed.Quality, faces[0].Quality);
        Assert.Null(faces[1].Quality);

        // Every read of a face carries it: by id, and joined with its image for search results.
        Assert.Equal(assessed.Quality, (await reopened.GetFaceAsync(faceIds[0]))!.Quality);
        var (face, record) = Assert.Single(await reopened.GetFacesWithImagesAsync([faceIds[0]]));
        Assert.Equal(assessed.Quality, face.Quality);
        Assert.Equal(imageId, record.Id);
        Assert.Equal(640, record.Width);
    }

    [SkippableFact]
    public async Task A_component_that_is_not_a_number_reads_back_as_not_a_number()
    {
        var face = TestData.Face(_random);
        face = face with { Quality = new FaceQuality(40, 30, float.NaN, 120, 30, 5, 2, 1, face.DetectorScore, float.NaN) };
        await using var catalog = await Backend.OpenAsync();
        var collection = await catalog.EnsureCollectionAsync("press", "public-interest", "GB");
        var stored = Assert.Single(await catalog.AddImagesAsync([TestData.Image(collection.Id, _random, faces: 0) with { Faces = [face] }]));

        var read = Assert.IsType<FaceQuality>((await catalog.GetFaceAsync(stored.FaceIds[0]))!.Quality);
        Assert.Equal(40, read.Score);
        Assert.True(float.IsNaN(read.Sharpness));
        Assert.True(float.IsNaN(read.LandmarkFit));
        Assert.Equal(120, read.Brightness);
    }
}

public sealed class SqliteFaceQualityStorageTests() : FaceQualityStorageContract<SqliteCatalog>(new SqliteBackend());

public sealed class PostgresFaceQualityStorageTests() : FaceQualityStorageContract<PostgresCatalog>(new PostgresBackend());
