using Lineup.Core.Catalog;
using Lineup.Core.Faces;
using Lineup.Core.Numerics;
using Microsoft.Data.Sqlite;

namespace Lineup.Storage.Tests;

public sealed class SqliteCatalogTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    private readonly Random _random = new(1234);

    public void Dispose() => _dir.Dispose();

    private string DbPath => _dir.File("nested/dir/catalog.db");

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
    public async Task Collection_image_face_provenance_and_embedding_round_trip()
    {
        var captured = new DateTimeOffset(2023, 5, 6, 7, 8, 9, 123, TimeSpan.FromHours(2)).AddTicks(4567);
        var fetched = new DateTimeOffset(2024, 1, 2, 3, 4, 5, TimeSpan.Zero);
        var provenance = new Provenance("https://example.org/img.jpg", "https://example.org/page", captured, fetched, "/data/a/img.jpg");

        long imageId;
        IReadOnlyList<long> faceIds;
        NewImage image;
        await using (var catalog = await OpenAsync())
        {
            var collection = await catalog.EnsureCollectionAsync("press", "public-interest", "GB");
            Assert.Equal("press", collection.Name);
            Assert.Equal("public-interest", collection.LawfulBasis);
            Assert.Equal("GB", collection.Jurisdiction);

            image = TestData.Image(collection.Id, _random, faces: 3, provenance);
            var stored = Assert.Single(await catalog.AddImagesAsync([image]));
            Assert.False(stored.AlreadyPresent);
            Assert.Equal(3, stored.FaceIds.Count);
            Assert.True(stored.FaceIds.SequenceEqual(stored.FaceIds.Order()));
            imageId = stored.ImageId;
            faceIds = stored.FaceIds;
        }

        // Reopen: everything survives dispose.
        await using var reopened = await OpenAsync();
        var record = await reopened.GetImageAsync(imageId);
        Assert.NotNull(record);
        Assert.Equal(Convert.ToHexStringLower(image.Sha256), record.Sha256Hex);
        Assert.Equal(image.ByteLength, record.ByteLength);
        Assert.Equal("jpeg", record.Format);
        Assert.Equal((640, 480), (record.Width, record.Height));
        Assert.Equal(provenance, record.Provenance);
        Assert.Equal(captured.UtcTicks, record.Provenance.CapturedAt!.Value.UtcTicks);
        Assert.Equal(record, await reopened.FindImageAsync(image.Sha256));

        var faces = await reopened.GetFacesOfImageAsync(imageId);
        Assert.Equal(faceIds, faces.Select(f => f.Id));
        for (var i = 0; i < faces.Count; i++)
        {
            var expected = image.Faces[i];
            Assert.Equal(expected.Box, faces[i].Box);
            Assert.Equal(expected.Landmarks, faces[i].Landmarks);
            Assert.Equal(expected.DetectorScore, faces[i].DetectorScore);
            Assert.Equal(TestData.Model, faces[i].ModelId);
            Assert.Equal(imageId, faces[i].ImageId);
            Assert.Equal(faces[i], await reopened.GetFaceAsync(faces[i].Id));
        }

        var embeddings = await reopened.ReadEmbeddingsAsync().ToListAsync();
        Assert.Equal(faceIds, embeddings.Select(e => e.FaceId));
        for (var i = 0; i < embeddings.Count; i++)
        {
            var original = image.Faces[i].Embedding;
            Assert.Equal(original.Length, embeddings[i].Vector.Length);
            for (var d = 0; d < original.Length; d++)
            {
                Assert.InRange(embeddings[i].Vector[d] - original[d], -1e-3f, 1e-3f);
            }
        }

        var withImages = await reopened.GetFacesWithImagesAsync([faceIds[2], 999_999, faceIds[0]]);
        Assert.Equal([faceIds[2], faceIds[0]], withImages.Select(p => p.Face.Id));
        Assert.All(withImages, p => Assert.Equal(record, p.Image));

        var stats = await reopened.GetStatsAsync();
        Assert.Equal(new CatalogStats(1, 1, 3, faceIds[^1], Migrations.LatestVersion), stats);
    }

    [Fact]
    public async Task Duplicate_bytes_are_reported_already_present_and_add_no_rows()
    {
        await using var catalog = await OpenAsync();
        var collection = await catalog.EnsureCollectionAsync("c", "consent", null);
        var image = TestData.Image(collection.Id, _random);
        var first = Assert.Single(await catalog.AddImagesAsync([image]));

        // Again, in a later batch and twice inside one batch with a new image.
        var other = TestData.Image(collection.Id, _random);
        var second = await catalog.AddImagesAsync([image, other, other]);

        Assert.Equal(first.ImageId, second[0].ImageId);
        Assert.True(second[0].AlreadyPresent);
        Assert.Empty(second[0].FaceIds);
        Assert.False(second[1].AlreadyPresent);
        Assert.True(second[2].AlreadyPresent);
        Assert.Equal(second[1].ImageId, second[2].ImageId);

        var stats = await catalog.GetStatsAsync();
        Assert.Equal(2, stats.Images);
        Assert.Equal(4, stats.Faces);
    }

    [Fact]
    public async Task A_batch_with_one_invalid_item_stores_nothing()
    {
        await using var catalog = await OpenAsync();
        var collection = await catalog.EnsureCollectionAsync("c", "consent", null);

        var good = TestData.Image(collection.Id, _random);
        var badFace = TestData.Face(_random) with { Embedding = new float[512] };
        badFace.Embedding[7] = float.NaN;
        var bad = TestData.Image(collection.Id, _random) with { Faces = [badFace] };
        var ex = await Assert.ThrowsAsync<CatalogException>(() => catalog.AddImagesAsync([good, bad]));
        Assert.Contains("non-finite", ex.Message, StringComparison.Ordinal);

        var wrongDims = TestData.Image(collection.Id, _random) with { Faces = [TestData.Face(_random, 128)] };
        ex = await Assert.ThrowsAsync<CatalogException>(() => catalog.AddImagesAsync([good, wrongDims]));
        Assert.Contains("dimensions", ex.Message, StringComparison.Ordinal);

        // Passes validation, fails inside the transaction after the good image was inserted.
        var unknownCollection = TestData.Image(collection.Id + 41, _random);
        ex = await Assert.ThrowsAsync<CatalogException>(() => catalog.AddImagesAsync([good, unknownCollection]));
        Assert.Contains("collection", ex.Message, StringComparison.Ordinal);

        var stats = await catalog.GetStatsAsync();
        Assert.Equal(0, stats.Images);
        Assert.Equal(0, stats.Faces);
        Assert.Null(await catalog.FindImageAsync(good.Sha256));

        // The catalog is still usable and the good image goes in on its own.
        Assert.False(Assert.Single(await catalog.AddImagesAsync([good])).AlreadyPresent);
    }

    [Fact]
    public async Task Embedding_dimensions_are_fixed_by_the_first_faces_written()
    {
        await using (var catalog = await OpenAsync())
        {
            var collection = await catalog.EnsureCollectionAsync("c", "consent", null);
            await catalog.AddImagesAsync([TestData.Image(collection.Id, _random)]);
        }

        await using var reopened = await OpenAsync();
        var id = (await reopened.FindCollectionAsync("c"))!.Id;
        var wrongDims = TestData.Image(id, _random) with { Faces = [TestData.Face(_random, 256)] };
        var ex = await Assert.ThrowsAsync<CatalogException>(() => reopened.AddImagesAsync([wrongDims]));
        Assert.Contains("512", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task EnsureCollection_returns_the_existing_one_and_refuses_a_conflicting_basis()
    {
        await using var catalog = await OpenAsync();
        var first = await catalog.EnsureCollectionAsync("arrests", "law-enforcement", "UK");
        var again = await catalog.EnsureCollectionAsync("arrests", "law-enforcement", "UK");
        Assert.Equal(first, again);

        var ex = await Assert.ThrowsAsync<CatalogException>(() => catalog.EnsureCollectionAsync("arrests", "consent", "UK"));
        Assert.Contains("lawful basis", ex.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<CatalogException>(() => catalog.EnsureCollectionAsync("arrests", "law-enforcement", "FR"));

        await Assert.ThrowsAnyAsync<ArgumentException>(() => catalog.EnsureCollectionAsync("", "consent", null));
        await Assert.ThrowsAnyAsync<ArgumentException>(() => catalog.EnsureCollectionAsync("x", " ", null));

        Assert.Equal(first, await catalog.FindCollectionAsync("arrests"));
        Assert.Null(await catalog.FindCollectionAsync("missing"));
        await catalog.EnsureCollectionAsync("a-first", "consent", null);
        Assert.Equal(["a-first", "arrests"], (await catalog.ListCollectionsAsync()).Select(c => c.Name));
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
    public async Task Concurrent_writers_and_readers_all_land()
    {
        await using var catalog = await OpenAsync();
        var collection = await catalog.EnsureCollectionAsync("c", "consent", null);
        const int Writers = 6, BatchesPerWriter = 8, ImagesPerBatch = 5;

        var writers = Enumerable.Range(0, Writers).Select(w => Task.Run(async () =>
        {
            var random = new Random(w);
            for (var b = 0; b < BatchesPerWriter; b++)
            {
                var batch = Enumerable.Range(0, ImagesPerBatch).Select(_ => TestData.Image(collection.Id, random)).ToArray();
                var stored = await catalog.AddImagesAsync(batch);
                Assert.All(stored, s => Assert.False(s.AlreadyPresent));
            }
        }));
        var readers = Enumerable.Range(0, 3).Select(_ => Task.Run(async () =>
        {
            for (var i = 0; i < 20; i++)
            {
                await catalog.GetStatsAsync();
                await foreach (var e in catalog.ReadEmbeddingsAsync())
                {
                    Assert.Equal(512, e.Vector.Length);
                }
            }
        }));
        await Task.WhenAll(writers.Concat(readers));

        var stats = await catalog.GetStatsAsync();
        Assert.Equal(Writers * BatchesPerWriter * ImagesPerBatch, stats.Images);
        Assert.Equal(stats.Images * 2, stats.Faces);
    }

    [Fact]
    public async Task ReadEmbeddings_streams_in_id_order_across_pages_and_resumes_after_an_id()
    {
        await using var catalog = await OpenAsync();
        var collection = await catalog.EnsureCollectionAsync("c", "consent", null);

        // More than one keyset page, written in several batches.
        var total = SqliteCatalog.EmbeddingPageSize + 300;
        var faceIds = new List<long>();
        var vectors = new Dictionary<long, float[]>();
        for (var written = 0; written < total;)
        {
            var batch = Enumerable.Range(0, 250).Select(_ => TestData.Image(collection.Id, _random, faces: 2)).ToArray();
            var stored = await catalog.AddImagesAsync(batch);
            for (var i = 0; i < batch.Length; i++)
            {
                for (var f = 0; f < stored[i].FaceIds.Count; f++)
                {
                    faceIds.Add(stored[i].FaceIds[f]);
                    vectors[stored[i].FaceIds[f]] = batch[i].Faces[f].Embedding;
                }
            }

            written += batch.Length * 2;
        }

        var all = await catalog.ReadEmbeddingsAsync().ToListAsync();
        Assert.Equal(faceIds, all.Select(e => e.FaceId));
        Assert.All(all, e => Assert.True(VectorMath.CosineOfUnit(e.Vector, vectors[e.FaceId]) > 0.9999f));

        var resumeAfter = faceIds[1000];
        var rest = await catalog.ReadEmbeddingsAsync(resumeAfter).Select(e => e.FaceId).ToListAsync();
        Assert.Equal(faceIds.Skip(1001), rest);
        Assert.Empty(await catalog.ReadEmbeddingsAsync(faceIds[^1]).ToListAsync());
    }

    [Fact]
    public async Task Embeddings_of_another_model_are_not_streamed()
    {
        long firstModelFace;
        await using (var catalog = await OpenAsync())
        {
            var collection = await catalog.EnsureCollectionAsync("c", "consent", null);
            firstModelFace = (await catalog.AddImagesAsync([TestData.Image(collection.Id, _random, faces: 1)]))[0].FaceIds[0];
        }

        await using var other = await SqliteCatalog.OpenAsync(DbPath, "other-model");
        Assert.Empty(await other.ReadEmbeddingsAsync().ToListAsync());
        Assert.Equal("other-model", other.ModelId);
        Assert.Equal(TestData.Model, (await other.GetFaceAsync(firstModelFace))!.ModelId);
    }

    [Fact]
    public async Task Invalid_arguments_are_rejected_before_any_write()
    {
        await using var catalog = await OpenAsync();
        var collection = await catalog.EnsureCollectionAsync("c", "consent", null);
        var shortSha = TestData.Image(collection.Id, _random) with { Sha256 = new byte[5] };
        var ex = await Assert.ThrowsAsync<CatalogException>(() => catalog.AddImagesAsync([shortSha]));
        Assert.Contains("SHA-256", ex.Message, StringComparison.Ordinal);
        Assert.Empty(await catalog.AddImagesAsync([]));
        await Assert.ThrowsAnyAsync<ArgumentException>(() => SqliteCatalog.OpenAsync(DbPath, ""));
    }

    [Fact]
    public async Task Faces_are_deleted_with_their_image_and_ids_are_not_reused()
    {
        await using var catalog = await OpenAsync();
        var collection = await catalog.EnsureCollectionAsync("c", "consent", null);
        var stored = (await catalog.AddImagesAsync([TestData.Image(collection.Id, _random, faces: 2)]))[0];

        await using (var connection = new SqliteConnection($"Data Source={DbPath};Pooling=False;Foreign Keys=True"))
        {
            await connection.OpenAsync();
            using var command = connection.CreateCommand();
            command.CommandText = $"DELETE FROM images WHERE id = {stored.ImageId}";
            await command.ExecuteNonQueryAsync();
        }

        Assert.Equal(0, (await catalog.GetStatsAsync()).Faces);
        var next = (await catalog.AddImagesAsync([TestData.Image(collection.Id, _random, faces: 1)]))[0];
        Assert.True(next.FaceIds[0] > stored.FaceIds[^1]);
    }

    [Fact]
    public async Task A_face_box_survives_as_float()
    {
        await using var catalog = await OpenAsync();
        var collection = await catalog.EnsureCollectionAsync("c", "consent", null);
        var face = TestData.Face(_random) with { Box = new BoxF(1.1f, 2.2f, 3.3f, 4.4f), DetectorScore = 0.987654f };
        var image = TestData.Image(collection.Id, _random) with { Faces = [face] };
        var id = (await catalog.AddImagesAsync([image]))[0].FaceIds[0];
        var read = await catalog.GetFaceAsync(id);
        Assert.Equal(face.Box, read!.Box);
        Assert.Equal(face.DetectorScore, read.DetectorScore);
    }
}
