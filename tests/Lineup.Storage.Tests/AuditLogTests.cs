using Lineup.Core.Audit;
using Lineup.Core.Catalog;
using Microsoft.Data.Sqlite;

namespace Lineup.Storage.Tests;

/// <summary>The audit log in the real SQLite catalog: appends, the tree head, proofs, checkpoints, and the search event.</summary>
public sealed class AuditLogTests : IDisposable
{
    private static readonly DateTimeOffset s_start = DateTimeOffset.Parse("2025-03-04T05:06:07.1234567Z");

    private readonly TempDirectory _dir = new("audit");
    private readonly ManualClock _clock = new(s_start);

    public void Dispose() => _dir.Dispose();

    private string DbPath => _dir.File("catalog.db");

    private Task<SqliteCatalog> OpenAsync() => SqliteCatalog.OpenAsync(DbPath, TestData.Model, _clock);

    private static NewAuditEvent Event(int i) =>
        new($"user{i % 3}", (i % 2) == 0 ? AuditActions.View : AuditActions.Export, $"image:{i}", AuditDetails.Empty.With("n", i));

    [Fact]
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

    [Fact]
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

    [Fact]
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

    [Fact]
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

    [Fact]
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

    [Fact]
    public async Task A_search_whose_audit_event_cannot_be_written_is_not_recorded_and_the_reverse()
    {
        await using var catalog = await OpenAsync();
        await catalog.RecordSearchAsync(Search("alice", new string('b', 64), SearchOutcome.NoFace));

        // The event fails (an actor the log refuses): the search row rolls back with it.
        await Assert.ThrowsAnyAsync<ArgumentException>(() => catalog.RecordSearchAsync(Search("bad\nactor", new string('c', 64), SearchOutcome.NoFace)));

        // The log refuses the insert (as a full disk or a constraint would): the search rolls back too.
        await ExecuteAsync("CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_events BEGIN SELECT RAISE(ABORT, 'no'); END;");
        await Assert.ThrowsAsync<SqliteException>(() => catalog.RecordSearchAsync(Search("carol", new string('d', 64), SearchOutcome.NoFace)));
        await ExecuteAsync("DROP TRIGGER refuse_audit;");

        // And when the search insert fails, no event is appended.
        await ExecuteAsync("CREATE TRIGGER refuse_search BEFORE INSERT ON searches BEGIN SELECT RAISE(ABORT, 'no'); END;");
        await Assert.ThrowsAsync<SqliteException>(() => catalog.RecordSearchAsync(Search("dave", new string('e', 64), SearchOutcome.NoFace)));
        await ExecuteAsync("DROP TRIGGER refuse_search;");

        Assert.Equal(["alice"], (await catalog.ListSearchesAsync()).Select(s => s.By));
        Assert.Equal(["alice"], (await catalog.ReadEventsAsync()).Select(e => e.Actor));
        Assert.Equal(1, (await catalog.TreeHeadAsync()).TreeSize);
        Assert.True((await catalog.VerifyAsync(null)).IsIntact);

        await catalog.RecordSearchAsync(Search("erin", new string('f', 64), SearchOutcome.NoFace));
        Assert.Equal([1L, 2], (await catalog.ReadEventsAsync()).Select(e => e.Seq));
    }

    [Fact]
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

    [Fact]
    public async Task Appends_and_checkpoints_are_refused_once_the_stored_tree_disagrees_with_the_events()
    {
        using var key = AuditSigningKey.LoadOrCreate(_dir.Combine("data"));
        await using var catalog = await OpenAsync();
        await catalog.AppendAsync([Event(1), Event(2), Event(3)]);
        await catalog.CheckpointAsync(key);

        // The schema itself refuses rewriting history through SQL...
        await Assert.ThrowsAsync<SqliteException>(() => ExecuteAsync("UPDATE audit_events SET actor = 'mallory' WHERE seq = 2"));
        await Assert.ThrowsAsync<SqliteException>(() => ExecuteAsync("DELETE FROM audit_events WHERE seq = 3"));
        await Assert.ThrowsAsync<SqliteException>(() => ExecuteAsync("DELETE FROM audit_checkpoints"));

        // ...and once someone with the file drops the guard and removes the last event, nothing more is appended or signed.
        await ExecuteAsync("DROP TRIGGER audit_events_no_delete; DELETE FROM audit_events WHERE seq = 3;");
        var refused = await Assert.ThrowsAsync<CatalogException>(() => catalog.AppendAsync(Event(4)));
        Assert.Contains("altered outside Lineup", refused.Message);
        await Assert.ThrowsAsync<CatalogException>(() => catalog.RecordSearchAsync(Search("alice", new string('a', 64), SearchOutcome.NoFace)));
        await Assert.ThrowsAsync<CatalogException>(() => catalog.CheckpointAsync(key));
        Assert.Empty(await catalog.ListSearchesAsync());
        Assert.Single(await catalog.ListCheckpointsAsync());
    }

    [Fact]
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

        await ExecuteAsync("DROP TRIGGER audit_events_no_update;");
        await using (var raw = Raw())
        {
            using var command = raw.CreateCommand();
            command.CommandText = """
                UPDATE audit_events SET actor = 'mallory', action = 'view', subject = 'image:2', details = '{}', leaf_hash = $leaf WHERE seq = 2;
                UPDATE audit_tree SET frontier = $frontier WHERE id = 1;
                """;
            command.Parameters.AddWithValue("$leaf", forged.LeafHash());
            command.Parameters.AddWithValue("$frontier", frontier.ToBytes());
            await command.ExecuteNonQueryAsync();
        }

        var refused = await Assert.ThrowsAsync<CatalogException>(() => catalog.CheckpointAsync(key));
        Assert.Contains("no longer extend the checkpoint at size 3", refused.Message);
        Assert.Single(await catalog.ListCheckpointsAsync());
        var verification = await catalog.VerifyAsync(key.Public);
        Assert.False(verification.IsIntact);
        Assert.Equal(3, verification.FirstBadCheckpoint);
    }

    private static SearchRecord Search(string by, string sha, SearchOutcome outcome) =>
        new(s_start, by, sha, 1, 1, 80f, 40f, null, outcome, "top=10", TestData.Model, 100, 3, 2, 12.5);

    private SqliteConnection Raw()
    {
        var connection = new SqliteConnection($"Data Source={DbPath};Pooling=False");
        connection.Open();
        return connection;
    }

    private async Task ExecuteAsync(string sql)
    {
        await using var connection = Raw();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync();
    }

    private sealed class ManualClock(DateTimeOffset start) : TimeProvider
    {
        private DateTimeOffset _now = start;

        public override DateTimeOffset GetUtcNow() => _now;

        public void Advance(TimeSpan by) => _now += by;
    }
}
