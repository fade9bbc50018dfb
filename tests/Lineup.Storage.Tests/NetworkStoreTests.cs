using System.Data.Common;
using Lineup.Core.Audit;
using Lineup.Core.Catalog;
using Lineup.Core.Faces;
using Lineup.Core.Indexing;
using Lineup.Core.Network;
using Lineup.Storage.Postgres;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Time.Testing;
using Npgsql;

namespace Lineup.Storage.Tests;

/// <summary>
/// The identity partition, neighbour graph, corrections and co-appearance queries of a real catalog (schema 10), with
/// their audit events, and erasure taking an erased face out of all of them; run against SQLite and PostgreSQL.
/// </summary>
public abstract class NetworkStoreContract<TCatalog>(ICatalogBackend<TCatalog> backend) : IAsyncLifetime
    where TCatalog : class, ICatalog, INetworkStore, IAuditLog, IErasure
{
    private static readonly DateTimeOffset s_start = DateTimeOffset.Parse("2025-06-01T08:00:00.0000000Z");

    private readonly FakeTimeProvider _clock = new(s_start);
    private readonly Random _random = new(7);

    protected ICatalogBackend<TCatalog> Backend { get; } = backend;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await Backend.DisposeAsync();

    /// <summary>The schema version the catalog reports (not part of the catalog interfaces).</summary>
    protected abstract long SchemaVersionOf(TCatalog catalog);

    /// <summary>The names of the store's tables and triggers.</summary>
    protected abstract Task<IReadOnlySet<string>> TablesAndTriggersAsync();

    /// <summary>Deletes a face row behind the catalog's back, with as little of the foreign keys' help as the backend allows.</summary>
    protected abstract Task DeleteFaceBehindTheCatalogAsync(long faceId);

    /// <summary>
    /// An erasure in flight: the face deleted on a connection of its own, in a transaction left open until
    /// <see cref="UncommittedDelete.CommitWhenWaitedForAsync"/>.
    /// </summary>
    protected abstract Task<UncommittedDelete> DeleteFaceUncommittedAsync(long faceId);

    private Task<TCatalog> OpenAsync(string model = TestData.Model) => Backend.OpenAsync(_clock, model);

    [SkippableFact]
    public async Task Migration_10_adds_the_network_tables_and_a_new_catalog_has_no_identities()
    {
        await using var catalog = await OpenAsync();
        Assert.Equal("identities and the face graph", Migrations.All.Single(m => m.Version == 10).Description);
        Assert.Equal(Migrations.LatestVersion, SchemaVersionOf(catalog));

        var names = await TablesAndTriggersAsync();
        Assert.Subset(
            names.ToHashSet(),
            new HashSet<string> { "identities", "face_identities", "face_neighbours", "identity_corrections", "clustering_state", "faces_leave_network", "face_identities_drop_empty" });
        Assert.Null(await catalog.GetClusteringStateAsync());
        Assert.Empty(await catalog.ListIdentitiesAsync(0, 100, 0));
        Assert.Empty(await catalog.ReadAssignmentsAsync());
        Assert.Empty(await catalog.ReadNeighbourListsAsync());
        Assert.Empty(await catalog.GetCoAppearancesAsync(null, 5));
    }

    [SkippableFact]
    public async Task Clusterable_faces_are_those_of_the_catalogs_model_with_their_quality_in_id_order()
    {
        long other;
        await using (var foreign = await OpenAsync("other-model"))
        {
            var collection = await foreign.EnsureCollectionAsync("c", "basis", null);
            other = (await foreign.AddImagesAsync([TestData.Image(collection.Id, _random, faces: 1)]))[0].FaceIds[0];
        }

        await using var catalog = await OpenAsync();
        var col = await catalog.EnsureCollectionAsync("c", "basis", null);
        var good = TestData.Face(_random) with { Quality = Quality(61.5f) };
        var stored = await catalog.AddImagesAsync([TestData.Image(col.Id, _random, faces: 0) with { Faces = [good, TestData.Face(_random)] }]);
        var faces = await catalog.ListClusterableFacesAsync();
        Assert.Equal([new ClusterableFace(stored[0].FaceIds[0], 61.5f), new ClusterableFace(stored[0].FaceIds[1], null)], faces);
        Assert.DoesNotContain(faces, f => f.FaceId == other);
    }

    [SkippableFact]
    public async Task Neighbour_lists_round_trip_in_rank_order_and_skip_faces_that_no_longer_exist()
    {
        await using var catalog = await OpenAsync();
        var faces = await AddImagesAsync(catalog, Page(null), Page(null), Page(null));
        var (a, b, c, d) = (faces[0][0], faces[0][1], faces[1][0], faces[1][1]);
        const long Missing = 999_999;
        await catalog.WriteNeighbourListsAsync(
            new Dictionary<long, VectorHit[]>
            {
                [a] = [new(b, 0.9f), new(Missing, 0.8f), new(c, 0.5f)],
                [b] = [new(a, 0.9f)],
                [Missing] = [new(a, 0.7f)],
            },
            replaceAll: true);

        var read = await catalog.ReadNeighbourListsAsync();
        Assert.Equal([a, b], read.Keys.Order());
        Assert.Equal([new VectorHit(b, 0.9f), new VectorHit(c, 0.5f)], read[a]);
        Assert.Equal([new VectorHit(a, 0.9f)], read[b]);

        // A partial write replaces only the lists it names; replacing all drops the others.
        await catalog.WriteNeighbourListsAsync(new Dictionary<long, VectorHit[]> { [b] = [new(d, 0.4f), new(c, 0.3f)], [c] = [new(d, 0.6f)] }, replaceAll: false);
        read = await catalog.ReadNeighbourListsAsync();
        Assert.Equal([a, b, c], read.Keys.Order());
        Assert.Equal([new VectorHit(b, 0.9f), new VectorHit(c, 0.5f)], read[a]);
        Assert.Equal([new VectorHit(d, 0.4f), new VectorHit(c, 0.3f)], read[b]);

        await catalog.WriteNeighbourListsAsync(new Dictionary<long, VectorHit[]> { [d] = [new(a, 0.2f)] }, replaceAll: true);
        read = await catalog.ReadNeighbourListsAsync();
        Assert.Equal([d], read.Keys);

        await Assert.ThrowsAsync<ArgumentException>(() => catalog.WriteNeighbourListsAsync(new Dictionary<long, VectorHit[]> { [a] = [new(b, float.NaN)] }, false));
        Assert.Equal([d], (await catalog.ReadNeighbourListsAsync()).Keys);
    }

    [SkippableFact]
    public async Task Applying_a_partition_keeps_ids_stable_reuses_the_majority_identity_removes_emptied_ones_and_is_audited()
    {
        await using var catalog = await OpenAsync();
        var f = (await AddImagesAsync(catalog, Page(null, 2), Page(null, 2), Page(null, 2))).SelectMany(x => x).ToArray();

        var first = await catalog.ApplyPartitionAsync(Partition([f[0], f[1], f[2]], [f[3], f[4]], [f[5]]), ClusteringParameters.Default, f[5], full: true, "clusterer");
        Assert.Equal(new PartitionChange(3, 6, 0, 3, 0, 1), first);
        var assignments = (await catalog.ReadAssignmentsAsync()).ToDictionary(x => x.FaceId);
        var (p, q, r) = (assignments[f[0]].IdentityId, assignments[f[3]].IdentityId, assignments[f[5]].IdentityId);
        Assert.Equal(3, new[] { p, q, r }.Distinct().Count());
        Assert.All(assignments.Values, x => Assert.False(x.Locked));
        var state = (await catalog.GetClusteringStateAsync())!;
        Assert.Equal((TestData.Model, f[5], 1L, 3, 6), (state.ModelId, state.ClusteredThroughFaceId, state.Version, state.Identities, state.Faces));
        Assert.Equal(ClusteringParameters.Default, state.Parameters);

        // The same partition under other cluster keys changes nothing but the version.
        _clock.Advance(TimeSpan.FromMinutes(1));
        var again = await catalog.ApplyPartitionAsync(
            [(f[0], 70), (f[1], 70), (f[2], 70), (f[3], 20), (f[4], 20), (f[5], 5)], ClusteringParameters.Default with { Neighbours = 10 }, f[5], full: false, "clusterer");
        Assert.Equal(new PartitionChange(3, 6, 0, 0, 0, 2), again);
        Assert.Equal(assignments.Values.OrderBy(x => x.FaceId), (await catalog.ReadAssignmentsAsync()).OrderBy(x => x.FaceId));
        Assert.Equal(s_start, (await catalog.GetIdentityAsync(p))!.UpdatedAt);
        Assert.Equal(10, (await catalog.GetClusteringStateAsync())!.Parameters.Neighbours);

        // f[2] joins the cluster of f[3], f[4]: that cluster (3 faces, 2 of them q's) keeps q, p keeps its other two.
        var moved = await catalog.ApplyPartitionAsync(Partition([f[0], f[1]], [f[2], f[3], f[4]], [f[5]]), ClusteringParameters.Default, f[5], full: false, "clusterer");
        Assert.Equal(new PartitionChange(3, 6, 1, 0, 0, 3), moved);
        Assert.Equal(q, await catalog.FindIdentityOfFaceAsync(f[2]));
        Assert.Equal(p, await catalog.FindIdentityOfFaceAsync(f[0]));

        // One cluster of everything: it keeps the identity holding most of its faces (q, 3 faces); p and r go.
        var merged = await catalog.ApplyPartitionAsync(Partition([f[0], f[1], f[2], f[3], f[4], f[5]]), ClusteringParameters.Default, f[5], full: true, "clusterer");
        Assert.Equal(new PartitionChange(1, 6, 3, 0, 2, 4), merged);
        Assert.Null(await catalog.GetIdentityAsync(p));
        Assert.Null(await catalog.GetIdentityAsync(r));
        Assert.Equal(6, (await catalog.GetIdentityAsync(q))!.Faces);

        // Splitting it again: the larger cluster keeps q, the other is a new identity (ids are never reused).
        var split = await catalog.ApplyPartitionAsync(Partition([f[0], f[1]], [f[2], f[3], f[4], f[5]]), ClusteringParameters.Default, f[5], full: true, "clusterer");
        Assert.Equal(new PartitionChange(2, 6, 2, 1, 0, 5), split);
        var fresh = (await catalog.FindIdentityOfFaceAsync(f[0]))!.Value;
        Assert.True(fresh > r);
        Assert.Equal(q, await catalog.FindIdentityOfFaceAsync(f[5]));

        // A face the partition leaves out is no longer clustered.
        var partial = await catalog.ApplyPartitionAsync(Partition([f[2], f[3], f[4], f[5]]), ClusteringParameters.Default, f[5], full: false, "clusterer");
        Assert.Equal(new PartitionChange(1, 4, 0, 0, 1, 6), partial);
        Assert.Null(await catalog.FindIdentityOfFaceAsync(f[0]));
        Assert.Null(await catalog.GetIdentityAsync(fresh));

        var events = (await catalog.ReadEventsAsync(1, 100)).Where(e => e.Action == NetworkActions.Cluster).ToList();
        Assert.Equal(6, events.Count);
        Assert.All(events, e => Assert.Equal(("clusterer", "identities"), (e.Actor, e.Subject)));
        Assert.Equal(
            ["full", "incremental", "incremental", "full", "full", "incremental"],
            events.Select(e => e.Details["mode"]?.Text));
        Assert.Equal([3L, 3, 3, 1, 2, 1], events.Select(e => e.Details["identities"]?.Integer));
        Assert.Equal([0L, 0, 1, 3, 2, 0], events.Select(e => e.Details["moved"]?.Integer));
        Assert.Equal([6L, 6, 6, 6, 6, 4], events.Select(e => e.Details["faces"]?.Integer));
        Assert.True((await catalog.VerifyAsync(null)).IsIntact);
    }

    [SkippableFact]
    public async Task Fixed_faces_keep_their_identity_through_re_clustering_and_a_partition_mixing_two_fixed_identities_is_refused()
    {
        await using var catalog = await OpenAsync();
        var f = (await AddImagesAsync(catalog, Page(null, 2), Page(null, 2), Page(null, 2))).SelectMany(x => x).ToArray();
        await catalog.ApplyPartitionAsync(Partition([f[0]], [f[1], f[2], f[3]], [f[4], f[5]]), ClusteringParameters.Default, f[5], true, "clusterer");
        var ids = (await catalog.ReadAssignmentsAsync()).ToDictionary(x => x.FaceId, x => x.IdentityId);
        var (solo, big, pair) = (ids[f[0]], ids[f[1]], ids[f[4]]);
        await catalog.NameIdentityAsync(solo, "Subject A", "ana");

        // The cluster now holds f[0] (fixed to solo) and the whole of big: it stays solo, fixed face or not in the majority.
        var change = await catalog.ApplyPartitionAsync(Partition([f[0], f[1], f[2], f[3]], [f[4], f[5]]), ClusteringParameters.Default, f[5], false, "clusterer");
        Assert.Equal((2, 3, 1), (change.Identities, change.FacesMoved, change.IdentitiesRemoved));
        var after = (await catalog.ReadAssignmentsAsync()).ToDictionary(x => x.FaceId);
        Assert.All(new[] { f[0], f[1], f[2], f[3] }, face => Assert.Equal(solo, after[face].IdentityId));
        Assert.True(after[f[0]].Locked);
        Assert.False(after[f[1]].Locked);
        Assert.Equal("Subject A", (await catalog.GetIdentityAsync(solo))!.Name);
        Assert.Null(await catalog.GetIdentityAsync(big));

        // Fix pair too, then a partition putting faces of both fixed identities in one cluster is refused whole.
        await catalog.NameIdentityAsync(pair, null, "ana");
        var fixedBoth = await catalog.ReadAssignmentsAsync();
        Assert.Equal(3, fixedBoth.Count(x => x.Locked));
        var version = (await catalog.GetClusteringStateAsync())!.Version;
        var size = (await catalog.TreeHeadAsync()).TreeSize;
        await Assert.ThrowsAsync<CatalogException>(() => catalog.ApplyPartitionAsync(Partition(f), ClusteringParameters.Default, f[5], true, "clusterer"));
        await Assert.ThrowsAsync<CatalogException>(() => catalog.ApplyPartitionAsync(
            Partition([f[0], f[1], f[2], f[3]], [f[4]], [f[5]]), ClusteringParameters.Default, f[5], true, "clusterer"));
        Assert.Equal(version, (await catalog.GetClusteringStateAsync())!.Version);
        Assert.Equal(size, (await catalog.TreeHeadAsync()).TreeSize);
        Assert.Equal(fixedBoth.OrderBy(x => x.FaceId), (await catalog.ReadAssignmentsAsync()).OrderBy(x => x.FaceId));
        await Assert.ThrowsAsync<ArgumentException>(() => catalog.ApplyPartitionAsync([(f[0], 1), (f[0], 2)], ClusteringParameters.Default, f[5], true, "clusterer"));
    }

    [SkippableFact]
    public async Task Merging_moves_every_face_fixed_into_the_first_identity_takes_the_name_and_is_recorded_and_audited()
    {
        await using var catalog = await OpenAsync();
        var (f, ids) = await ClusteredAsync(catalog);
        var (a, b) = (ids[0], ids[1]);
        await catalog.NameIdentityAsync(b, "Jane Roe", "ana");
        _clock.Advance(TimeSpan.FromMinutes(2));

        var merged = await catalog.MergeIdentitiesAsync(a, b, "same tattoo", "ana");
        Assert.Equal((a, "Jane Roe", 4, 2, true), (merged.Id, merged.Name, merged.Faces, merged.Images, merged.Locked));
        Assert.Null(await catalog.GetIdentityAsync(b));
        Assert.All(await catalog.GetIdentityFacesAsync(a), x => Assert.True(x.Locked));
        Assert.Equal(s_start.AddMinutes(2), merged.UpdatedAt);

        var correction = (await catalog.ListCorrectionsAsync())[^1];
        Assert.Equal((CorrectionKind.Merge, a, (long?)b, "same tattoo", "ana"), (correction.Kind, correction.IdentityId, correction.OtherIdentityId, correction.Reason, correction.By));
        Assert.Equal([f[2], f[3]], correction.FaceIds);

        var audit = (await catalog.ReadEventsAsync(1, 100))[^1];
        Assert.Equal(("ana", NetworkActions.Correct, $"identity:{a}"), (audit.Actor, audit.Action, audit.Subject));
        Assert.Equal("merge", audit.Details["kind"]?.Text);
        Assert.Equal(b, audit.Details["other"]?.Integer);
        Assert.Equal(2, audit.Details["faces"]?.Integer);
        Assert.Equal("same tattoo", audit.Details["reason"]?.Text);
        Assert.True(audit.Details["named"]?.Boolean);
        Assert.DoesNotContain("Jane", audit.ToString(), StringComparison.Ordinal);
        Assert.Equal(3, (await catalog.GetClusteringStateAsync())!.Version);

        // Refusals write nothing and log nothing.
        var size = (await catalog.TreeHeadAsync()).TreeSize;
        await Assert.ThrowsAsync<ArgumentException>(() => catalog.MergeIdentitiesAsync(a, a, null, "ana"));
        var missing = await Assert.ThrowsAsync<NetworkNotFoundException>(() => catalog.MergeIdentitiesAsync(a, 4242, null, "ana"));
        Assert.Contains("4242", missing.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<NetworkNotFoundException>(() => catalog.MergeIdentitiesAsync(4242, ids[2], null, "ana"));
        await Assert.ThrowsAsync<ArgumentException>(() => catalog.MergeIdentitiesAsync(a, ids[2], "bad\u0001reason", "ana"));
        Assert.Equal(size, (await catalog.TreeHeadAsync()).TreeSize);
        Assert.NotNull(await catalog.GetIdentityAsync(ids[2]));
        Assert.Equal(2, (await catalog.ListCorrectionsAsync()).Count);
    }

    [SkippableFact]
    public async Task Splitting_fixes_the_named_faces_to_a_new_identity_and_the_rest_to_the_old_and_refuses_bad_face_lists()
    {
        await using var catalog = await OpenAsync();
        var (f, ids) = await ClusteredAsync(catalog);
        await catalog.MergeIdentitiesAsync(ids[0], ids[1], null, "ana");
        var size = (await catalog.TreeHeadAsync()).TreeSize;
        var corrections = (await catalog.ListCorrectionsAsync()).Count;

        var refusals = new (IReadOnlyList<long> Faces, string Named)[]
        {
            ([], "at least one"),
            ([f[0], f[0]], $"Face {f[0]}"),
            ([f[0], f[4]], $"Face {f[4]}"),
            ([f[0], 31337], "Face 31337"),
            ([f[0], f[1], f[2], f[3]], "every face"),
        };
        foreach (var (faces, named) in refusals)
        {
            var e = await Assert.ThrowsAsync<ArgumentException>(() => catalog.SplitIdentityAsync(ids[0], faces, null, "ana"));
            Assert.Contains(named, e.Message, StringComparison.Ordinal);
        }

        await Assert.ThrowsAsync<NetworkNotFoundException>(() => catalog.SplitIdentityAsync(ids[1], [f[2]], null, "ana"));
        Assert.Equal(size, (await catalog.TreeHeadAsync()).TreeSize);
        Assert.Equal(corrections, (await catalog.ListCorrectionsAsync()).Count);
        Assert.Equal(4, (await catalog.GetIdentityAsync(ids[0]))!.Faces);

        var created = await catalog.SplitIdentityAsync(ids[0], [f[3], f[1]], "two people", "ana");
        Assert.True(created.Id > ids[2]);
        Assert.Equal((2, 2, true), (created.Faces, created.Images, created.Locked));
        Assert.Equal([f[1], f[3]], (await catalog.GetIdentityFacesAsync(created.Id)).Select(x => x.FaceId).Order());
        var rest = await catalog.GetIdentityFacesAsync(ids[0]);
        Assert.Equal([f[0], f[2]], rest.Select(x => x.FaceId).Order());
        Assert.All(rest, x => Assert.True(x.Locked));

        var correction = (await catalog.ListCorrectionsAsync())[^1];
        Assert.Equal((CorrectionKind.Split, ids[0], (long?)created.Id), (correction.Kind, correction.IdentityId, correction.OtherIdentityId));
        Assert.Equal([f[3], f[1]], correction.FaceIds);
        var audit = (await catalog.ReadEventsAsync(1, 100))[^1];
        Assert.Equal(($"identity:{ids[0]}", "split", 2L, created.Id), (audit.Subject, audit.Details["kind"]?.Text, audit.Details["faces"]?.Integer, audit.Details["other"]?.Integer));

        // Both identities are fixed now: a re-clustering that would put them back together is refused.
        await Assert.ThrowsAsync<CatalogException>(() => catalog.ApplyPartitionAsync(Partition(f), ClusteringParameters.Default, f[^1], true, "clusterer"));
    }

    [SkippableFact]
    public async Task Moving_a_face_fixes_it_and_its_new_identity_and_removes_an_identity_it_leaves_empty()
    {
        await using var catalog = await OpenAsync();
        var (f, ids) = await ClusteredAsync(catalog);
        var singleton = ids[2];
        Assert.Equal(1, (await catalog.GetIdentityAsync(singleton))!.Faces);

        var moved = await catalog.MoveFaceAsync(f[4], ids[0], "misfiled", "bo");
        Assert.Equal((ids[0], 3, true), (moved.Id, moved.Faces, moved.Locked));
        Assert.All(await catalog.GetIdentityFacesAsync(ids[0]), x => Assert.True(x.Locked));
        Assert.Null(await catalog.GetIdentityAsync(singleton));
        Assert.Equal(ids[0], await catalog.FindIdentityOfFaceAsync(f[4]));
        Assert.False((await catalog.GetIdentityAsync(ids[1]))!.Locked);

        var correction = (await catalog.ListCorrectionsAsync())[^1];
        Assert.Equal((CorrectionKind.Move, ids[0], (long?)singleton, "misfiled"), (correction.Kind, correction.IdentityId, correction.OtherIdentityId, correction.Reason));
        Assert.Equal([f[4]], correction.FaceIds);
        var audit = (await catalog.ReadEventsAsync(1, 100))[^1];
        Assert.Equal(($"identity:{ids[0]}", "move", 1L, singleton), (audit.Subject, audit.Details["kind"]?.Text, audit.Details["faces"]?.Integer, audit.Details["other"]?.Integer));

        var unclustered = (await AddImagesAsync(catalog, Page(null, 1)))[0][0];
        var size = (await catalog.TreeHeadAsync()).TreeSize;
        await Assert.ThrowsAsync<NetworkNotFoundException>(() => catalog.MoveFaceAsync(f[4], 4242, null, "bo"));
        var missing = await Assert.ThrowsAsync<NetworkNotFoundException>(() => catalog.MoveFaceAsync(98765, ids[0], null, "bo"));
        Assert.Contains("98765", missing.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<NetworkNotFoundException>(() => catalog.MoveFaceAsync(unclustered, ids[0], null, "bo"));
        Assert.Equal(size, (await catalog.TreeHeadAsync()).TreeSize);
        Assert.Single(await catalog.ListCorrectionsAsync());
    }

    [SkippableFact]
    public async Task Naming_trims_clears_and_fixes_the_faces_refuses_long_or_control_character_names_and_never_audits_the_name()
    {
        await using var catalog = await OpenAsync();
        var (_, ids) = await ClusteredAsync(catalog);
        var named = await catalog.NameIdentityAsync(ids[1], "  Richard Roe  ", "cy");
        Assert.Equal(("Richard Roe", true), (named.Name, named.Locked));
        Assert.All(await catalog.GetIdentityFacesAsync(ids[1]), x => Assert.True(x.Locked));
        Assert.False((await catalog.GetIdentityAsync(ids[0]))!.Locked);

        var size = (await catalog.TreeHeadAsync()).TreeSize;
        await Assert.ThrowsAsync<ArgumentException>(() => catalog.NameIdentityAsync(ids[1], new string('x', SqliteCatalog.MaxIdentityNameLength + 1), "cy"));
        await Assert.ThrowsAsync<ArgumentException>(() => catalog.NameIdentityAsync(ids[1], "Tab\there", "cy"));
        await Assert.ThrowsAsync<ArgumentException>(() => catalog.NameIdentityAsync(ids[1], "Line\nbreak", "cy"));
        await Assert.ThrowsAsync<NetworkNotFoundException>(() => catalog.NameIdentityAsync(4242, "X", "cy"));
        Assert.Equal(size, (await catalog.TreeHeadAsync()).TreeSize);
        Assert.Equal("Richard Roe", (await catalog.GetIdentityAsync(ids[1]))!.Name);

        Assert.Equal(new string('y', SqliteCatalog.MaxIdentityNameLength), (await catalog.NameIdentityAsync(ids[1], new string('y', SqliteCatalog.MaxIdentityNameLength), "cy")).Name);
        var cleared = await catalog.NameIdentityAsync(ids[1], "   ", "cy");
        Assert.Null(cleared.Name);
        Assert.True(cleared.Locked);

        var corrections = await catalog.ListCorrectionsAsync();
        Assert.Equal(["Richard Roe", new string('y', SqliteCatalog.MaxIdentityNameLength), null], corrections.Select(c => c.Name));
        Assert.All(corrections, c => Assert.Equal(CorrectionKind.Name, c.Kind));
        var audits = (await catalog.ReadEventsAsync(1, 100)).Where(e => e.Action == NetworkActions.Correct).ToList();
        Assert.Equal([true, true, false], audits.Select(e => e.Details["named"]?.Boolean));
        Assert.All(audits, e => Assert.DoesNotContain("Roe", e.ToString(), StringComparison.Ordinal));
        Assert.All(audits, e => Assert.DoesNotContain("yyyy", e.ToString(), StringComparison.Ordinal));
    }

    [SkippableFact]
    public async Task Identity_records_count_faces_and_images_pick_the_best_face_as_cover_and_list_the_largest_first()
    {
        await using var catalog = await OpenAsync();
        var col = await catalog.EnsureCollectionAsync("c", "basis", null);
        var stored = await catalog.AddImagesAsync(
        [
            TestData.Image(col.Id, _random, 0) with { Faces = [Scored(null), Scored(40)] },
            TestData.Image(col.Id, _random, 0) with { Faces = [Scored(80), Scored(null)] },
            TestData.Image(col.Id, _random, 0) with { Faces = [Scored(null)] },
        ]);
        var f = stored.SelectMany(s => s.FaceIds).ToArray();
        await catalog.ApplyPartitionAsync(Partition([f[0], f[1], f[2]], [f[3], f[4]]), ClusteringParameters.Default, f[^1], true, "clusterer");
        var big = (await catalog.FindIdentityOfFaceAsync(f[0]))!.Value;
        var small = (await catalog.FindIdentityOfFaceAsync(f[3]))!.Value;

        var record = (await catalog.GetIdentityAsync(big))!;
        Assert.Equal((3, 2, false, (long?)f[2], (string?)null), (record.Faces, record.Images, record.Locked, record.CoverFaceId, record.Name));
        Assert.Equal([f[2], f[1], f[0]], (await catalog.GetIdentityFacesAsync(big)).Select(x => x.FaceId));
        Assert.Equal([80f, 40f, null], (await catalog.GetIdentityFacesAsync(big)).Select(x => x.Quality));
        Assert.Equal(f[3], (await catalog.GetIdentityAsync(small))!.CoverFaceId);

        Assert.Equal([big, small], (await catalog.ListIdentitiesAsync(1, 10, 0)).Select(i => i.Id));
        Assert.Equal([big], (await catalog.ListIdentitiesAsync(3, 10, 0)).Select(i => i.Id));
        Assert.Equal([small], (await catalog.ListIdentitiesAsync(1, 10, 1)).Select(i => i.Id));
        Assert.Equal([big, small], (await catalog.GetIdentitiesAsync([small, 4242, big])).Select(i => i.Id).Order());
        Assert.Empty(await catalog.GetIdentityFacesAsync(4242));
        Assert.Null(await catalog.FindIdentityOfFaceAsync(4242));
    }

    [SkippableFact]
    public async Task Identities_in_one_photo_are_a_photo_edge_with_that_photo_as_evidence()
    {
        await using var catalog = await OpenAsync();
        var captured = s_start.AddDays(-30);
        var col = await catalog.EnsureCollectionAsync("c", "basis", null);
        var stored = await catalog.AddImagesAsync(
        [
            TestData.Image(col.Id, _random, 2, new Provenance("https://x.example/1.jpg", "https://x.example/p1", captured)),
            TestData.Image(col.Id, _random, 1, new Provenance("https://x.example/2.jpg", null)),
        ]);
        var (a, b, c) = (stored[0].FaceIds[0], stored[0].FaceIds[1], stored[1].FaceIds[0]);
        await catalog.ApplyPartitionAsync(Partition([a], [b], [c]), ClusteringParameters.Default, c, true, "clusterer");
        var (ia, ib) = ((await catalog.FindIdentityOfFaceAsync(a))!.Value, (await catalog.FindIdentityOfFaceAsync(b))!.Value);

        var edge = Assert.Single(await catalog.GetCoAppearancesAsync(null, 5));
        Assert.Equal((ia, ib, 1, 0, 1.0), (edge.A, edge.B, edge.Photos, edge.Pages, edge.Weight));
        Assert.Equal(new CoAppearanceEvidence(CoAppearanceKind.Photo, stored[0].ImageId, stored[0].ImageId, a, b, "https://x.example/p1", captured), Assert.Single(edge.Evidence));
    }

    [SkippableFact]
    public async Task Identities_on_one_page_in_different_photos_are_a_page_edge_unless_they_share_a_photo_there()
    {
        await using var catalog = await OpenAsync();
        var col = await catalog.EnsureCollectionAsync("c", "basis", null);
        const string Shared = "https://news.example/story";
        const string Both = "https://news.example/both";
        var stored = await catalog.AddImagesAsync(
        [
            TestData.Image(col.Id, _random, 1, new Provenance("https://n.example/1.jpg", Shared, OtherPageUrls: ["https://news.example/z"])),
            TestData.Image(col.Id, _random, 1, new Provenance("https://n.example/2.jpg", "https://news.example/other", OtherPageUrls: [Shared, "https://news.example/z"])),
            TestData.Image(col.Id, _random, 2, new Provenance("https://n.example/3.jpg", Both)),
            TestData.Image(col.Id, _random, 1, new Provenance("https://n.example/4.jpg", Both)),
            TestData.Image(col.Id, _random, 1, new Provenance("https://n.example/5.jpg", "https://elsewhere.example/")),
        ]);
        var (x, y) = (stored[0].FaceIds[0], stored[1].FaceIds[0]);
        var (p, q, q2) = (stored[2].FaceIds[0], stored[2].FaceIds[1], stored[3].FaceIds[0]);
        var alone = stored[4].FaceIds[0];
        await catalog.ApplyPartitionAsync(Partition([x], [y], [p], [q, q2], [alone]), ClusteringParameters.Default, alone, true, "clusterer");
        var id = new Dictionary<long, long>();
        foreach (var face in new[] { x, y, p, q, alone })
        {
            id[face] = (await catalog.FindIdentityOfFaceAsync(face))!.Value;
        }

        var edges = await catalog.GetCoAppearancesAsync(null, 5);
        var pageEdge = Assert.Single(edges, e => e.A == id[x] && e.B == id[y]);
        Assert.Equal((0, 2, 1.0), (pageEdge.Photos, pageEdge.Pages, pageEdge.Weight));
        Assert.Equal(
            [
                new CoAppearanceEvidence(CoAppearanceKind.Page, stored[0].ImageId, stored[1].ImageId, x, y, Shared, null),
                new CoAppearanceEvidence(CoAppearanceKind.Page, stored[0].ImageId, stored[1].ImageId, x, y, "https://news.example/z", null),
            ],
            pageEdge.Evidence);

        // p and q share photo 3 on the page "both"; q is also alone in photo 4 there: a photo edge, no page edge.
        var photoEdge = Assert.Single(edges, e => e.A == Math.Min(id[p], id[q]) && e.B == Math.Max(id[p], id[q]));
        Assert.Equal((1, 0), (photoEdge.Photos, photoEdge.Pages));
        Assert.Equal(2, edges.Count);
        Assert.DoesNotContain(edges, e => e.A == id[alone] || e.B == id[alone]);
    }

    [SkippableFact]
    public async Task Evidence_is_limited_per_kind_while_the_counts_stay_complete_and_a_filter_keeps_the_edges_touching_it()
    {
        await using var catalog = await OpenAsync();
        var col = await catalog.EnsureCollectionAsync("c", "basis", null);
        var images = new List<NewImage>();
        for (var i = 0; i < 4; i++)
        {
            images.Add(TestData.Image(col.Id, _random, 2, new Provenance($"https://s.example/{i}.jpg", $"https://s.example/page{i}")));
        }

        for (var i = 0; i < 3; i++)
        {
            images.Add(TestData.Image(col.Id, _random, 1, new Provenance($"https://s.example/a{i}.jpg", $"https://s.example/only{i}")));
            images.Add(TestData.Image(col.Id, _random, 1, new Provenance($"https://s.example/b{i}.jpg", $"https://s.example/only{i}")));
        }

        images.Add(TestData.Image(col.Id, _random, 2, new Provenance("https://s.example/cd.jpg", null)));
        var stored = await catalog.AddImagesAsync(images);

        // Identity A: the first face of images 0-3 and the "a" photos; B: the second face of 0-3 and the "b" photos; C, D: the last photo.
        var a = stored.Take(4).Select(s => s.FaceIds[0]).Concat(Enumerable.Range(0, 3).Select(i => stored[4 + (2 * i)].FaceIds[0])).ToArray();
        var b = stored.Take(4).Select(s => s.FaceIds[1]).Concat(Enumerable.Range(0, 3).Select(i => stored[5 + (2 * i)].FaceIds[0])).ToArray();
        var (c, d) = (stored[^1].FaceIds[0], stored[^1].FaceIds[1]);
        await catalog.ApplyPartitionAsync(Partition(a, b, [c], [d]), ClusteringParameters.Default, d, true, "clusterer");
        var (ia, ib, ic, id) = (await IdentityAsync(catalog, a[0]), await IdentityAsync(catalog, b[0]), await IdentityAsync(catalog, c), await IdentityAsync(catalog, d));

        var all = await catalog.GetCoAppearancesAsync(null, 2);
        Assert.Equal(2, all.Count);
        var ab = all.Single(e => e.A == Math.Min(ia, ib));
        Assert.Equal((4, 3, 5.5), (ab.Photos, ab.Pages, ab.Weight));
        Assert.Equal(
            [CoAppearanceKind.Photo, CoAppearanceKind.Photo, CoAppearanceKind.Page, CoAppearanceKind.Page],
            ab.Evidence.Select(e => e.Kind));
        Assert.Equal([stored[0].ImageId, stored[1].ImageId], ab.Evidence.Take(2).Select(e => e.ImageId));
        Assert.Equal(["https://s.example/only0", "https://s.example/only1"], ab.Evidence.Skip(2).Select(e => e.PageUrl));
        Assert.All(ab.Evidence.Take(2), e => Assert.True(a.Contains(ia < ib ? e.FaceId : e.OtherFaceId)));

        var none = await catalog.GetCoAppearancesAsync(null, 0);
        Assert.Equal((4, 3), (none.Single(e => e.A == Math.Min(ia, ib)).Photos, none.Single(e => e.A == Math.Min(ia, ib)).Pages));
        Assert.All(none, e => Assert.Empty(e.Evidence));

        var filtered = await catalog.GetCoAppearancesAsync([ib], 10);
        var only = Assert.Single(filtered);
        Assert.Equal((Math.Min(ia, ib), Math.Max(ia, ib), 4, 3, 7), (only.A, only.B, only.Photos, only.Pages, only.Evidence.Count));
        Assert.Equal(ab.Evidence.Take(2), only.Evidence.Take(2));
        var cd = Assert.Single(await catalog.GetCoAppearancesAsync([id, 4242], 10));
        Assert.Equal((Math.Min(ic, id), Math.Max(ic, id), 1), (cd.A, cd.B, cd.Photos));
        Assert.Equal(2, (await catalog.GetCoAppearancesAsync([ia, ic], 1)).Count);
        Assert.Equal(2, (await catalog.GetCoAppearancesAsync([ia, ib, ic, id], 1)).Count);
        Assert.Empty(await catalog.GetCoAppearancesAsync([], 1));
    }

    [SkippableFact]
    public async Task The_timeline_lists_each_sighting_of_each_face_by_capture_date_unknown_last_then_time_seen()
    {
        await using var catalog = await OpenAsync();
        var early = await catalog.EnsureCollectionAsync("early", "basis", null);
        var late = await catalog.EnsureCollectionAsync("late", "basis", null);
        var t0 = s_start.AddYears(-2);
        var undated = (await catalog.AddImagesAsync([TestData.Image(early.Id, _random, 1, new Provenance("https://t.example/u.jpg", "https://t.example/u"))]))[0];
        _clock.Advance(TimeSpan.FromHours(1));
        var recent = (await catalog.AddImagesAsync([TestData.Image(late.Id, _random, 1, new Provenance("https://t.example/r.jpg", "https://t.example/r", t0.AddDays(10)))]))[0];
        var old = (await catalog.AddImagesAsync([TestData.Image(early.Id, _random, 1, new Provenance("https://t.example/o.jpg", "https://t.example/o", t0, OtherPageUrls: ["https://t.example/o2"]))]))[0];
        var faces = new[] { undated.FaceIds[0], recent.FaceIds[0], old.FaceIds[0] };
        await catalog.ApplyPartitionAsync(Partition(faces), ClusteringParameters.Default, faces.Max(), true, "clusterer");
        var identity = await IdentityAsync(catalog, faces[0]);

        var timeline = await catalog.GetTimelineAsync(identity);
        Assert.Equal(
            [
                (old.FaceIds[0], "https://t.example/o", (DateTimeOffset?)t0, "early"),
                (old.FaceIds[0], "https://t.example/o2", t0, "early"),
                (recent.FaceIds[0], "https://t.example/r", t0.AddDays(10), "late"),
                (undated.FaceIds[0], "https://t.example/u", null, "early"),
            ],
            timeline.Select(e => (e.FaceId, e.PageUrl!, e.CapturedAt, e.Collection)));
        Assert.Equal(s_start, timeline[^1].SeenAt);
        Assert.Equal(s_start.AddHours(1), timeline[0].SeenAt);
        Assert.Equal("https://t.example/o.jpg", timeline[0].SourceUrl);
        Assert.Equal(old.ImageId, timeline[0].ImageId);
        Assert.Empty(await catalog.GetTimelineAsync(4242));
    }

    [SkippableFact]
    public async Task Erasing_an_image_takes_its_faces_out_of_identities_neighbour_lists_and_edges()
    {
        await using var catalog = await OpenAsync();
        var col = await catalog.EnsureCollectionAsync("c", "basis", null);
        var stored = await catalog.AddImagesAsync(
        [
            TestData.Image(col.Id, _random, 2, new Provenance("https://e.example/1.jpg", "https://e.example/p")),
            TestData.Image(col.Id, _random, 1, new Provenance("https://e.example/2.jpg", "https://e.example/p")),
            TestData.Image(col.Id, _random, 1, new Provenance("https://e.example/3.jpg", null)),
        ]);
        var (a, b, a2, c) = (stored[0].FaceIds[0], stored[0].FaceIds[1], stored[1].FaceIds[0], stored[2].FaceIds[0]);
        await catalog.ApplyPartitionAsync(Partition([a, a2], [b], [c]), ClusteringParameters.Default, c, true, "clusterer");
        var (ia, ib) = (await IdentityAsync(catalog, a), await IdentityAsync(catalog, b));
        await catalog.NameIdentityAsync(ib, "Only In Photo One", "ana");
        await catalog.WriteNeighbourListsAsync(
            new Dictionary<long, VectorHit[]> { [a] = [new(a2, 0.8f), new(b, 0.1f)], [a2] = [new(a, 0.8f), new(c, 0.2f)], [c] = [new(b, 0.3f), new(a2, 0.2f)] },
            replaceAll: true);
        Assert.Single(await catalog.GetCoAppearancesAsync(null, 5));

        await catalog.EraseImageAsync(stored[0].ImageId, "dpo");

        Assert.Null(await catalog.FindIdentityOfFaceAsync(a));
        Assert.Null(await catalog.FindIdentityOfFaceAsync(b));
        Assert.Null(await catalog.GetIdentityAsync(ib));
        Assert.Equal([a2], (await catalog.GetIdentityFacesAsync(ia)).Select(x => x.FaceId));
        Assert.Equal(1, (await catalog.GetIdentityAsync(ia))!.Faces);
        Assert.DoesNotContain(await catalog.ListIdentitiesAsync(1, 100, 0), i => i.Faces == 0);
        Assert.Empty(await catalog.GetCoAppearancesAsync(null, 5));
        var lists = await catalog.ReadNeighbourListsAsync();
        Assert.Equal([a2, c], lists.Keys.Order());
        Assert.Equal([new VectorHit(c, 0.2f)], lists[a2]);
        Assert.Equal([new VectorHit(a2, 0.2f)], lists[c]);
        Assert.DoesNotContain(await catalog.ReadAssignmentsAsync(), x => x.FaceId == a || x.FaceId == b);

        // The record of the correction stays (ids only, no foreign key); the next clustering finds nothing to remove.
        Assert.Single(await catalog.ListCorrectionsAsync());
        var change = await catalog.ApplyPartitionAsync(Partition([a2], [c]), ClusteringParameters.Default, c, false, "clusterer");
        Assert.Equal((2, 0, 0), (change.Identities, change.IdentitiesCreated, change.IdentitiesRemoved));
    }

    [SkippableFact]
    public async Task A_near_duplicate_copy_seen_on_a_page_stands_for_its_original_in_edges_and_the_timeline()
    {
        await using var catalog = await OpenAsync();
        var col = await catalog.EnsureCollectionAsync("c", "basis", null);
        var stored = await catalog.AddImagesAsync(
        [
            TestData.Image(col.Id, _random, 1, new Provenance("https://d.example/a.jpg", "https://d.example/first")),
            TestData.Image(col.Id, _random, 1, new Provenance("https://d.example/b.jpg", "https://d.example/second")),
        ]);
        _clock.Advance(TimeSpan.FromDays(1));
        var copy = (await catalog.AddImagesAsync(
            [TestData.Image(col.Id, _random, 0, new Provenance("https://d.example/a-small.jpg", "https://d.example/second")) with { NearDuplicateOf = stored[0].ImageId }]))[0];
        var (a, b) = (stored[0].FaceIds[0], stored[1].FaceIds[0]);
        await catalog.ApplyPartitionAsync(Partition([a], [b]), ClusteringParameters.Default, b, true, "clusterer");
        var (ia, ib) = (await IdentityAsync(catalog, a), await IdentityAsync(catalog, b));

        var edge = Assert.Single(await catalog.GetCoAppearancesAsync(null, 5));
        Assert.Equal((ia, ib, 0, 1), (edge.A, edge.B, edge.Photos, edge.Pages));
        Assert.Equal(new CoAppearanceEvidence(CoAppearanceKind.Page, stored[0].ImageId, stored[1].ImageId, a, b, "https://d.example/second", null), Assert.Single(edge.Evidence));
        Assert.Equal(edge, Assert.Single(await catalog.GetCoAppearancesAsync([ib], 5)), new EdgeComparer());

        var timeline = await catalog.GetTimelineAsync(ia);
        Assert.Equal(["https://d.example/first", "https://d.example/second"], timeline.Select(e => e.PageUrl));
        Assert.Equal([s_start, s_start.AddDays(1)], timeline.Select(e => e.SeenAt));
        Assert.All(timeline, e => Assert.Equal((a, stored[0].ImageId), (e.FaceId, e.ImageId)));
        Assert.NotEqual(copy.ImageId, stored[0].ImageId);
    }

    [SkippableFact]
    public async Task A_face_deleted_without_foreign_key_enforcement_still_leaves_the_partition_and_the_graph()
    {
        await using var catalog = await OpenAsync();
        var f = (await AddImagesAsync(catalog, Page(null, 2), Page(null, 1))).SelectMany(x => x).ToArray();
        await catalog.ApplyPartitionAsync(Partition([f[0], f[1]], [f[2]]), ClusteringParameters.Default, f[2], true, "clusterer");
        var lone = await IdentityAsync(catalog, f[2]);
        await catalog.WriteNeighbourListsAsync(
            new Dictionary<long, VectorHit[]> { [f[0]] = [new(f[2], 0.5f), new(f[1], 0.4f)], [f[2]] = [new(f[0], 0.5f)] }, replaceAll: true);

        await DeleteFaceBehindTheCatalogAsync(f[2]);

        Assert.Null(await catalog.FindIdentityOfFaceAsync(f[2]));
        Assert.Null(await catalog.GetIdentityAsync(lone));
        var lists = await catalog.ReadNeighbourListsAsync();
        Assert.Equal([f[0]], lists.Keys);
        Assert.Equal([new VectorHit(f[1], 0.4f)], lists[f[0]]);
        Assert.Equal(2, (await catalog.ReadAssignmentsAsync()).Count);
    }

    [SkippableFact]
    public async Task Network_writes_meeting_an_erasure_in_flight_wait_for_it_and_leave_the_erased_face_out()
    {
        await using var catalog = await OpenAsync();
        var f = (await AddImagesAsync(catalog, Page(null, 2), Page(null, 1))).SelectMany(x => x).ToArray();

        // The lists name f[2] while its erasure is uncommitted: the write waits and then writes nothing naming it.
        await using (var erasure = await DeleteFaceUncommittedAsync(f[2]))
        {
            // On a thread of its own: SQLite's writer waits for the lock inside the call.
            var write = Task.Run(() => catalog.WriteNeighbourListsAsync(
                new Dictionary<long, VectorHit[]> { [f[0]] = [new(f[2], 0.5f), new(f[1], 0.4f)], [f[1]] = [new(f[2], 0.3f)], [f[2]] = [new(f[0], 0.5f)] },
                replaceAll: true));
            await erasure.CommitWhenWaitedForAsync();
            await write;
        }

        var lists = await catalog.ReadNeighbourListsAsync();
        Assert.Equal([f[0]], lists.Keys);
        Assert.Equal([new VectorHit(f[1], 0.4f)], lists[f[0]]);

        // The same for a partition listing f[1]: it is left out, not refused.
        await using (var erasure = await DeleteFaceUncommittedAsync(f[1]))
        {
            var apply = Task.Run(() => catalog.ApplyPartitionAsync(Partition([f[0], f[1]]), ClusteringParameters.Default, f[1], true, "clusterer"));
            await erasure.CommitWhenWaitedForAsync();
            Assert.Equal(new PartitionChange(1, 1, 0, 1, 0, 1), await apply);
        }

        Assert.Equal([f[0]], (await catalog.ReadAssignmentsAsync()).Select(x => x.FaceId));
        Assert.Empty(await catalog.ReadNeighbourListsAsync());
    }

    [SkippableFact]
    public async Task A_correction_meeting_an_erasure_in_flight_waits_for_it_and_finds_the_identity_it_emptied_gone()
    {
        await using var catalog = await OpenAsync();
        var (f, ids) = await ClusteredAsync(catalog);
        var size = (await catalog.TreeHeadAsync()).TreeSize;

        // f[4] is the only face of ids[2]: its erasure removes the identity, and the merge into it is refused.
        await using (var erasure = await DeleteFaceUncommittedAsync(f[4]))
        {
            var merge = Task.Run(() => catalog.MergeIdentitiesAsync(ids[2], ids[1], null, "ana"));
            await erasure.CommitWhenWaitedForAsync();
            var missing = await Assert.ThrowsAsync<NetworkNotFoundException>(() => merge);
            Assert.Contains(ids[2].ToString(System.Globalization.CultureInfo.InvariantCulture), missing.Message, StringComparison.Ordinal);
        }

        Assert.Null(await catalog.GetIdentityAsync(ids[2]));
        Assert.Equal([f[2], f[3]], (await catalog.GetIdentityFacesAsync(ids[1])).Select(x => x.FaceId).Order());
        Assert.Empty(await catalog.ListCorrectionsAsync());
        Assert.Equal(size, (await catalog.TreeHeadAsync()).TreeSize);
    }

    [SkippableFact]
    public async Task Two_catalogs_applying_the_same_partition_at_once_create_its_identities_once()
    {
        await using var catalog = await OpenAsync();
        var f = (await AddImagesAsync(catalog, Page(null, 2), Page(null, 2), Page(null, 2))).SelectMany(x => x).ToArray();
        await using var other = await OpenAsync();
        var partition = Partition([f[0], f[1], f[2]], [f[3], f[4]], [f[5]]);

        // Two processes clustering at once run one after the other: the second finds the first's identities and keeps them.
        var changes = await Task.WhenAll(
            Task.Run(() => catalog.ApplyPartitionAsync(partition, ClusteringParameters.Default, f[5], true, "one")),
            Task.Run(() => other.ApplyPartitionAsync(partition, ClusteringParameters.Default, f[5], true, "two")));
        Assert.Equal(3, changes.Sum(c => c.IdentitiesCreated));
        Assert.Equal(0, changes.Sum(c => c.IdentitiesRemoved));
        Assert.Equal([1L, 2L], changes.Select(c => c.Version).Order());
        Assert.Equal(3, (await catalog.ListIdentitiesAsync(0, 100, 0)).Count);
        Assert.Equal(6, (await catalog.ReadAssignmentsAsync()).Count);
        Assert.Equal(2, (await catalog.ReadEventsAsync(1, 100)).Count(e => e.Action == NetworkActions.Cluster));
        Assert.True((await catalog.VerifyAsync(null)).IsIntact);
    }

    [SkippableFact]
    public async Task Corrections_from_two_catalogs_at_once_run_one_after_the_other_and_refuse_an_identity_merged_away_meanwhile()
    {
        await using var catalog = await OpenAsync();
        var (_, ids) = await ClusteredAsync(catalog);
        await using var other = await OpenAsync();

        // Either b goes into a first (then merging c into b finds no b) or c goes into b first (then a takes both).
        var failures = await Task.WhenAll(
            FailureOfAsync(() => catalog.MergeIdentitiesAsync(ids[0], ids[1], null, "ana")),
            FailureOfAsync(() => other.MergeIdentitiesAsync(ids[1], ids[2], null, "bo")));
        Assert.All(failures.OfType<Exception>(), e => Assert.IsType<NetworkNotFoundException>(e));
        Assert.Contains(failures, e => e is null);

        var assignments = await catalog.ReadAssignmentsAsync();
        Assert.Equal(5, assignments.Count);
        var assigned = assignments.Select(x => x.IdentityId).Distinct().ToList();
        Assert.Equal(assigned.Order(), (await catalog.GetIdentitiesAsync(assigned)).Select(i => i.Id));
        Assert.Equal(failures.Count(e => e is null), (await catalog.ListCorrectionsAsync()).Count);
        Assert.Equal(failures.Count(e => e is null), (await catalog.ReadEventsAsync(1, 100)).Count(e => e.Action == NetworkActions.Correct));
        Assert.True((await catalog.VerifyAsync(null)).IsIntact);
    }

    /// <summary>Edges compared by value, evidence included (the record's list compares by reference).</summary>
    private sealed class EdgeComparer : IEqualityComparer<CoAppearanceEdge>
    {
        public bool Equals(CoAppearanceEdge? x, CoAppearanceEdge? y) =>
            x is not null && y is not null && (x.A, x.B, x.Photos, x.Pages) == (y.A, y.B, y.Photos, y.Pages) && x.Evidence.SequenceEqual(y.Evidence);

        public int GetHashCode(CoAppearanceEdge obj) => HashCode.Combine(obj.A, obj.B);
    }

    private static Task<Exception?> FailureOfAsync(Func<Task> work) => Task.Run(async () =>
    {
        try
        {
            await work();
            return null;
        }
        catch (Exception e)
        {
            return (Exception?)e;
        }
    });

    private static FaceQuality Quality(float score) => new(score, 40, 100, 120, 30, 0, 0, 0, 0.9f, 3);

    private AnalyzedFace Scored(float? score) => TestData.Face(_random) with { Quality = score is { } s ? Quality(s) : null };

    private static Provenance Page(string? page, int faces = 2) => new($"https://img.example/{Guid.NewGuid():N}.jpg", page, RecordId: faces.ToString(System.Globalization.CultureInfo.InvariantCulture));

    /// <summary>Adds one image per provenance (its face count carried in RecordId by <see cref="Page"/>); returns each image's face ids.</summary>
    private async Task<long[][]> AddImagesAsync(TCatalog catalog, params Provenance[] images)
    {
        var col = await catalog.EnsureCollectionAsync("c", "basis", null);
        var stored = await catalog.AddImagesAsync([.. images.Select(p => TestData.Image(col.Id, _random, int.Parse(p.RecordId!, System.Globalization.CultureInfo.InvariantCulture), p))]);
        return [.. stored.Select(s => s.FaceIds.ToArray())];
    }

    /// <summary>Five faces in three photos clustered as {0, 1}, {2, 3}, {4}; returns the faces and the three identities.</summary>
    private async Task<(long[] Faces, long[] Identities)> ClusteredAsync(TCatalog catalog)
    {
        var f = (await AddImagesAsync(catalog, Page(null, 2), Page(null, 2), Page(null, 1))).SelectMany(x => x).ToArray();
        await catalog.ApplyPartitionAsync(Partition([f[0], f[1]], [f[2], f[3]], [f[4]]), ClusteringParameters.Default, f[^1], true, "clusterer");
        return (f, [await IdentityAsync(catalog, f[0]), await IdentityAsync(catalog, f[2]), await IdentityAsync(catalog, f[4])]);
    }

    private static async Task<long> IdentityAsync(TCatalog catalog, long face) => (await catalog.FindIdentityOfFaceAsync(face))!.Value;

    /// <summary>A partition with the given clusters, keyed by their smallest face id (as the clustering keys them).</summary>
    private static List<(long FaceId, long ClusterKey)> Partition(params long[][] clusters) =>
        [.. clusters.SelectMany(c => c.Select(face => (face, c.Min())))];
}

public sealed class SqliteNetworkStoreTests() : NetworkStoreContract<SqliteCatalog>(new SqliteBackend())
{
    private string DatabasePath => ((SqliteBackend)Backend).DatabasePath;

    protected override long SchemaVersionOf(SqliteCatalog catalog) => catalog.SchemaVersion;

    protected override async Task<IReadOnlySet<string>> TablesAndTriggersAsync()
    {
        await using var connection = new SqliteConnection($"Data Source={DatabasePath};Pooling=False");
        await connection.OpenAsync();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT name FROM sqlite_master WHERE type IN ('table', 'trigger') ORDER BY name";
        var names = new HashSet<string>();
        using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            names.Add(reader.GetString(0));
        }

        return names;
    }

    /// <summary>With foreign keys off: the triggers alone must take the face out of the partition and the graph.</summary>
    protected override async Task DeleteFaceBehindTheCatalogAsync(long faceId)
    {
        await using var raw = new SqliteConnection($"Data Source={DatabasePath};Foreign Keys=False;Pooling=False");
        await raw.OpenAsync();
        using var delete = raw.CreateCommand();
        delete.CommandText = $"DELETE FROM face_thumbnails WHERE face_id = {faceId}; DELETE FROM faces WHERE id = {faceId};";
        await delete.ExecuteNonQueryAsync();
    }

    /// <summary>
    /// The writer lock of the raw connection's IMMEDIATE transaction keeps the catalog's write from beginning until the
    /// commit, so there is nothing to wait for: SQLite has no race to show.
    /// </summary>
    protected override async Task<UncommittedDelete> DeleteFaceUncommittedAsync(long faceId)
    {
        var connection = new SqliteConnection($"Data Source={DatabasePath};Foreign Keys=True;Pooling=False");
        await connection.OpenAsync();
        var tx = connection.BeginTransaction();
        using var delete = connection.CreateCommand();
        delete.Transaction = tx;
        delete.CommandText = $"DELETE FROM faces WHERE id = {faceId}";
        await delete.ExecuteNonQueryAsync();
        return new UncommittedDelete(connection, tx, () => Task.CompletedTask);
    }
}

public sealed class PostgresNetworkStoreTests() : NetworkStoreContract<PostgresCatalog>(new PostgresBackend())
{
    protected override long SchemaVersionOf(PostgresCatalog catalog) => catalog.SchemaVersion;

    protected override async Task<IReadOnlySet<string>> TablesAndTriggersAsync()
    {
        await using var connection = new NpgsqlConnection(await ((PostgresBackend)Backend).ConnectionStringAsync());
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("""
            SELECT table_name::text FROM information_schema.tables WHERE table_schema = current_schema()
            UNION SELECT trigger_name::text FROM information_schema.triggers WHERE trigger_schema = current_schema()
            """, connection);
        var names = new HashSet<string>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            names.Add(reader.GetString(0));
        }

        return names;
    }

    /// <summary>
    /// A plain DELETE on another connection: PostgreSQL cannot turn foreign keys off without turning the triggers off
    /// too, and the neighbour lists (no foreign key) are the triggers' work alone.
    /// </summary>
    protected override async Task DeleteFaceBehindTheCatalogAsync(long faceId)
    {
        await using var connection = new NpgsqlConnection(await ((PostgresBackend)Backend).ConnectionStringAsync());
        await connection.OpenAsync();
        await using var delete = new NpgsqlCommand("DELETE FROM faces WHERE id = @id", connection);
        delete.Parameters.AddWithValue("id", faceId);
        await delete.ExecuteNonQueryAsync();
    }

    /// <summary>Commits once the catalog's connection is seen waiting for the delete's locks.</summary>
    protected override async Task<UncommittedDelete> DeleteFaceUncommittedAsync(long faceId)
    {
        var connectionString = await ((PostgresBackend)Backend).ConnectionStringAsync();
        var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        var tx = await connection.BeginTransactionAsync();
        await using (var delete = new NpgsqlCommand("DELETE FROM faces WHERE id = @id", connection, tx))
        {
            delete.Parameters.AddWithValue("id", faceId);
            await delete.ExecuteNonQueryAsync();
        }

        var pid = connection.ProcessID;
        return new UncommittedDelete(connection, tx, async () =>
        {
            await using var watcher = new NpgsqlConnection(connectionString);
            await watcher.OpenAsync();
            await using var blocked = new NpgsqlCommand("SELECT count(*) FROM pg_stat_activity WHERE @pid = ANY(pg_blocking_pids(pid))", watcher);
            blocked.Parameters.AddWithValue("pid", pid);
            for (var polls = 0; (long)(await blocked.ExecuteScalarAsync())! == 0; polls++)
            {
                Assert.True(polls < 600, "Nothing waited for the uncommitted delete within a minute.");
                await Task.Delay(100);
            }
        });
    }
}

/// <summary>A face deleted in a transaction still open on a connection of its own (an erasure in flight).</summary>
public sealed class UncommittedDelete(DbConnection connection, DbTransaction transaction, Func<Task> untilWaitedFor) : IAsyncDisposable
{
    /// <summary>Commits the delete once another connection waits for it (where the backend can tell).</summary>
    public async Task CommitWhenWaitedForAsync()
    {
        await untilWaitedFor();
        await transaction.CommitAsync();
    }

    public async ValueTask DisposeAsync()
    {
        await transaction.DisposeAsync();
        await connection.DisposeAsync();
    }
}
