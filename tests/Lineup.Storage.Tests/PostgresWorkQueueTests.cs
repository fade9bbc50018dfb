using Lineup.Core.Catalog;
using Lineup.Storage.Postgres;

namespace Lineup.Storage.Tests;

/// <summary>
/// The distributed ingest queue on a real PostgreSQL server, each catalog opened separately as a worker process would:
/// claims never overlap, a passed lease is taken over, a worker that lost an item cannot commit it, and the run
/// completes with its last item.
/// </summary>
public sealed class PostgresWorkQueueTests : IAsyncLifetime
{
    private static readonly TimeSpan s_lease = TimeSpan.FromSeconds(30);
    private readonly PostgresBackend _backend = new();
    private readonly Random _random = new(77);

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _backend.DisposeAsync();

    private async Task<(PostgresCatalog Catalog, IngestRun Run, Collection Collection)> QueueAsync(int items)
    {
        var catalog = await _backend.OpenAsync();
        var collection = await catalog.EnsureCollectionAsync("c", "test", "DE");
        var run = await catalog.StartRunAsync(collection.Id, "folder", "/photos");
        await catalog.EnqueueAsync(run.Id, [.. Enumerable.Range(0, items).Select(i => ((long)i, $"p{i}.jpg"))]);
        await catalog.SetRunTotalAsync(run.Id, items);
        return (catalog, run, collection);
    }

    private IngestEntry Entry(WorkClaim claim, Collection collection) =>
        new(claim.Sequence, claim.Name, IngestStatus.Ingested, Image: TestData.Image(collection.Id, _random, faces: 1));

    [SkippableFact]
    public async Task Concurrent_claims_from_separate_processes_never_take_the_same_item()
    {
        var (first, _, _) = await QueueAsync(200);
        await using var _1 = first;
        var others = await Task.WhenAll(Enumerable.Range(0, 3).Select(_ => _backend.OpenAsync()));
        var all = new[] { first }.Concat(others).ToArray();
        var claims = await Task.WhenAll(all.SelectMany((c, w) => Enumerable.Range(0, 5).Select(_ => c.ClaimAsync($"w{w}", 10, s_lease))));
        var sequences = claims.SelectMany(c => c).Select(c => c.Sequence).ToList();
        Assert.Equal(200, sequences.Count);
        Assert.Equal(200, sequences.Distinct().Count());
        Assert.Empty(await first.ClaimAsync("late", 10, s_lease));
        foreach (var other in others)
        {
            await other.DisposeAsync();
        }
    }

    [SkippableFact]
    public async Task A_passed_lease_is_taken_over_and_the_old_holder_can_no_longer_commit()
    {
        var (catalog, run, collection) = await QueueAsync(3);
        await using var _ = catalog;
        var dead = await catalog.ClaimAsync("dead", 3, TimeSpan.FromSeconds(1));
        Assert.Equal(3, dead.Count);
        Assert.Empty(await catalog.ClaimAsync("alive", 3, s_lease));

        await Task.Delay(TimeSpan.FromSeconds(1.5));
        var taken = await catalog.ClaimAsync("alive", 3, s_lease);
        Assert.Equal(dead.Select(c => c.Sequence), taken.Select(c => c.Sequence));
        Assert.All(taken, c => Assert.Equal(2, c.Attempts));

        // The dead worker comes back and tries to commit: nothing is written.
        var stale = await catalog.CommitClaimedAsync("dead", run.Id, [.. dead.Select(c => Entry(c, collection))]);
        Assert.All(stale, Assert.Null);
        Assert.Equal(0, (await catalog.GetStatsAsync()).Faces);

        var committed = await catalog.CommitClaimedAsync("alive", run.Id, [.. taken.Select(c => Entry(c, collection))]);
        Assert.All(committed, r => Assert.Equal(IngestStatus.Ingested, r!.Status));
        Assert.Equal(3, (await catalog.GetStatsAsync()).Faces);
        var finished = await catalog.GetRunAsync(run.Id);
        Assert.Equal(IngestRunStatus.Completed, finished!.Status);
        Assert.Equal(3, finished.ItemsDone);
        Assert.Equal(3, (await catalog.GetRunItemsAsync(run.Id)).Count);
    }

    [SkippableFact]
    public async Task Out_of_order_commits_by_two_workers_record_every_item_once_and_complete_the_run()
    {
        var (catalog, run, collection) = await QueueAsync(20);
        await using var _ = catalog;
        await using var other = await _backend.OpenAsync();
        await catalog.HeartbeatAsync("a", "host-a", s_lease);
        await other.HeartbeatAsync("b", "host-b", s_lease);
        var a = await catalog.ClaimAsync("a", 10, s_lease);
        var b = await other.ClaimAsync("b", 10, s_lease);
        await Task.WhenAll(
            other.CommitClaimedAsync("b", run.Id, [.. b.Reverse().Select(c => Entry(c, collection))]),
            catalog.CommitClaimedAsync("a", run.Id, [.. a.Select(c => Entry(c, collection))]));

        var items = await catalog.GetRunItemsAsync(run.Id);
        Assert.Equal(Enumerable.Range(0, 20).Select(i => (long)i), items.Select(i => i.Sequence));
        Assert.Equal(IngestRunStatus.Completed, (await catalog.GetRunAsync(run.Id))!.Status);
        var status = await catalog.GetWorkStatusAsync();
        Assert.Equal(20, Assert.Single(status.Runs).Done);
        Assert.Equal([10L, 10L], status.Workers.Select(w => w.ItemsDone).Order());
    }

    [SkippableFact]
    public async Task Heartbeats_renew_leases_and_a_clean_stop_gives_claims_back()
    {
        var (catalog, _, _) = await QueueAsync(4);
        await using var _ = catalog;
        var held = await catalog.ClaimAsync("w", 4, TimeSpan.FromSeconds(2));
        Assert.Equal(4, await catalog.HeartbeatAsync("w", "host-a", s_lease));
        await Task.Delay(TimeSpan.FromSeconds(2.5));
        Assert.Empty(await catalog.ClaimAsync("other", 4, s_lease));

        Assert.Equal(4, await catalog.ReleaseAsync("w"));
        Assert.Equal(held.Select(c => c.Sequence), (await catalog.ClaimAsync("other", 4, s_lease)).Select(c => c.Sequence));
        Assert.Equal("host-a", Assert.Single((await catalog.GetWorkStatusAsync()).Workers).Host);
    }

    [SkippableFact]
    public async Task Queueing_refuses_a_run_that_is_not_running_and_ignores_items_already_queued()
    {
        var (catalog, run, _) = await QueueAsync(2);
        await using var _ = catalog;
        await catalog.EnqueueAsync(run.Id, [(0, "p0.jpg"), (1, "p1.jpg"), (2, "p2.jpg")]);
        Assert.Equal(3, Assert.Single((await catalog.GetWorkStatusAsync()).Runs).Pending);

        await catalog.FinishRunAsync(run.Id, IngestRunStatus.Failed, "stopped");
        var ex = await Assert.ThrowsAsync<CatalogException>(() => catalog.EnqueueAsync(run.Id, [(3, "p3.jpg")]));
        Assert.Contains("failed", ex.Message, StringComparison.Ordinal);
        Assert.Empty(await catalog.ClaimAsync("w", 10, s_lease));
        await Assert.ThrowsAsync<CatalogException>(() => catalog.EnqueueAsync(999, [(0, "x")]));
    }
}
