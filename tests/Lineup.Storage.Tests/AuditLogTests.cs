using System.Data.Common;
using Lineup.Core.Audit;
using Lineup.Core.Catalog;
using Lineup.Storage.Postgres;

namespace Lineup.Storage.Tests;

public sealed class SqliteAuditLogTests() : AuditLogContract<SqliteCatalog>(new SqliteBackend());

public sealed class PostgresAuditLogTests() : AuditLogContract<PostgresCatalog>(new PostgresBackend());

/// <summary>The audit log in a real catalog: appends, the tree head, proofs, checkpoints, and the search event.</summary>
public abstract class AuditLogContract<TCatalog>(ICatalogBackend<TCatalog> backend) : IAsyncLifetime
    where TCatalog : class, IAuditLog, ISearchLog, IAsyncDisposable
{
    private static readonly DateTimeOffset s_start = DateTimeOffset.Parse("2025-03-04T05:06:07.1234567Z");

    private readonly TempDirectory _dir = new("audit");
    private readonly ManualClock _clock = new(s_start);
    private AuditTamperer? _tamper;

    protected ICatalogBackend<TCatalog> Backend { get; } = backend;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        if (_tamper is not null)
        {
            await _tamper.DisposeAsync();
        }

        await Backend.DisposeAsync();
        _dir.Dispose();
    }

    /// <summary>Raw access to the catalog's database, as someone holding it has (see <see cref="AuditTamperer"/>).</summary>
    private async Task<AuditTamperer> TamperAsync() => _tamper ??= await AuditTamperer.ForAsync(Backend);

    private Task<TCatalog> OpenAsync() => Backend.OpenAsync(_clock);

    private static NewAuditEvent Event(int i) =>
        new($"user{i % 3}", (i % 2) == 0 ? AuditActions.View : AuditActions.Export, $"image:{i}", AuditDetails.Empty.With("n", i));

    [SkippableFact]
    public async Task Appended_events_read_back_in_order_with_their_sequence_numbers_and_times()
    {
        await using var catalog = await OpenAsync();
        Assert.Empty(await catalog.ReadEventsAsync());
        var first = await catalog.AppendAsync(Event(1));
        _clock.Advance(TimeSpan.FromSeconds(2));
        var batch = await catalog.AppendAsync([Event(2), Event(3), Event(4)]);

        Assert.Equal(1, first.Seq);
        Assert.Equal(s_start, first.At);
        Assert.Equal([2L, 3, 4], batch.Select(e => e.Seq));
        Assert.All(batch, e => Assert.Equal(s_start.AddSeconds(2), e.At));

        var read = await catalog.ReadEventsAsync();
        Assert.Equal([first, .. batch], read);
        Assert.Equal("user1", read[0].Actor);
        Assert.Equal(AuditActions.Export, read[0].Action);
        Assert.Equal("image:1", read[0].Subject);
        Assert.Equal(1, read[0].Details["n"]!.Value.Integer);
        Assert.Equal([3L, 4], (await catalog.ReadEventsAsync(3, 10)).Select(e => e.Seq));
        Assert.Equal([2L], (await catalog.ReadEventsAsync(2, 1)).Select(e => e.Seq));
        Assert.Empty(await catalog.AppendAsync([]));
    }

    [SkippableFact]
    public async Task The_tree_head_is_the_RFC_6962_root_of_the_event_leaves_and_survives_reopening()
    {
        var roots = new List<byte[]>();
        await using (var catalog = await OpenAsync())
        {
            Assert.Equal(new AuditTreeHead(0, MerkleTree.EmptyRoot).RootHex, (await catalog.TreeHeadAsync()).RootHex);
            for (var i = 1; i <= 37; i++)
            {
                await catalog.AppendAsync(Event(i));
                roots.Add((await catalog.TreeHeadAsync()).RootHash);
            }

            var events = await catalog.ReadEventsAsync(1, 100);
            var leaves = events.SelectMany(e => e.LeafHash()).ToArray();
            for (var n = 1; n <= 37; n++)
            {
                Assert.Equal(MerkleTree.RootHash(leaves.AsSpan(0, n * 32)), roots[n - 1]);
            }
        }

        await using var reopened = await OpenAsync();
        var head = await reopened.TreeHeadAsync();
        Assert.Equal(37, head.TreeSize);
        Assert.Equal(roots[^1], head.RootHash);
        await reopened.AppendAsync(Event(38));
        Assert.Equal(38, (await reopened.TreeHeadAsync()).TreeSize);
        Assert.True((await reopened.VerifyAsync(null)).IsIntact);
    }

    [SkippableFact]
    public async Task Every_inclusion_and_consistency_proof_of_a_small_log_verifies_against_the_historical_roots()
    {
        await using var catalog = await OpenAsync();
        var roots = new List<byte[]> { MerkleTree.EmptyRoot };
        for (var i = 1; i <= 20; i++)
        {
            await catalog.AppendAsync(Event(i));
            roots.Add((await catalog.TreeHeadAsync()).RootHash);
        }

        for (var size = 1; size <= 20; size++)
        {
            for (var seq = 1; seq <= size; seq++)
            {
                var proof = await catalog.InclusionProofAsync(seq, size);
                Assert.True(proof.Verify(roots[size]), $"event {seq} in {size}");
                Assert.False(proof.Verify(roots[size - 1]));
            }

            for (var old = 0; old <= size; old++)
            {
                var proof = await catalog.ConsistencyProofAsync(old, size);
                Assert.True(proof.Verify(roots[old], roots[size]), $"{old} -> {size}");
            }
        }

        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => catalog.InclusionProofAsync(21, 21));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => catalog.InclusionProofAsync(3, 2));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => catalog.ConsistencyProofAsync(5, 21));
    }

    [SkippableFact]
    public async Task A_checkpoint_signs_the_current_head_once_and_verifies_with_the_public_key()
    {
        using var key = AuditSigningKey.LoadOrCreate(_dir.Combine("data"));
        await using var catalog = await OpenAsync();
        var empty = await catalog.CheckpointAsync(key);
        Assert.Equal(0, empty.TreeSize);
        Assert.Equal(MerkleTree.EmptyRoot, empty.RootHash);

        await catalog.AppendAsync([Event(1), Event(2), Event(3)]);
        _clock.Advance(TimeSpan.FromMinutes(1));
        var three = await catalog.CheckpointAsync(key);
        Assert.Equal(3, three.TreeSize);
        Assert.Equal((await catalog.TreeHeadAsync()).RootHash, three.RootHash);
        Assert.Equal(s_start.AddMinutes(1), three.Timestamp);
        Assert.True(three.IsSignedBy(key.Public));
        Assert.True(three.IsSignedBy(AuditPublicKey.LoadFromDataDirectory(_dir.Combine("data"))!));

        _clock.Advance(TimeSpan.FromMinutes(1));
        var again = await catalog.CheckpointAsync(key);
        Assert.Equal(three.Timestamp, again.Timestamp);
        Assert.Equal(three.Signature, again.Signature);

        var listed = await catalog.ListCheckpointsAsync();
        Assert.Equal([0L, 3], listed.Select(c => c.TreeSize));
        Assert.Equal(three.Signature, listed[1].Signature);

        var verification = await catalog.VerifyAsync(key.Public);
        Assert.True(verification.IsIntact, string.Join("; ", verification.Problems.Select(p => p.Message)));
        Assert.Equal(3, verification.LatestCheckpoint?.TreeSize);
        Assert.Equal(2, verification.Checkpoints);

        // Without the key, stored checkpoints cannot be checked: that is a problem, not a pass.
        var keyless = await catalog.VerifyAsync(null);
        Assert.Equal(AuditProblemKind.KeyMissing, Assert.Single(keyless.Problems).Kind);
    }

    [SkippableFact]
    public async Task A_recorded_search_appends_its_audit_event_in_the_same_transaction()
    {
        await using var catalog = await OpenAsync();
        var sha = new string('a', 64);
        var id = await catalog.RecordSearchAsync(Search("alice", sha, SearchOutcome.Candidates));

        var logged = Assert.Single(await catalog.ReadEventsAsync());
        Assert.Equal("alice", logged.Actor);
        Assert.Equal(AuditActions.Search, logged.Action);
        Assert.Equal($"search:{id}", logged.Subject);
        Assert.Equal("candidates", logged.Details["outcome"]!.Value.Text);
        Assert.Equal(3, logged.Details["candidates"]!.Value.Integer);
        Assert.Equal(2, logged.Details["above_threshold"]!.Value.Integer);
        Assert.Equal(sha[..16], logged.Details["probe_sha256"]!.Value.Text);
        Assert.False(logged.Details["quality_override"]!.Value.Boolean);
        Assert.DoesNotContain(sha, logged.Details.ToCanonicalJson());
    }

    [SkippableFact]
    public async Task A_search_whose_audit_event_cannot_be_written_is_not_recorded_and_the_reverse()
    {
        await using var catalog = await OpenAsync();
        await catalog.RecordSearchAsync(Search("alice", new string('b', 64), SearchOutcome.NoFace));

        // The event fails (an actor the log refuses): the search row rolls back with it.
        await Assert.ThrowsAnyAsync<ArgumentException>(() => catalog.RecordSearchAsync(Search("bad\nactor", new string('c', 64), SearchOutcome.NoFace)));

        // The log refuses the insert (as a full disk or a constraint would): the search rolls back too.
        var tamper = await TamperAsync();
        await tamper.RefuseInsertsAsync("audit_events");
        await AssertRefusedAsync(() => catalog.RecordSearchAsync(Search("carol", new string('d', 64), SearchOutcome.NoFace)));
        await tamper.AllowInsertsAsync("audit_events");

        // And when the search insert fails, no event is appended.
        await tamper.RefuseInsertsAsync("searches");
        await AssertRefusedAsync(() => catalog.RecordSearchAsync(Search("dave", new string('e', 64), SearchOutcome.NoFace)));
        await tamper.AllowInsertsAsync("searches");

        Assert.Equal(["alice"], (await catalog.ListSearchesAsync()).Select(s => s.By));
        Assert.Equal(["alice"], (await catalog.ReadEventsAsync()).Select(e => e.Actor));
        Assert.Equal(1, (await catalog.TreeHeadAsync()).TreeSize);
        Assert.True((await catalog.VerifyAsync(null)).IsIntact);

        await catalog.RecordSearchAsync(Search("erin", new string('f', 64), SearchOutcome.NoFace));
        Assert.Equal([1L, 2], (await catalog.ReadEventsAsync()).Select(e => e.Seq));
    }

    [SkippableFact]
    public async Task Two_processes_appending_to_one_file_interleave_without_gaps()
    {
        await using var a = await OpenAsync();
        await using var b = await OpenAsync();
        var writes = Enumerable.Range(0, 40).Select(i => (i % 2 == 0 ? a : b).AppendAsync(Event(i)));
        await Task.WhenAll(writes);

        Assert.Equal(Enumerable.Range(1, 40).Select(i => (long)i), (await a.ReadEventsAsync(1, 100)).Select(e => e.Seq));
        Assert.Equal((await a.TreeHeadAsync()).RootHash, (await b.TreeHeadAsync()).RootHash);
        Assert.True((await b.VerifyAsync(null)).IsIntact);
    }

    [SkippableFact]
    public async Task Appends_and_checkpoints_are_refused_once_the_stored_tree_disagrees_with_the_events()
    {
        using var key = AuditSigningKey.LoadOrCreate(_dir.Combine("data"));
        await using var catalog = await OpenAsync();
        await catalog.AppendAsync([Event(1), Event(2), Event(3)]);
        await catalog.CheckpointAsync(key);

        // The schema itself refuses rewriting history through SQL...
        var tamper = await TamperAsync();
        await AssertRefusedAsync(() => tamper.ExecuteAsync("UPDATE audit_events SET actor = 'mallory' WHERE seq = 2"));
        await AssertRefusedAsync(() => tamper.ExecuteAsync("DELETE FROM audit_events WHERE seq = 3"));
        await AssertRefusedAsync(() => tamper.ExecuteAsync("DELETE FROM audit_checkpoints"));

        // ...and once someone with the database drops the guard and removes the last event, nothing more is appended or signed.
        await tamper.DropGuardsAsync();
        await tamper.ExecuteAsync("DELETE FROM audit_events WHERE seq = 3");
        var refused = await Assert.ThrowsAsync<CatalogException>(() => catalog.AppendAsync(Event(4)));
        Assert.Contains("altered outside Lineup", refused.Message);
        await Assert.ThrowsAsync<CatalogException>(() => catalog.RecordSearchAsync(Search("alice", new string('a', 64), SearchOutcome.NoFace)));
        await Assert.ThrowsAsync<CatalogException>(() => catalog.CheckpointAsync(key));
        Assert.Empty(await catalog.ListSearchesAsync());
        Assert.Single(await catalog.ListCheckpointsAsync());
    }

    [SkippableFact]
    public async Task A_checkpoint_is_not_signed_over_leaves_that_no_longer_extend_the_last_one()
    {
        using var key = AuditSigningKey.LoadOrCreate(_dir.Combine("data"));
        await using var catalog = await OpenAsync();
        await catalog.AppendAsync([Event(1), Event(2), Event(3)]);
        await catalog.CheckpointAsync(key);
        await catalog.AppendAsync(Event(4));

        // Rewrite event 2 with a matching leaf hash and a matching tree state: only the checkpoint still knows.
        var forged = new NewAuditEvent("mallory", AuditActions.View, "image:2").At(2, s_start);
        var frontier = new MerkleFrontier();
        foreach (var e in await catalog.ReadEventsAsync())
        {
            frontier.Append(e.Seq == 2 ? forged.LeafHash() : e.LeafHash());
        }

        var tamper = await TamperAsync();
        await tamper.DropGuardsAsync();
        await tamper.ExecuteAsync(
            """
            UPDATE audit_events SET actor = 'mallory', action = 'view', subject = 'image:2', details = '{}', leaf_hash = @leaf WHERE seq = 2;
            UPDATE audit_tree SET frontier = @frontier WHERE id = 1;
            """,
            ("leaf", forged.LeafHash()), ("frontier", frontier.ToBytes()));

        var refused = await Assert.ThrowsAsync<CatalogException>(() => catalog.CheckpointAsync(key));
        Assert.Contains("no longer extend the checkpoint at size 3", refused.Message);
        Assert.Single(await catalog.ListCheckpointsAsync());
        var verification = await catalog.VerifyAsync(key.Public);
        Assert.False(verification.IsIntact);
        Assert.Equal(3, verification.FirstBadCheckpoint);
    }

    private static SearchRecord Search(string by, string sha, SearchOutcome outcome) =>
        new(s_start, by, sha, 1, 1, 80f, 40f, null, outcome, "top=10", TestData.Model, 100, 3, 2, 12.5);

    /// <summary>The database refused the statement, with its own kind of error (not one the catalog made up).</summary>
    private async Task AssertRefusedAsync(Func<Task> statement)
    {
        var refused = await Assert.ThrowsAnyAsync<DbException>(statement);
        Assert.IsType((await TamperAsync()).RefusalType, refused);
    }

    private sealed class ManualClock(DateTimeOffset start) : TimeProvider
    {
        private DateTimeOffset _now = start;

        public override DateTimeOffset GetUtcNow() => _now;

        public void Advance(TimeSpan by) => _now += by;
    }
}

/// <summary>
/// What only PostgreSQL has: writers in many processes at once. Each catalog below has its own connection pool, as a
/// separate process would; appends and checkpoints from all of them must still form one gapless, verifiable log.
/// </summary>
public sealed class PostgresAuditConcurrencyTests : IAsyncLifetime
{
    private readonly PostgresBackend _backend = new();
    private readonly TempDirectory _dir = new("audit-concurrency");

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        await _backend.DisposeAsync();
        _dir.Dispose();
    }

    [SkippableFact]
    public async Task Four_processes_appending_fifty_events_each_at_once_take_two_hundred_gapless_numbers()
    {
        var catalogs = await OpenProcessesAsync(4);
        try
        {
            var appended = await Task.WhenAll(catalogs.Select((catalog, process) => Task.Run(async () =>
            {
                var mine = new List<AuditEvent>();
                for (var i = 0; i < 50; i++)
                {
                    mine.Add(await catalog.AppendAsync(new NewAuditEvent($"process{process}", AuditActions.View, $"image:{i}", AuditDetails.Empty.With("n", i))));
                }

                return mine;
            })));

            Assert.Equal(Enumerable.Range(1, 200).Select(i => (long)i), appended.SelectMany(mine => mine.Select(e => e.Seq)).Order());
            Assert.All(appended, mine => Assert.Equal(mine.Select(e => e.Seq).Order(), mine.Select(e => e.Seq)));

            var read = await catalogs[0].ReadEventsAsync(1, 500);
            Assert.Equal(appended.SelectMany(mine => mine).OrderBy(e => e.Seq), read);
            var head = await catalogs[3].TreeHeadAsync();
            Assert.Equal(200, head.TreeSize);
            Assert.Equal(MerkleTree.RootHash(read.SelectMany(e => e.LeafHash()).ToArray()), head.RootHash);
            var verification = await catalogs[1].VerifyAsync(null);
            Assert.True(verification.IsIntact, string.Join("; ", verification.Problems.Select(p => p.Message)));
            Assert.Equal(200, verification.Events);
        }
        finally
        {
            await DisposeAllAsync(catalogs);
        }
    }

    [SkippableFact]
    public async Task Four_processes_signing_while_they_append_never_sign_two_heads_at_one_size()
    {
        using var key = AuditSigningKey.LoadOrCreate(_dir.Combine("data"));
        var catalogs = await OpenProcessesAsync(4);
        try
        {
            var signed = await Task.WhenAll(catalogs.Select((catalog, process) => Task.Run(async () =>
            {
                var mine = new List<Checkpoint>();
                for (var round = 0; round < 10; round++)
                {
                    await catalog.AppendAsync([.. Enumerable.Range(0, 3).Select(i => new NewAuditEvent($"process{process}", AuditActions.Export, $"image:{round}.{i}"))]);
                    mine.Add(await catalog.CheckpointAsync(key));
                }

                return mine;
            })));

            // A head signed twice would be two rows at one size (refused, so a signer would have failed) or a signer
            // handed a signature that is not the stored one.
            var stored = (await catalogs[0].ListCheckpointsAsync()).ToDictionary(c => c.TreeSize);
            Assert.All(signed.SelectMany(mine => mine), c =>
            {
                Assert.True(stored.ContainsKey(c.TreeSize), $"checkpoint {c.TreeSize} is not stored");
                Assert.Equal(stored[c.TreeSize].Signature, c.Signature);
                Assert.Equal(stored[c.TreeSize].RootHash, c.RootHash);
            });
            Assert.All(signed, mine => Assert.Equal(mine.Select(c => c.TreeSize).Order(), mine.Select(c => c.TreeSize)));
            Assert.Equal(120, stored.Keys.Max());

            var verification = await catalogs[2].VerifyAsync(key.Public);
            Assert.True(verification.IsIntact, string.Join("; ", verification.Problems.Select(p => p.Message)));
            Assert.Equal(stored.Count, verification.Checkpoints);
            Assert.Equal(120, verification.LatestCheckpoint?.TreeSize);
        }
        finally
        {
            await DisposeAllAsync(catalogs);
        }
    }

    private async Task<PostgresCatalog[]> OpenProcessesAsync(int count)
    {
        var catalogs = new PostgresCatalog[count];
        for (var i = 0; i < count; i++)
        {
            catalogs[i] = await _backend.OpenAsync();
        }

        return catalogs;
    }

    private static async Task DisposeAllAsync(IEnumerable<PostgresCatalog> catalogs)
    {
        foreach (var catalog in catalogs)
        {
            await catalog.DisposeAsync();
        }
    }
}
