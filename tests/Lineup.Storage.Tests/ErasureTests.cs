using Lineup.Core.Audit;
using Lineup.Core.Catalog;
using Lineup.Storage.Postgres;
using Npgsql;

namespace Lineup.Storage.Tests;

/// <summary>
/// <see cref="IErasure"/> on each backend: an erased image goes with its near-duplicate family, faces, thumbnails,
/// previews and sightings, the ingest ledger keeps its rows without the link, and the receipt is in the audit log;
/// erasing faces is all or nothing; erasures racing for the same rows erase them once.
/// </summary>
public abstract class ErasureContract<TCatalog>(ICatalogBackend<TCatalog> backend) : IAsyncLifetime
    where TCatalog : class, ICatalog, IIngestLedger, IPictureStore, IErasure, ISearchLog, IAuditLog
{
    private readonly Random _random = new(8642);

    protected ICatalogBackend<TCatalog> Backend { get; } = backend;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await Backend.DisposeAsync();

    [SkippableFact]
    public async Task Erasing_a_copy_erases_its_original_and_every_copy_with_faces_pictures_and_sightings_and_the_ledger_keeps_its_rows()
    {
        await using var catalog = await Backend.OpenAsync();
        var collection = await catalog.EnsureCollectionAsync("press", "public-interest", "GB");
        var run = await catalog.StartRunAsync(collection.Id, "folder", "/photos");
        var original = TestData.Image(collection.Id, _random, 2, new Provenance("https://a.example/a.jpg", "https://a.example/page"));
        original = original with { Preview = RandomPicture(640, 480), Faces = [.. original.Faces.Select(f => f with { Thumbnail = RandomPicture(112, 112) })] };
        var stored = await catalog.CommitAsync(run.Id, [new IngestEntry(0, "a.jpg", IngestStatus.Ingested, Image: original)]);
        var originalId = stored[0].ImageId!.Value;
        var faceIds = stored[0].FaceIds;
        var copy = TestData.Image(collection.Id, _random, 0, new Provenance("https://b.example/b.jpg")) with
        {
            NearDuplicateOf = originalId,
            Preview = RandomPicture(320, 240),
        };
        var linked = await catalog.CommitAsync(run.Id,
        [
            new IngestEntry(1, "b.jpg", IngestStatus.NearDuplicate, "near-duplicate of image 1", copy),
            new IngestEntry(2, "a-again.jpg", IngestStatus.Duplicate, SeenAgain: new SeenAgain(originalId, collection.Id, new Provenance("https://c.example/a.jpg"))),
        ]);
        var copyId = linked[0].ImageId!.Value;

        // Someone else's photo, which stays.
        var other = TestData.Image(collection.Id, _random, 1) with { Preview = RandomPicture(640, 480) };
        other = other with { Faces = [other.Faces[0] with { Thumbnail = RandomPicture(112, 112) }] };
        var kept = (await catalog.AddImagesAsync([other]))[0];
        Assert.Equal(3, (await catalog.GetSightingsAsync(originalId)).Count);
        var version = await catalog.GalleryVersionAsync();

        var receipt = await catalog.EraseImageAsync(copyId, "dpo");

        Assert.Equal([originalId, copyId], receipt.Images);
        Assert.Equal(faceIds.Order(), receipt.Faces);
        Assert.Equal(3, receipt.Sightings);
        foreach (var imageId in new[] { originalId, copyId })
        {
            Assert.Null(await catalog.GetImageAsync(imageId));
            Assert.Null(await catalog.GetImagePreviewAsync(imageId));
            Assert.Empty(await catalog.GetSightingsAsync(imageId));
            Assert.Empty(await catalog.GetFacesOfImageAsync(imageId));
        }

        foreach (var faceId in faceIds)
        {
            Assert.Null(await catalog.GetFaceAsync(faceId));
            Assert.Null(await catalog.GetFaceThumbnailAsync(faceId));
        }

        var embeddings = new List<long>();
        await foreach (var e in catalog.ReadEmbeddingsAsync())
        {
            embeddings.Add(e.FaceId);
        }

        Assert.Equal(kept.FaceIds, embeddings);
        Assert.Equal(version + 1, await catalog.GalleryVersionAsync());

        // The ledger keeps the record that the files were processed, without the link to what they produced.
        var items = await catalog.GetRunItemsAsync(run.Id);
        Assert.Equal([IngestStatus.Ingested, IngestStatus.NearDuplicate, IngestStatus.Duplicate], items.Select(i => i.Status));
        Assert.All(items, i => Assert.Null(i.ImageId));

        // The other photo is untouched.
        Assert.NotNull(await catalog.GetImageAsync(kept.ImageId));
        Assert.NotNull(await catalog.GetImagePreviewAsync(kept.ImageId));
        Assert.NotNull(await catalog.GetFaceThumbnailAsync(kept.FaceIds[0]));
        Assert.Single(await catalog.GetSightingsAsync(kept.ImageId));

        // The receipt is in the log: ids and counts, at the time the erasure committed.
        var logged = Assert.Single(await catalog.ReadEventsAsync(receipt.AuditSeq!.Value, 1));
        Assert.Equal((AuditActions.Erasure, $"image:{copyId}", "dpo"), (logged.Action, logged.Subject, logged.Actor));
        Assert.Equal((2L, 2L, 3L), (logged.Details["images"]!.Value.Integer, logged.Details["faces"]!.Value.Integer, logged.Details["sightings"]!.Value.Integer));
        Assert.Equal($"{originalId},{copyId}", logged.Details["image_ids"]!.Value.Text);
        Assert.Equal(string.Join(",", faceIds.Order()), logged.Details["face_ids"]!.Value.Text);
        Assert.Equal(logged.At, receipt.At);
        Assert.Equal(receipt.AuditSeq, (await catalog.TreeHeadAsync()).TreeSize);
    }

    [SkippableFact]
    public async Task An_unknown_image_is_refused_and_nothing_is_erased_or_logged()
    {
        await using var catalog = await Backend.OpenAsync();
        var collection = await catalog.EnsureCollectionAsync("press", "public-interest", "GB");
        var stored = (await catalog.AddImagesAsync([TestData.Image(collection.Id, _random, 1)]))[0];
        var events = (await catalog.TreeHeadAsync()).TreeSize;
        var version = await catalog.GalleryVersionAsync();

        var e = await Assert.ThrowsAsync<CatalogException>(() => catalog.EraseImageAsync(stored.ImageId + 1000, "dpo"));
        Assert.Equal($"There is no image {stored.ImageId + 1000}.", e.Message);
        await Assert.ThrowsAsync<ArgumentException>(() => catalog.EraseImageAsync(stored.ImageId, " "));

        Assert.Equal(events, (await catalog.TreeHeadAsync()).TreeSize);
        Assert.Equal(version, await catalog.GalleryVersionAsync());
        Assert.NotNull(await catalog.GetFaceAsync(stored.FaceIds[0]));
    }

    [SkippableFact]
    public async Task Erasing_faces_keeps_their_image_and_refuses_unknown_ids_all_or_nothing()
    {
        await using var catalog = await Backend.OpenAsync();
        var collection = await catalog.EnsureCollectionAsync("press", "public-interest", "GB");
        var image = TestData.Image(collection.Id, _random, 3) with { Preview = RandomPicture(640, 480) };
        image = image with { Faces = [.. image.Faces.Select(f => f with { Thumbnail = RandomPicture(112, 112) })] };
        var stored = (await catalog.AddImagesAsync([image]))[0];
        var (f0, f1, f2) = (stored.FaceIds[0], stored.FaceIds[1], stored.FaceIds[2]);

        var receipt = await catalog.EraseFacesAsync([f2, f0, f0], "dpo");
        Assert.Equal([f0, f2], receipt.Faces);
        Assert.Empty(receipt.Images);
        Assert.Equal(0, receipt.Sightings);
        Assert.Null(await catalog.GetFaceAsync(f0));
        Assert.Null(await catalog.GetFaceThumbnailAsync(f2));
        Assert.NotNull(await catalog.GetImageAsync(stored.ImageId));
        Assert.NotNull(await catalog.GetImagePreviewAsync(stored.ImageId));
        Assert.NotNull(await catalog.GetFaceThumbnailAsync(f1));
        Assert.Equal([f1], (await catalog.GetFacesOfImageAsync(stored.ImageId)).Select(f => f.Id));
        var logged = Assert.Single(await catalog.ReadEventsAsync(receipt.AuditSeq!.Value, 1));
        Assert.Equal((AuditActions.Erasure, $"face:{f0}", 2L), (logged.Action, logged.Subject, logged.Details["faces"]!.Value.Integer));

        // Any unknown id refuses the whole request, naming the unknown ones.
        var events = (await catalog.TreeHeadAsync()).TreeSize;
        var many = await Assert.ThrowsAsync<CatalogException>(() => catalog.EraseFacesAsync([f1, f0, f2 + 1000], "dpo"));
        Assert.Contains($"{f0}, {f2 + 1000}", many.Message, StringComparison.Ordinal);
        Assert.Contains("nothing was erased", many.Message, StringComparison.Ordinal);
        var one = await Assert.ThrowsAsync<CatalogException>(() => catalog.EraseFacesAsync([f1, f0], "dpo"));
        Assert.Equal($"There is no face {f0}.", one.Message);
        await Assert.ThrowsAsync<ArgumentException>(() => catalog.EraseFacesAsync([], "dpo"));
        Assert.Equal(events, (await catalog.TreeHeadAsync()).TreeSize);
        Assert.NotNull(await catalog.GetFaceAsync(f1));

        // A caller's subject names the request the erasure answers.
        var named = await catalog.EraseFacesAsync([f1], "dpo", "request:17");
        Assert.Equal("request:17", Assert.Single(await catalog.ReadEventsAsync(named.AuditSeq!.Value, 1)).Subject);
        Assert.Empty(await catalog.GetFacesOfImageAsync(stored.ImageId));
    }

    [SkippableFact]
    public async Task Erasures_racing_for_the_same_rows_erase_them_once()
    {
        await using var catalog = await Backend.OpenAsync();
        var collection = await catalog.EnsureCollectionAsync("press", "public-interest", "GB");
        const int rounds = 3, racers = 8;
        for (var round = 0; round < rounds; round++)
        {
            var stored = await catalog.AddImagesAsync([TestData.Image(collection.Id, _random, 2), TestData.Image(collection.Id, _random, 1)]);

            // Whichever erasure wins, the others find the rows gone: one receipt each, never a face claimed twice.
            var faces = await RaceAsync(racers, () => catalog.EraseFacesAsync(stored[0].FaceIds, "dpo"));
            Assert.Equal(stored[0].FaceIds.Order(), Assert.Single(faces, r => r is not null)!.Faces);

            var images = await RaceAsync(racers, () => catalog.EraseImageAsync(stored[1].ImageId, "dpo"));
            var erased = Assert.Single(images, r => r is not null)!;
            Assert.Equal((1, 1), (erased.Images.Count, erased.Faces.Count));
        }

        Assert.Equal(2 * rounds, (await catalog.ReadEventsAsync()).Count(e => e.Action == AuditActions.Erasure));
    }

    /// <summary>Starts <paramref name="count"/> erasures on the thread pool at once; null for each one refused.</summary>
    private static Task<ErasureReceipt?[]> RaceAsync(int count, Func<Task<ErasureReceipt>> erase) =>
        Task.WhenAll(Enumerable.Range(0, count).Select(_ => Task.Run(async () =>
        {
            try
            {
                return await erase();
            }
            catch (CatalogException)
            {
                return (ErasureReceipt?)null;
            }
        })));

    private Picture RandomPicture(int width, int height)
    {
        var bytes = new byte[_random.Next(500, 2000)];
        _random.NextBytes(bytes);
        return new Picture(width, height, bytes);
    }
}

public sealed class SqliteErasureTests() : ErasureContract<SqliteCatalog>(new SqliteBackend());

public sealed class PostgresErasureTests() : ErasureContract<PostgresCatalog>(new PostgresBackend())
{
    /// <summary>
    /// PostgreSQL has no secure delete: the erased row versions stay in the pages until VACUUM frees them, so the erasure
    /// runs one on the tables it deleted from once it has committed (a manual VACUUM: <c>vacuum_count</c>, not autovacuum's).
    /// </summary>
    [SkippableFact]
    public async Task An_erasure_vacuums_the_tables_it_deleted_from_after_it_commits()
    {
        var backend = (PostgresBackend)Backend;
        await using var catalog = await backend.OpenAsync();
        var collection = await catalog.EnsureCollectionAsync("press", "public-interest", "GB");
        var stored = await catalog.AddImagesAsync([TestData.Image(collection.Id, new Random(5), 2)]);
        Assert.All(await VacuumCountsAsync(backend), t => Assert.Equal(0, t.Count));

        await catalog.EraseImageAsync(stored[0].ImageId, "dpo");

        var counts = await VacuumCountsAsync(backend);
        Assert.All(counts.Where(t => t.Table is "faces" or "face_thumbnails" or "image_previews" or "sightings" or "images"), t => Assert.Equal(1, t.Count));
        Assert.Equal(0, counts.Single(t => t.Table == "audit_events").Count);
    }

    private static async Task<List<(string Table, long Count)>> VacuumCountsAsync(PostgresBackend backend)
    {
        await using var connection = new NpgsqlConnection(await backend.ConnectionStringAsync());
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(
            "SELECT relname, vacuum_count FROM pg_stat_user_tables WHERE schemaname = current_schema() ORDER BY relname", connection);
        await using var reader = await command.ExecuteReaderAsync();
        var counts = new List<(string, long)>();
        while (await reader.ReadAsync())
        {
            counts.Add((reader.GetString(0), reader.GetInt64(1)));
        }

        return counts;
    }
}
