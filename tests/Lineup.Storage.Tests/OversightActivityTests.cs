using System.Globalization;
using Lineup.Core.Catalog;
using Lineup.Core.Oversight;
using Lineup.Storage.Postgres;

namespace Lineup.Storage.Tests;

public sealed class SqliteOversightActivityTests() : OversightActivityContract<SqliteCatalog>(new SqliteBackend());

public sealed class PostgresOversightActivityTests() : OversightActivityContract<PostgresCatalog>(new PostgresBackend());

/// <summary>
/// The catalog reads behind the supervisor view and the disclosure report (<see cref="ISearchActivityLog"/>), over
/// searches recorded directly (no models): a period's searches, the searches naming a case, candidate lists in bulk.
/// </summary>
public abstract class OversightActivityContract<TCatalog>(ICatalogBackend<TCatalog> backend) : IAsyncLifetime
    where TCatalog : class, ISearchActivityLog, ISearchLog, ICaseStore, IAsyncDisposable
{
    private static readonly DateTimeOffset s_start = DateTimeOffset.Parse("2025-06-02T09:00:00Z", CultureInfo.InvariantCulture);

    protected ICatalogBackend<TCatalog> Backend { get; } = backend;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await Backend.DisposeAsync();

    private Task<TCatalog> OpenAsync() => Backend.OpenAsync();

    private static SearchRecord Search(DateTimeOffset at, string by = "ana", CaseRecord? inCase = null, string? number = null) =>
        new(at, by, new string('b', 64), 1, 1, 80f, 40f, null, SearchOutcome.NoCandidateAboveThreshold, "top=10", TestData.Model, 100, 0, 0, 3.5)
        {
            CaseId = inCase?.Id,
            CaseNumber = number ?? inCase?.Number,
            ProbeSource = ProbeSources.CctvStill,
        };

    [SkippableFact]
    public async Task A_period_holds_the_searches_from_its_start_up_to_but_not_including_its_end_in_time_order()
    {
        await using var catalog = await OpenAsync();
        var ids = new Dictionary<int, long>();
        // Recorded out of time order: the period is by time, not by id.
        foreach (var hours in new[] { 5, -1, 0, 24, 3, 23 })
        {
            ids[hours] = await catalog.RecordSearchAsync(Search(s_start.AddHours(hours)));
        }

        var day = await catalog.ListSearchesBetweenAsync(s_start, s_start.AddHours(24));
        Assert.Equal(new[] { 0, 3, 5, 23 }.Select(h => ids[h]), day.Select(s => s.Id));
        Assert.Equal(day.Select(s => s.At).Order(), day.Select(s => s.At));
        Assert.Empty(await catalog.ListSearchesBetweenAsync(s_start.AddHours(6), s_start.AddHours(23)));
        Assert.Equal([ids[-1]], (await catalog.ListSearchesBetweenAsync(s_start.AddDays(-1), s_start)).Select(s => s.Id));
        await Assert.ThrowsAsync<ArgumentException>(() => catalog.ListSearchesBetweenAsync(s_start, s_start.AddHours(-1)));
    }

    [SkippableFact]
    public async Task A_case_is_named_by_its_id_and_by_its_number_when_searches_gave_it_before_the_case_existed()
    {
        await using var catalog = await OpenAsync();
        var early = await catalog.RecordSearchAsync(Search(s_start, number: "c-7") with { Outcome = SearchOutcome.RefusedIntake, Refusal = "unknown_case" });
        var other = await catalog.RecordSearchAsync(Search(s_start, number: "C-8") with { Outcome = SearchOutcome.RefusedIntake, Refusal = "unknown_case" });
        var none = await catalog.RecordSearchAsync(Search(s_start) with { Outcome = SearchOutcome.RefusedIntake, Refusal = "no_case" });
        var opened = await catalog.OpenCaseAsync(new NewCase("C-7", "robbery", "tests", "W-7", s_start.AddYears(1)), "tests");
        var second = await catalog.OpenCaseAsync(new NewCase("C-9", "robbery", "tests", "W-9", s_start.AddYears(1)), "tests");
        var mine = await catalog.RecordSearchAsync(Search(s_start.AddHours(1), inCase: opened));
        var lower = await catalog.RecordSearchAsync(Search(s_start.AddHours(2), inCase: opened, number: "c-7"));
        await catalog.RecordSearchAsync(Search(s_start.AddHours(3), inCase: second));

        Assert.Equal([early, mine, lower], (await catalog.ListSearchesNamingCaseAsync(opened.Id, opened.Number)).Select(s => s.Id));
        // ListCaseSearchesAsync knows the case by id only: the refusal that named it before it existed is not there.
        Assert.Equal([mine, lower], (await catalog.ListCaseSearchesAsync(opened.Id)).Select(s => s.Id));
        Assert.DoesNotContain(other, (await catalog.ListSearchesNamingCaseAsync(second.Id, second.Number)).Select(s => s.Id));
        Assert.DoesNotContain(none, (await catalog.ListSearchesNamingCaseAsync(second.Id, second.Number)).Select(s => s.Id));
    }

    [SkippableFact]
    public async Task Candidate_lists_of_many_searches_come_back_by_search_and_rank_and_can_be_cut_to_those_above_the_threshold()
    {
        await using var catalog = await OpenAsync();
        var lists = new Dictionary<long, List<StoredCandidate>>();
        for (var i = 0; i < 300; i++)
        {
            // Every third search returned nothing; the others 1–4 candidates, the first two above the threshold.
            var list = Enumerable.Range(1, i % 3 == 0 ? 0 : 1 + (i % 4))
                .Select(rank => new StoredCandidate(rank, (i * 10) + rank, 5000 + i, 0.8f - (0.1f * rank), 1e-5 * rank, rank <= 2))
                .ToList();
            var id = await catalog.RecordSearchAsync(
                Search(s_start.AddMinutes(i)) with { Candidates = list.Count, AboveThreshold = list.Count(c => c.AboveThreshold) },
                ReadOnlyMemory<byte>.Empty, list);
            lists[id] = list;
        }

        var all = await catalog.GetCandidatesOfAsync(lists.Keys.ToList());
        Assert.Equal(lists.Where(l => l.Value.Count > 0).Select(l => l.Key).Order(), all.Keys.Order());
        foreach (var (id, list) in all)
        {
            Assert.Equal(lists[id], list);
        }

        var above = await catalog.GetCandidatesOfAsync(lists.Keys.ToList(), aboveThresholdOnly: true);
        foreach (var (id, list) in above)
        {
            Assert.Equal(lists[id].Where(c => c.AboveThreshold), list);
        }

        Assert.Empty(await catalog.GetCandidatesOfAsync([]));
        Assert.Empty(await catalog.GetCandidatesOfAsync([999_999]));
    }
}
