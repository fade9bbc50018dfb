using Lineup.Core.Faces;
using Microsoft.Data.Sqlite;

namespace Lineup.Storage.Tests;

public sealed class FaceQualityStorageTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    private readonly Random _random = new(4321);

    public void Dispose() => _dir.Dispose();

    private string DbPath => _dir.File("catalog.db");

    [Fact]
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
        await using (var catalog = await SqliteCatalog.OpenAsync(DbPath, TestData.Model))
        {
            var collection = await catalog.EnsureCollectionAsync("press", "public-interest", "GB");
            var stored = Assert.Single(await catalog.AddImagesAsync([image with { CollectionId = collection.Id }]));
            (imageId, faceIds) = (stored.ImageId, stored.FaceIds);
        }

        await using var reopened = await SqliteCatalog.OpenAsync(DbPath, TestData.Model);
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

    [Fact]
    public async Task A_version_2_catalog_is_upgraded_and_its_faces_have_unknown_quality()
    {
        // A catalog as schema steps 1 and 2 left it, with one face.
        await using (var connection = new SqliteConnection($"Data Source={DbPath};Pooling=False"))
        {
            await connection.OpenAsync();
            using var command = connection.CreateCommand();
            command.CommandText = $"""
                CREATE TABLE schema_version (version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at TEXT NOT NULL);
                {Migrations.All[0].Sql}
                {Migrations.All[1].Sql}
                INSERT INTO schema_version VALUES (1, 'v1', '2026-01-01T00:00:00.0000000Z'), (2, 'v2', '2026-01-02T00:00:00.0000000Z');
                INSERT INTO collections(name, lawful_basis, jurisdiction, created_at) VALUES ('old', 'basis', 'FR', '2026-01-01T00:00:00.0000000Z');
                INSERT INTO images(collection_id, sha256, byte_length, format, width, height, added_at)
                VALUES (1, zeroblob(32), 10, 'jpeg', 400, 300, '2026-01-01T00:00:00.0000000Z');
                INSERT INTO faces(image_id, x1, y1, x2, y2, left_eye_x, left_eye_y, right_eye_x, right_eye_y, nose_x, nose_y,
                                  mouth_left_x, mouth_left_y, mouth_right_x, mouth_right_y, detector_score, embedding, model_id)
                VALUES (1, 10, 20, 110, 120, 40, 60, 80, 60, 60, 80, 45, 100, 75, 100, 0.97, zeroblob(1024), '{TestData.Model}');
                """;
            await command.ExecuteNonQueryAsync();
        }

        await using var catalog = await SqliteCatalog.OpenAsync(DbPath, TestData.Model);
        Assert.Equal(Migrations.LatestVersion, catalog.SchemaVersion);
        Assert.Equal("face quality", Migrations.All.Single(m => m.Version == 3).Description);
        var old = await catalog.GetFaceAsync(1);
        Assert.NotNull(old);
        Assert.Null(old.Quality);
        Assert.Equal(new BoxF(10, 20, 110, 120), old.Box);
        Assert.Equal(0.97f, old.DetectorScore);

        // New faces in the upgraded catalog keep theirs.
        var face = TestData.Face(_random);
        face = face with { Quality = new FaceQuality(55, 38, 120, 110, 30, 5, 2, 1, face.DetectorScore, 3) };
        var image = TestData.Image(1, _random, faces: 0) with { Faces = [face] };
        var stored = Assert.Single(await catalog.AddImagesAsync([image]));
        Assert.Equal(face.Quality, (await catalog.GetFaceAsync(stored.FaceIds[0]))!.Quality);
        Assert.Null((await catalog.GetFacesOfImageAsync(1)).Single().Quality);
    }
}
