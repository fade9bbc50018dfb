using Lineup.Core.Catalog;
using Lineup.Core.Faces;
using Microsoft.Data.Sqlite;

namespace Lineup.Storage.Tests;

/// <summary>
/// What only the SQLite catalog has: its file, WAL, and the migrations that bring an older file up to date. The
/// contract both backends share is <see cref="CatalogContract{TCatalog}"/>.
/// </summary>
public sealed class SqliteCatalogTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    private readonly Random _random = new(1234);

    public void Dispose() => _dir.Dispose();

    private string DbPath => _dir.File("nested/dir/catalog.db");

    /// <summary>A file written by hand before the catalog opens it (the directory exists).</summary>
    private string OldPath => _dir.File("catalog.db");

    private Task<SqliteCatalog> OpenAsync() => SqliteCatalog.OpenAsync(DbPath, TestData.Model);

    [Fact]
    public async Task Open_creates_the_file_and_its_directory_and_records_the_schema_version()
    {
        await using var catalog = await OpenAsync();

        Assert.True(File.Exists(DbPath));
        Assert.Equal(Migrations.LatestVersion, catalog.SchemaVersion);
        var stats = await catalog.GetStatsAsync();
        Assert.Equal(new CatalogStats(0, 0, 0, 0, Migrations.LatestVersion), stats);
    }

    [Fact]
    public async Task Open_uses_wal_and_foreign_keys()
    {
        await using var catalog = await OpenAsync();
        await using var connection = new SqliteConnection($"Data Source={DbPath};Pooling=False");
        await connection.OpenAsync();
        using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA journal_mode";
        Assert.Equal("wal", (string?)await command.ExecuteScalarAsync());
    }

    [Fact]
    public async Task A_catalog_from_a_newer_build_is_refused()
    {
        await using (var catalog = await OpenAsync())
        {
            Assert.Equal(Migrations.LatestVersion, catalog.SchemaVersion);
        }

        await using (var connection = new SqliteConnection($"Data Source={DbPath};Pooling=False"))
        {
            await connection.OpenAsync();
            using var command = connection.CreateCommand();
            command.CommandText = "INSERT INTO schema_version(version, description, applied_at) VALUES (99, 'future', '2099-01-01')";
            await command.ExecuteNonQueryAsync();
        }

        var ex = await Assert.ThrowsAsync<CatalogException>(OpenAsync);
        Assert.Contains("99", ex.Message, StringComparison.Ordinal);
        Assert.Contains("newer", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Migrations_are_recorded_and_not_reapplied()
    {
        await (await OpenAsync()).DisposeAsync();
        await (await OpenAsync()).DisposeAsync();

        await using var connection = new SqliteConnection($"Data Source={DbPath};Pooling=False");
        await connection.OpenAsync();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT group_concat(version) FROM schema_version";
        Assert.Equal(string.Join(",", Migrations.All.Select(m => m.Version)), (string?)await command.ExecuteScalarAsync());
    }

    [Fact]
    public async Task Migrating_a_version_1_catalog_keeps_its_images_and_gives_each_a_sighting()
    {
        // A catalog as the first release wrote it: schema step 1 only, with one image.
        await using (var connection = new SqliteConnection($"Data Source={OldPath};Pooling=False"))
        {
            await connection.OpenAsync();
            using var command = connection.CreateCommand();
            command.CommandText = $"""
                CREATE TABLE schema_version (version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at TEXT NOT NULL);
                {Migrations.All[0].Sql}
                INSERT INTO schema_version VALUES (1, 'v1', '2026-01-01T00:00:00.0000000Z');
                INSERT INTO collections(name, lawful_basis, jurisdiction, created_at) VALUES ('old', 'basis', 'FR', '2026-01-01T00:00:00.0000000Z');
                INSERT INTO images(collection_id, sha256, byte_length, format, width, height, source_url, page_url, added_at)
                VALUES (1, zeroblob(32), 10, 'jpeg', 4, 3, 'https://old.example/a.jpg', 'https://old.example/', '2026-01-01T00:00:00.0000000Z');
                """;
            await command.ExecuteNonQueryAsync();
        }

        await using var catalog = await SqliteCatalog.OpenAsync(OldPath, TestData.Model);
        Assert.Equal(Migrations.LatestVersion, catalog.SchemaVersion);
        var sightings = await catalog.GetSightingsAsync(1);
        var only = Assert.Single(sightings);
        Assert.Equal(("https://old.example/a.jpg", "https://old.example/"), (only.Provenance.SourceUrl, only.Provenance.PageUrl));
        Assert.Null((await catalog.GetImageAsync(1))!.NearDuplicateOf);
    }

    [Fact]
    public async Task A_version_2_catalog_is_upgraded_and_its_faces_have_unknown_quality()
    {
        // A catalog as schema steps 1 and 2 left it, with one face.
        await using (var connection = new SqliteConnection($"Data Source={OldPath};Pooling=False"))
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

        await using var catalog = await SqliteCatalog.OpenAsync(OldPath, TestData.Model);
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
