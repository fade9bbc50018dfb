using Lineup.Core.Catalog;
using Lineup.Core.Oversight;
using Lineup.Storage.Postgres;

namespace Lineup.Storage.Tests;

/// <summary>The record of searches (<see cref="ISearchLog"/>) and the gallery version, on every catalog backend.</summary>
public abstract class SearchLogContract<TCatalog>(ICatalogBackend<TCatalog> backend) : IAsyncLifetime
    where TCatalog : class, ICatalog, ISearchLog, ICaseStore
{
    private static readonly DateTimeOffset s_start = DateTimeOffset.Parse("2025-06-07T08:09:10.1234567Z");

    protected ICatalogBackend<TCatalog> Backend { get; } = backend;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await Backend.DisposeAsync();

    /// <summary>One change to the gallery: an ingest batch of one image, which bumps the gallery version once.</summary>
    private static async Task ChangeGalleryAsync(TCatalog catalog, int seed)
    {
        var collection = await catalog.EnsureCollectionAsync("gallery", "test", null);
        await catalog.AddImagesAsync([TestData.Image(collection.Id, new Random(seed), faces: 1)]);
    }

    private static SearchRecord Search(DateTimeOffset at, string by, SearchOutcome outcome = SearchOutcome.Candidates) =>
        new(at, by, new string('a', 64), 2, 1, 71.25f, 40f, null, outcome, "k=10; threshold=0.42", TestData.Model, 1234, 3, 2, 12.75);

    [SkippableFact]
    public async Task A_search_is_read_back_with_its_probe_and_candidates()
    {
        await using var catalog = await Backend.OpenAsync();
        var opened = await catalog.OpenCaseAsync(new NewCase("S-1", "robbery", "p", "W", s_start.AddDays(30)), "sup");
        var search = Search(s_start, "ana") with
        {
            CaseId = opened.Id,
            CaseNumber = "s-1",
            ProbeSource = "cctv",
            QualityOverride = "only frame of the suspect",
            GalleryVersion = 7,
            Timings = "analyze=85.1; index=0.9; catalog=2.3",
        };
        StoredCandidate[] candidates =
        [
            new(1, 101, 11, 0.8125f, 1e-6, true),
            new(2, 202, 22, 0.5f, null, true),
            new(3, 303, 33, 0.1234567f, 0.25, false),
        ];
        byte[] probe = [0xFF, 0xD8, 0xFF, 0xE0, 0, 1, 2, 3, 0xFF, 0xD9];

        var id = await catalog.RecordSearchAsync(search, probe, candidates);

        Assert.True(id > 0);
        Assert.Equal(search with { Id = id }, await catalog.GetSearchAsync(id));
        Assert.Equal(candidates, await catalog.GetCandidatesAsync(id));
        Assert.Equal(probe, await catalog.GetProbeAsync(id));

        // A search without a probe or candidates (refused before analysis) keeps its nulls.
        var refused = new SearchRecord(s_start.AddMinutes(1), "bob", new string('b', 64), 0, null, null, 40f, null,
            SearchOutcome.RefusedIntake, "", TestData.Model, 0, 0, 0, 0.5) { CaseNumber = "S-404", Refusal = "unknown_case" };
        var refusedId = await catalog.RecordSearchAsync(refused);
        Assert.Equal(refused with { Id = refusedId }, await catalog.GetSearchAsync(refusedId));
        Assert.Empty(await catalog.GetCandidatesAsync(refusedId));
        Assert.Null(await catalog.GetProbeAsync(refusedId));
        Assert.Null(await catalog.GetSearchAsync(refusedId + 100));
    }

    [SkippableFact]
    public async Task Searches_are_listed_newest_first_and_by_case_oldest_first()
    {
        await using var catalog = await Backend.OpenAsync();
        var first = await catalog.OpenCaseAsync(new NewCase("S-1", "robbery", "p", "W", s_start.AddDays(30)), "sup");
        var second = await catalog.OpenCaseAsync(new NewCase("S-2", "fraud", "p", "W", s_start.AddDays(30)), "sup");
        var ids = new List<long>();
        for (var i = 0; i < 5; i++)
        {
            var inCase = i % 2 == 0 ? first : second;
            ids.Add(await catalog.RecordSearchAsync(Search(s_start.AddMinutes(i), $"user{i}") with { CaseId = inCase.Id, CaseNumber = inCase.Number }));
        }

        Assert.Equal(Enumerable.Reverse(ids), (await catalog.ListSearchesAsync()).Select(s => s.Id));
        Assert.Equal([ids[4], ids[3]], (await catalog.ListSearchesAsync(2)).Select(s => s.Id));
        Assert.Equal([ids[0], ids[2], ids[4]], (await catalog.ListCaseSearchesAsync(first.Id)).Select(s => s.Id));
        Assert.Equal(["user1", "user3"], (await catalog.ListCaseSearchesAsync(second.Id)).Select(s => s.By));
        Assert.Empty(await catalog.ListCaseSearchesAsync(second.Id + 100));
    }

    [SkippableFact]
    public async Task Every_outcome_round_trips()
    {
        await using var catalog = await Backend.OpenAsync();
        foreach (var outcome in Enum.GetValues<SearchOutcome>())
        {
            var id = await catalog.RecordSearchAsync(Search(s_start, "ana", outcome));
            Assert.Equal(outcome, (await catalog.GetSearchAsync(id))!.Outcome);
        }
    }

    [SkippableFact]
    public async Task The_gallery_version_starts_at_zero_and_each_change_bumps_it_once_even_from_two_catalogs_at_once()
    {
        await using var first = await Backend.OpenAsync();
        await using var second = await Backend.OpenAsync();
        Assert.Equal(0, await first.GalleryVersionAsync());

        await ChangeGalleryAsync(first, 1);
        Assert.Equal(1, await first.GalleryVersionAsync());
        Assert.Equal(1, await second.GalleryVersionAsync());

        // Read-modify-write by many writers at once: no bump may be lost.
        await Task.WhenAll(Enumerable.Range(2, 20).Select(seed => Task.Run(() => ChangeGalleryAsync(seed % 2 == 0 ? first : second, seed))));
        Assert.Equal(21, await second.GalleryVersionAsync());

        // The version a search reports is stored as given (the engine reads it before searching).
        var id = await first.RecordSearchAsync(Search(s_start, "ana") with { GalleryVersion = await first.GalleryVersionAsync() });
        Assert.Equal(21, (await second.GetSearchAsync(id))!.GalleryVersion);
    }
}

public sealed class SqliteSearchLogTests() : SearchLogContract<SqliteCatalog>(new SqliteBackend());

public sealed class PostgresSearchLogTests() : SearchLogContract<PostgresCatalog>(new PostgresBackend());
