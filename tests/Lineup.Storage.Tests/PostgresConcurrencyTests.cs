using Lineup.Core.Catalog;
using Lineup.Storage.Postgres;

namespace Lineup.Storage.Tests;

/// <summary>
/// What the SQLite catalog never faces: several processes writing one PostgreSQL catalog at once. Each catalog here is
/// opened separately (its own connection pool), as two processes on two machines would open it.
/// </summary>
public sealed class PostgresConcurrencyTests : IAsyncLifetime
{
    private const int Processes = 3;

    private readonly PostgresBackend _backend = new();
    private readonly List<PostgresCatalog> _catalogs = [];

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var catalog in _catalogs)
        {
            await catalog.DisposeAsync();
        }

        await _backend.DisposeAsync();
    }

    private async Task<PostgresCatalog[]> OpenAsync(int count = Processes)
    {
        for (var i = 0; i < count; i++)
        {
            _catalogs.Add(await _backend.OpenAsync());
        }

        return [.. _catalogs];
    }

    /// <summary>Runs <paramref name="work"/> once per catalog, all released at the same moment.</summary>
    private static async Task<T[]> AtOnceAsync<T>(IReadOnlyList<PostgresCatalog> catalogs, Func<PostgresCatalog, int, Task<T>> work)
    {
        using var start = new Barrier(catalogs.Count);
        return await Task.WhenAll(catalogs.Select((catalog, i) => Task.Run(async () =>
        {
            start.SignalAndWait();
            return await work(catalog, i);
        })));
    }

    [SkippableFact]
    public async Task Processes_adding_the_same_bytes_at_once_store_them_once()
    {
        var catalogs = await OpenAsync();
        var collection = await catalogs[0].EnsureCollectionAsync("web", "consent", null);
        var random = new Random(11);
        const int Rounds = 20;
        for (var round = 0; round < Rounds; round++)
        {
            // Every process holds the same image and a different second one, in a different order.
            var shared = TestData.Image(collection.Id, random, faces: 2);
            var own = Enumerable.Range(0, Processes).Select(_ => TestData.Image(collection.Id, random, faces: 1)).ToArray();
            var stored = await AtOnceAsync(catalogs, (catalog, i) => catalog.AddImagesAsync(
                i % 2 == 0
                    ? [shared with { Provenance = new Provenance($"https://p{i}.example/a.jpg") }, own[i]]
                    : [own[i], shared with { Provenance = new Provenance($"https://p{i}.example/a.jpg") }]));

            var sharedResults = stored.Select((s, i) => s[i % 2 == 0 ? 0 : 1]).ToList();
            Assert.Single(sharedResults, s => !s.AlreadyPresent);
            Assert.Single(sharedResults.Select(s => s.ImageId).Distinct());
            Assert.Equal(2, sharedResults.Single(s => !s.AlreadyPresent).FaceIds.Count);
            Assert.All(sharedResults.Where(s => s.AlreadyPresent), s => Assert.Empty(s.FaceIds));

            // Each process's sighting of the shared image is kept.
            Assert.Equal(Processes, (await catalogs[0].GetSightingsAsync(sharedResults[0].ImageId)).Count);
        }

        var stats = await catalogs[0].GetStatsAsync();
        Assert.Equal(Rounds * (1 + Processes), stats.Images);
        Assert.Equal(Rounds * (2 + Processes), stats.Faces);
    }

    [SkippableFact]
    public async Task Runs_committing_the_same_bytes_at_once_ingest_them_once_and_record_the_others_as_duplicates()
    {
        var catalogs = await OpenAsync();
        var collection = await catalogs[0].EnsureCollectionAsync("web", "consent", null);
        var runs = new List<IngestRun>();
        foreach (var catalog in catalogs)
        {
            runs.Add(await catalog.StartRunAsync(collection.Id, "folder", $"/data/{runs.Count}"));
        }

        var image = TestData.Image(collection.Id, new Random(5), faces: 2);
        var results = await AtOnceAsync(catalogs, (catalog, i) => catalog.CommitAsync(runs[i].Id,
            [new IngestEntry(0, $"copy-{i}", IngestStatus.Ingested, Image: image with { Provenance = new Provenance($"https://p{i}.example/") })]));

        var outcomes = results.Select(r => Assert.Single(r)).ToList();
        Assert.Single(outcomes, o => o.Status == IngestStatus.Ingested);
        Assert.Equal(Processes - 1, outcomes.Count(o => o.Status == IngestStatus.Duplicate));
        Assert.Single(outcomes.Select(o => o.ImageId).Distinct());
        Assert.Equal(2, (await catalogs[0].GetStatsAsync()).Faces);
        Assert.Equal(Processes, (await catalogs[0].GetSightingsAsync(outcomes[0].ImageId!.Value)).Count);
    }

    [SkippableFact]
    public async Task Concurrent_commits_to_different_runs_do_not_interfere()
    {
        var catalogs = await OpenAsync();
        var collection = await catalogs[0].EnsureCollectionAsync("web", "consent", null);
        const int RunsPerProcess = 2, Batches = 6, BatchSize = 8;
        var runs = new long[Processes * RunsPerProcess];
        for (var r = 0; r < runs.Length; r++)
        {
            runs[r] = (await catalogs[r % Processes].StartRunAsync(collection.Id, "folder", $"/data/run-{r}")).Id;
        }

        var before = await BackendSql.ScalarAsync(_backend, "SELECT version FROM gallery_state WHERE id = 1");
        await Task.WhenAll(Enumerable.Range(0, runs.Length).Select(r => Task.Run(async () =>
        {
            var catalog = catalogs[r % Processes];
            var random = new Random(100 + r);
            for (var b = 0; b < Batches; b++)
            {
                var entries = Enumerable.Range(0, BatchSize).Select(k =>
                {
                    var seq = (b * BatchSize) + k;
                    return k == 3
                        ? new IngestEntry(seq, $"run{r}/{seq}", IngestStatus.Refused, "not an image")
                        : new IngestEntry(seq, $"run{r}/{seq}", IngestStatus.Ingested, Image: TestData.Image(collection.Id, random, faces: k % 3));
                }).ToList();
                var results = await catalog.CommitAsync(runs[r], entries);
                Assert.Equal(BatchSize, results.Count);
            }
        })));

        foreach (var runId in runs)
        {
            var run = (await catalogs[0].GetRunAsync(runId))!;
            Assert.Equal(Batches * BatchSize, run.ItemsDone);
            var items = await catalogs[0].GetRunItemsAsync(runId);
            Assert.Equal(Enumerable.Range(0, Batches * BatchSize).Select(i => (long)i), items.Select(i => i.Sequence));
            Assert.All(items, i => Assert.StartsWith($"run{runs.ToList().IndexOf(runId)}/", i.Name, StringComparison.Ordinal));
            var counts = await catalogs[0].GetRunCountsAsync(runId);
            Assert.Equal(Batches, counts.Refused);
            Assert.Equal(Batches * (BatchSize - 1), counts.Ingested + counts.NoFace);
        }

        var stats = await catalogs[0].GetStatsAsync();
        Assert.Equal(runs.Length * Batches * (BatchSize - 1), stats.Images);
        Assert.Equal(runs.Length * Batches * Enumerable.Range(0, BatchSize).Where(k => k != 3).Sum(k => k % 3), stats.Faces);

        // Every commit bumped the gallery version once: no bump was lost to a concurrent one.
        Assert.Equal(before + (runs.Length * Batches), await BackendSql.ScalarAsync(_backend, "SELECT version FROM gallery_state WHERE id = 1"));
    }

    [SkippableFact]
    public async Task Two_processes_committing_the_same_items_of_one_run_record_them_once()
    {
        var catalogs = await OpenAsync(2);
        var collection = await catalogs[0].EnsureCollectionAsync("web", "consent", null);
        var run = await catalogs[0].StartRunAsync(collection.Id, "folder", "/data/shared");
        var random = new Random(9);
        for (var round = 0; round < 10; round++)
        {
            var done = (await catalogs[0].GetRunAsync(run.Id))!.ItemsDone;
            var entries = Enumerable.Range(0, 4)
                .Select(k => new IngestEntry(done + k, $"item-{done + k}", IngestStatus.Ingested, Image: TestData.Image(collection.Id, random, faces: 1)))
                .ToList();
            var outcomes = await AtOnceAsync(catalogs, async (catalog, _) =>
            {
                try
                {
                    await catalog.CommitAsync(run.Id, entries);
                    return null;
                }
                catch (CatalogException e)
                {
                    return e.Message;
                }
            });

            // One commit wins; the other then reads the run it left and refuses the same sequence.
            Assert.Single(outcomes, o => o is null);
            Assert.Contains($"expected {done + 4}", Assert.Single(outcomes, o => o is not null), StringComparison.Ordinal);
        }

        var items = await catalogs[0].GetRunItemsAsync(run.Id);
        Assert.Equal(Enumerable.Range(0, 40).Select(i => (long)i), items.Select(i => i.Sequence));
        Assert.Equal(40, (await catalogs[0].GetStatsAsync()).Images);
    }

    [SkippableFact]
    public async Task Processes_ensuring_the_same_new_collection_at_once_get_the_same_one()
    {
        var catalogs = await OpenAsync();
        var collections = await AtOnceAsync(catalogs, (catalog, _) => catalog.EnsureCollectionAsync("shared", "consent", "FR"));
        Assert.Single(collections.Distinct());
        Assert.Single(await catalogs[1].ListCollectionsAsync());
    }

    [SkippableFact]
    public async Task The_first_faces_any_process_writes_fix_the_embedding_length_for_every_process()
    {
        // Both open an empty catalog, so neither knows the length when it opens.
        var catalogs = await OpenAsync(2);
        var collection = await catalogs[0].EnsureCollectionAsync("web", "consent", null);
        var outcomes = await AtOnceAsync(catalogs, async (catalog, i) =>
        {
            try
            {
                var random = new Random(i);
                var image = TestData.Image(collection.Id, random) with { Faces = [TestData.Face(random, i == 0 ? 512 : 256)] };
                await catalog.AddImagesAsync([image]);
                return null;
            }
            catch (CatalogException e)
            {
                return e.Message;
            }
        });

        // Whichever came first fixed the length; the other was refused, naming it.
        var winner = Array.IndexOf(outcomes, null);
        Assert.InRange(winner, 0, 1);
        Assert.Contains(winner == 0 ? "have 512 dimensions" : "have 256 dimensions", outcomes[1 - winner], StringComparison.Ordinal);
        Assert.Equal(1, (await catalogs[0].GetStatsAsync()).Faces);
    }
}
