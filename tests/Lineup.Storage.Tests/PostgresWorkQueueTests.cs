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
        await catalog.MarkIndexedAsync(run.Id, [.. taken.Select(c => c.Sequence)]);
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
        Assert.Equal(IngestRunStatus.Running, (await catalog.GetRunAsync(run.Id))!.Status);
        await Task.WhenAll(
            other.MarkIndexedAsync(run.Id, [.. b.Select(c => c.Sequence)]),
            catalog.MarkIndexedAsync(run.Id, [.. a.Select(c => c.Sequence)]));

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

    [SkippableFact]
    public async Task Items_that_stored_faces_stay_held_until_indexed_and_a_dead_workers_are_claimed_again_for_the_index_alone()
    {
        var (catalog, run, collection) = await QueueAsync(4);
        await using var _ = catalog;
        var claims = await catalog.ClaimAsync("dead", 4, TimeSpan.FromSeconds(1));
        Assert.All(claims, c => Assert.False(c.Committed));

        // Items 0 and 1 store a face; 2 finds none, 3 fails: only the first two wait for the index.
        IngestEntry[] entries =
        [
            Entry(claims[0], collection),
            Entry(claims[1], collection),
            new(claims[2].Sequence, claims[2].Name, IngestStatus.NoFace, Image: TestData.Image(collection.Id, _random, faces: 0)),
            new(claims[3].Sequence, claims[3].Name, IngestStatus.Failed, "p3.jpg: corrupt"),
        ];
        var results = await catalog.CommitClaimedAsync("dead", run.Id, entries);
        var status = Assert.Single((await catalog.GetWorkStatusAsync()).Runs);
        Assert.Equal((2L, 2L), (status.Done, status.Claimed));
        Assert.Equal(IngestRunStatus.Running, (await catalog.GetRunAsync(run.Id))!.Status);

        // The worker dies before its index add: after the lease, the two are claimed again, marked as committed, with
        // the image each stored, and nothing else is offered.
        await Task.Delay(TimeSpan.FromSeconds(1.5));
        var again = await catalog.ClaimAsync("alive", 10, s_lease);
        Assert.Equal([0L, 1L], again.Select(c => c.Sequence));
        Assert.All(again, c => Assert.True(c.Committed));
        Assert.Equal(results.Take(2).Select(r => r!.ImageId), again.Select(c => c.ImageId));
        Assert.Equal(2, await catalog.HeartbeatAsync("alive", "host", s_lease));

        // A clean stop hands them back still waiting for the index, at once claimable.
        Assert.Equal(2, await catalog.ReleaseAsync("alive"));
        var third = await catalog.ClaimAsync("third", 10, s_lease);
        Assert.Equal([0L, 1L], third.Select(c => c.Sequence));
        Assert.All(third, c => Assert.True(c.Committed));

        // Confirming completes the run; the catalog recorded each item once.
        await catalog.MarkIndexedAsync(run.Id, [.. third.Select(c => c.Sequence)]);
        Assert.Equal(IngestRunStatus.Completed, (await catalog.GetRunAsync(run.Id))!.Status);
        Assert.Equal(4, Assert.Single((await catalog.GetWorkStatusAsync()).Runs).Done);
        Assert.Equal(4, (await catalog.GetRunItemsAsync(run.Id)).Count);
        Assert.Equal(2, (await catalog.GetStatsAsync()).Faces);
    }

    public static TheoryData<double> LeasesOutOfRange => new() { -1, 0, 0.999, 3600.001, 86400 };

    [SkippableTheory]
    [MemberData(nameof(LeasesOutOfRange))]
    public async Task A_claim_with_a_lease_outside_one_second_to_one_hour_is_refused_and_claims_nothing(double seconds)
    {
        var (catalog, _, _) = await QueueAsync(3);
        await using var _ = catalog;
        var lease = TimeSpan.FromSeconds(seconds);

        var ex = await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => catalog.ClaimAsync("w", 3, lease));
        Assert.Equal("lease", ex.ParamName);
        Assert.Equal(lease, ex.ActualValue);
        Assert.Contains("between one second and one hour", ex.Message, StringComparison.Ordinal);

        // Nothing was claimed or recorded: every item is still pending, and a valid claim gets them all.
        var run = Assert.Single((await catalog.GetWorkStatusAsync()).Runs);
        Assert.Equal((3L, 0L, 0L, 0L), (run.Pending, run.Claimed, run.Expired, run.Done));
        Assert.Equal([0L, 1L, 2L], (await catalog.ClaimAsync("w", 3, s_lease)).Select(c => c.Sequence));
    }

    [SkippableTheory]
    [MemberData(nameof(LeasesOutOfRange))]
    public async Task A_heartbeat_with_a_lease_outside_one_second_to_one_hour_is_refused_and_renews_nothing(double seconds)
    {
        var (catalog, _, _) = await QueueAsync(2);
        await using var _ = catalog;
        var held = await catalog.ClaimAsync("w", 2, TimeSpan.FromSeconds(5));
        var before = (await catalog.GetWorkStatusAsync()).Workers;
        var lease = TimeSpan.FromSeconds(seconds);

        var ex = await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => catalog.HeartbeatAsync("w", "host-a", lease));
        Assert.Equal("lease", ex.ParamName);
        Assert.Equal(lease, ex.ActualValue);
        Assert.Contains("between one second and one hour", ex.Message, StringComparison.Ordinal);

        // No worker row was written by the refused heartbeat, and the claims' leases were not touched.
        Assert.Equal(before, (await catalog.GetWorkStatusAsync()).Workers);
        Assert.Empty(before);
        var leases = await LeasesAsync();
        Assert.Equal(held.Select(c => c.LeaseUntil.ToUnixTimeMilliseconds()), leases);
    }

    [SkippableFact]
    public async Task Leases_of_exactly_one_second_and_one_hour_are_accepted()
    {
        var (catalog, _, _) = await QueueAsync(2);
        await using var _ = catalog;
        Assert.Single(await catalog.ClaimAsync("short", 1, TimeSpan.FromSeconds(1)));
        Assert.Single(await catalog.ClaimAsync("long", 1, TimeSpan.FromHours(1)));
        Assert.Equal(1, await catalog.HeartbeatAsync("long", "host-a", TimeSpan.FromHours(1)));
        Assert.Equal(1, await catalog.HeartbeatAsync("short", "host-b", TimeSpan.FromSeconds(1)));
    }

    [SkippableTheory]
    [InlineData(0)]
    [InlineData(-5)]
    public async Task A_claim_of_fewer_than_one_item_is_refused_naming_the_count(int max)
    {
        var (catalog, _, _) = await QueueAsync(2);
        await using var _ = catalog;
        var ex = await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => catalog.ClaimAsync("w", max, s_lease));
        Assert.Equal("max", ex.ParamName);
        Assert.Equal(2, Assert.Single((await catalog.GetWorkStatusAsync()).Runs).Pending);
    }

    /// <summary>The lease ends of the claimed items in sequence order, as the database holds them (milliseconds).</summary>
    private async Task<long[]> LeasesAsync()
    {
        await using var connection = new Npgsql.NpgsqlConnection(await _backend.ConnectionStringAsync());
        await connection.OpenAsync();
        await using var command = new Npgsql.NpgsqlCommand(
            "SELECT floor(extract(epoch FROM lease_until) * 1000)::bigint FROM ingest_work WHERE state = 'claimed' ORDER BY seq", connection);
        await using var reader = await command.ExecuteReaderAsync();
        var leases = new List<long>();
        while (await reader.ReadAsync())
        {
            leases.Add(reader.GetInt64(0));
        }

        return [.. leases];
    }
}
