using Lineup.Core.Catalog;
using Lineup.Storage.Postgres;

namespace Lineup.Storage.Tests;

/// <summary>
/// Ingest runs, item outcomes, sightings and near-duplicates, on both backends. (A version 1 SQLite file brought up to
/// date: <see cref="SqliteCatalogTests"/>; commits from two processes at once: <see cref="PostgresConcurrencyTests"/>.)
/// </summary>
public abstract class IngestLedgerContract<TCatalog>(ICatalogBackend<TCatalog> backend) : IAsyncLifetime
    where TCatalog : class, ICatalog, IIngestLedger
{
    private readonly Random _random = new(77);

    protected ICatalogBackend<TCatalog> Backend { get; } = backend;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await Backend.DisposeAsync();

    private async Task<(TCatalog Catalog, Collection Collection, IngestRun Run)> StartAsync()
    {
        var catalog = await Backend.OpenAsync();
        var collection = await catalog.EnsureCollectionAsync("web", "public-interest research", "DE");
        var run = await catalog.StartRunAsync(collection.Id, "warc", "/data/crawl.warc.gz");
        return (catalog, collection, run);
    }

    [SkippableFact]
    public async Task A_batch_stores_images_faces_sightings_and_each_items_outcome_in_source_order()
    {
        var (catalog, collection, run) = await StartAsync();
        await using var _ = catalog;
        var withFaces = TestData.Image(collection.Id, _random, faces: 2, new Provenance(
            "https://example.org/a.jpg", "https://example.org/p1", FetchedAt: DateTimeOffset.Parse("2024-02-03T04:05:06Z"),
            RecordId: "<urn:uuid:1>", OtherPageUrls: ["https://example.org/p2"]));
        var noFace = TestData.Image(collection.Id, _random, faces: 0);
        var results = await catalog.CommitAsync(run.Id,
        [
            new IngestEntry(0, "crawl.warc.gz#1", IngestStatus.Ingested, Image: withFaces),
            new IngestEntry(1, "crawl.warc.gz#2", IngestStatus.Refused, "crawl.warc.gz#2: not an image"),
            new IngestEntry(2, "crawl.warc.gz#3", IngestStatus.NoFace, Image: noFace),
        ]);

        Assert.Equal([IngestStatus.Ingested, IngestStatus.Refused, IngestStatus.NoFace], results.Select(r => r.Status));
        Assert.Equal(2, results[0].FaceIds.Count);
        Assert.Null(results[1].ImageId);

        var reread = (await catalog.GetRunAsync(run.Id))!;
        Assert.Equal(3, reread.ItemsDone);
        Assert.Equal("crawl.warc.gz#3", reread.LastItemName);
        var items = await catalog.GetRunItemsAsync(run.Id);
        Assert.Equal(["crawl.warc.gz#1", "crawl.warc.gz#2", "crawl.warc.gz#3"], items.Select(i => i.Name));
        Assert.Equal("crawl.warc.gz#2: not an image", items[1].Reason);
        var counts = await catalog.GetRunCountsAsync(run.Id);
        Assert.Equal(new IngestRunCounts(3, 1, 1, 0, 0, 1, 0, 2), counts);

        // One sighting per embedding page, each with the full provenance.
        var sightings = await catalog.GetSightingsAsync(results[0].ImageId!.Value);
        Assert.Equal(["https://example.org/p1", "https://example.org/p2"], sightings.Select(s => s.Provenance.PageUrl));
        Assert.All(sightings, s =>
        {
            Assert.Equal("https://example.org/a.jpg", s.Provenance.SourceUrl);
            Assert.Equal("<urn:uuid:1>", s.Provenance.RecordId);
            Assert.Equal(DateTimeOffset.Parse("2024-02-03T04:05:06Z"), s.Provenance.FetchedAt);
            Assert.Equal(run.Id, s.RunId);
        });
    }

    [SkippableFact]
    public async Task Entries_out_of_sequence_are_refused_and_nothing_of_the_batch_is_written()
    {
        var (catalog, collection, run) = await StartAsync();
        await using var _ = catalog;
        await catalog.CommitAsync(run.Id, [new IngestEntry(0, "a", IngestStatus.Failed, "a: broken")]);

        var e = await Assert.ThrowsAsync<CatalogException>(() => catalog.CommitAsync(run.Id,
        [
            new IngestEntry(1, "b", IngestStatus.NoFace, Image: TestData.Image(collection.Id, _random, 0)),
            new IngestEntry(3, "d", IngestStatus.Failed, "d: broken"),
        ]));
        Assert.Contains("expected 2", e.Message, StringComparison.Ordinal);
        Assert.Equal(0, (await catalog.GetStatsAsync()).Images);
        Assert.Equal(1, (await catalog.GetRunAsync(run.Id))!.ItemsDone);
    }

    [SkippableFact]
    public async Task The_same_bytes_at_another_url_add_a_sighting_not_an_image()
    {
        var (catalog, collection, run) = await StartAsync();
        await using var _ = catalog;
        var first = TestData.Image(collection.Id, _random, 1, new Provenance("https://a.example/x.jpg", "https://a.example/"));
        var again = first with { Provenance = new Provenance("https://b.example/copy.jpg", "https://b.example/story") };
        var results = (await catalog.CommitAsync(run.Id,
        [
            new IngestEntry(0, "one", IngestStatus.Ingested, Image: first),
            new IngestEntry(1, "two", IngestStatus.Ingested, Image: again),
        ])).ToList();
        results.AddRange(await catalog.CommitAsync(run.Id,
            [new IngestEntry(2, "three", IngestStatus.Duplicate, SeenAgain: new SeenAgain(results[0].ImageId!.Value, collection.Id, new Provenance("https://c.example/c.jpg")))]));

        Assert.Equal([IngestStatus.Ingested, IngestStatus.Duplicate, IngestStatus.Duplicate], results.Select(r => r.Status));
        Assert.Equal(results[0].ImageId, results[1].ImageId);
        Assert.Equal(1, (await catalog.GetStatsAsync()).Images);
        Assert.Equal(1, (await catalog.GetStatsAsync()).Faces);
        var sightings = await catalog.GetSightingsAsync(results[0].ImageId!.Value);
        Assert.Equal(["https://a.example/x.jpg", "https://b.example/copy.jpg", "https://c.example/c.jpg"], sightings.Select(s => s.Provenance.SourceUrl));

        // Seeing the same place again (a re-run) adds nothing.
        var rerun = await catalog.StartRunAsync(collection.Id, "warc", "/data/crawl.warc.gz");
        await catalog.CommitAsync(rerun.Id, [new IngestEntry(0, "one", IngestStatus.Ingested, Image: first)]);
        Assert.Equal(3, (await catalog.GetSightingsAsync(results[0].ImageId!.Value)).Count);
    }

    [SkippableFact]
    public async Task A_near_duplicate_is_stored_without_faces_linked_to_its_original_and_shares_its_sightings()
    {
        var (catalog, collection, run) = await StartAsync();
        await using var _ = catalog;
        var original = TestData.Image(collection.Id, _random, 1, new Provenance("https://a.example/big.jpg")) with { PerceptualHash = 0xF0F0_1234_5678_9ABCUL };
        var stored = await catalog.CommitAsync(run.Id, [new IngestEntry(0, "big", IngestStatus.Ingested, Image: original)]);
        var originalId = stored[0].ImageId!.Value;
        var copy = TestData.Image(collection.Id, _random, 0, new Provenance("https://b.example/small.jpg")) with
        {
            PerceptualHash = 0xF0F0_1234_5678_9ABDUL,
            NearDuplicateOf = originalId,
        };
        var linked = await catalog.CommitAsync(run.Id, [new IngestEntry(1, "small", IngestStatus.NearDuplicate, "near-duplicate of image 1 (distance 1)", copy)]);

        Assert.Equal(IngestStatus.NearDuplicate, linked[0].Status);
        Assert.Equal("near-duplicate of image 1 (distance 1)", linked[0].Reason);
        var copyRecord = (await catalog.GetImageAsync(linked[0].ImageId!.Value))!;
        Assert.Equal(originalId, copyRecord.NearDuplicateOf);
        Assert.Empty(await catalog.GetFacesOfImageAsync(copyRecord.Id));
        Assert.Equal(["https://a.example/big.jpg", "https://b.example/small.jpg"], (await catalog.GetSightingsAsync(originalId)).Select(s => s.Provenance.SourceUrl));

        // Only originals feed the near-duplicate index, with their hash round-tripped through a signed INTEGER.
        var hashes = new List<ImageHash>();
        await foreach (var h in catalog.ReadPerceptualHashesAsync())
        {
            hashes.Add(h);
        }

        Assert.Equal([new ImageHash(originalId, 0xF0F0_1234_5678_9ABCUL, 640, 480)], hashes);
        Assert.Single(await catalog.GetEmbeddingsOfImageAsync(originalId));

        // A near-duplicate with faces of its own, or of an image that does not exist, is refused.
        await Assert.ThrowsAsync<CatalogException>(() => catalog.CommitAsync(run.Id,
            [new IngestEntry(2, "bad", IngestStatus.NearDuplicate, Image: TestData.Image(collection.Id, _random, 1) with { NearDuplicateOf = originalId })]));
        await Assert.ThrowsAsync<CatalogException>(() => catalog.CommitAsync(run.Id,
            [new IngestEntry(2, "bad", IngestStatus.NearDuplicate, Image: TestData.Image(collection.Id, _random, 0) with { NearDuplicateOf = 999 })]));
    }

    [SkippableFact]
    public async Task Runs_are_interrupted_resumed_and_finished()
    {
        var (catalog, collection, run) = await StartAsync();
        await using var _ = catalog;
        await catalog.SetRunTotalAsync(run.Id, 10);
        await catalog.CommitAsync(run.Id, [new IngestEntry(0, "a", IngestStatus.Failed, "a: broken")]);

        Assert.Equal(1, await catalog.MarkRunningAsInterruptedAsync());
        var interrupted = (await catalog.GetRunAsync(run.Id))!;
        Assert.Equal(IngestRunStatus.Interrupted, interrupted.Status);
        await Assert.ThrowsAsync<CatalogException>(() => catalog.CommitAsync(run.Id, [new IngestEntry(1, "b", IngestStatus.Failed, "b")]));

        Assert.Equal(run.Id, (await catalog.FindResumableRunAsync(collection.Id, "warc", "/data/crawl.warc.gz"))!.Id);
        Assert.Null(await catalog.FindResumableRunAsync(collection.Id, "warc", "/data/other.warc.gz"));
        var resumed = await catalog.ResumeRunAsync(run.Id);
        Assert.Equal((IngestRunStatus.Running, 1, 1L, 10L), (resumed.Status, resumed.Resumes, resumed.ItemsDone, resumed.TotalItems!.Value));
        await Assert.ThrowsAsync<CatalogException>(() => catalog.ResumeRunAsync(run.Id));

        await catalog.FinishRunAsync(run.Id, IngestRunStatus.Completed, null);
        var done = (await catalog.GetRunAsync(run.Id))!;
        Assert.Equal(IngestRunStatus.Completed, done.Status);
        Assert.NotNull(done.FinishedAt);
        Assert.Null(await catalog.FindResumableRunAsync(collection.Id, "warc", "/data/crawl.warc.gz"));
        Assert.Equal([run.Id], (await catalog.ListRunsAsync()).Select(r => r.Id));
        await Assert.ThrowsAsync<CatalogException>(() => catalog.ResumeRunAsync(999));
        await Assert.ThrowsAsync<CatalogException>(() => catalog.StartRunAsync(999, "folder", "/x"));
    }
}

public sealed class SqliteIngestLedgerTests() : IngestLedgerContract<SqliteCatalog>(new SqliteBackend());

public sealed class PostgresIngestLedgerTests() : IngestLedgerContract<PostgresCatalog>(new PostgresBackend());
