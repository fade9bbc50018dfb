using Lineup.Core.Audit;
using Microsoft.Data.Sqlite;

namespace Lineup.Storage.Tests;

/// <summary>
/// A log of 10,000 events with signed checkpoints at 1,000, 5,000 and 10,000 events, written once; each test tampers
/// with its own copy of the file.
/// </summary>
public sealed class TenThousandEventLog : IAsyncLifetime
{
    public const int Events = 10_000;
    public static readonly long[] CheckpointSizes = [1_000, 5_000, 10_000];

    private readonly TempDirectory _dir = new("audit-10k");

    public string DataDirectory => _dir.Combine("data");

    public string PristinePath => _dir.File("pristine.db");

    /// <summary>The checkpoint at 5,000 events as a witness keeps it: a signed note.</summary>
    public string WitnessNote { get; private set; } = "";

    public AuditPublicKey Key { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        using var key = AuditSigningKey.LoadOrCreate(DataDirectory);
        Key = key.Public;
        await using var catalog = await SqliteCatalog.OpenAsync(PristinePath, TestData.Model);
        var batch = new List<NewAuditEvent>();
        for (var i = 1; i <= Events; i++)
        {
            batch.Add(EventFor(i));
            if (batch.Count == 500)
            {
                await catalog.AppendAsync(batch);
                batch.Clear();
                if (Array.IndexOf(CheckpointSizes, (long)i) >= 0)
                {
                    var checkpoint = await catalog.CheckpointAsync(key);
                    if (i == 5_000)
                    {
                        WitnessNote = checkpoint.ToSignedNote(key);
                    }
                }
            }
        }
    }

    public Task DisposeAsync()
    {
        _dir.Dispose();
        return Task.CompletedTask;
    }

    /// <summary>Varied actors, actions, subjects and details, with quotes and non-ASCII text among them.</summary>
    public static NewAuditEvent EventFor(int i)
    {
        string[] actions = [AuditActions.SignIn, AuditActions.Search, AuditActions.View, AuditActions.Confirm, AuditActions.Export, AuditActions.Admin, AuditActions.Erasure];
        var details = AuditDetails.Empty.With("n", i);
        if (i % 3 == 0)
        {
            details = details.With("outcome", i % 2 == 0 ? "candidates" : "no_candidate_above_threshold").With("candidates", i % 11);
        }

        if (i % 5 == 0)
        {
            details = details.With("reason", $"case \"{i}\" — revisión ñ {i % 97}").With("score", i / 10_000.0);
        }

        return new NewAuditEvent($"user{i % 17}@unit-{i % 5}", actions[i % actions.Length], $"image:{i * 7}", details);
    }
}

/// <summary>
/// The audit acceptance test of the oversight issue: on a log of 10,000 events, every single-byte change, deletion,
/// reordering, truncation, insertion, wrong tree size and forged signature is detected, the untouched log verifies, and
/// a consistency proof from an old checkpoint verifies — and fails once history is rewritten. Tampering is raw SQL on
/// the SQLite file after dropping the append-only triggers, as someone holding the file would do.
/// </summary>
public sealed class AuditTamperTests(TenThousandEventLog log) : IClassFixture<TenThousandEventLog>, IDisposable
{
    private static readonly string[] s_eventFields = ["at", "actor", "action", "subject", "details", "leaf_hash"];

    private readonly TempDirectory _dir = new("audit-tamper");

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task The_untouched_log_verifies()
    {
        var path = Copy();
        await using var catalog = await SqliteCatalog.OpenAsync(path, TestData.Model);
        var progress = new List<AuditVerifyProgress>();
        var report = await catalog.VerifyAsync(log.Key, new SyncProgress(progress.Add));

        Assert.True(report.IsIntact, string.Join("; ", report.Problems.Take(5).Select(p => p.Message)));
        Assert.Equal(TenThousandEventLog.Events, report.Events);
        Assert.Equal(3, report.Checkpoints);
        Assert.Equal(TenThousandEventLog.Events, report.LatestCheckpoint?.TreeSize);
        Assert.Equal(0, report.UnanchoredEvents);
        Assert.Null(report.FirstBadSeq);
        Assert.Equal((await catalog.TreeHeadAsync()).RootHash, report.Head.RootHash);
        Assert.Equal(report.LatestCheckpoint!.RootHash, report.Head.RootHash);
        Assert.Equal(new AuditVerifyProgress(TenThousandEventLog.Events, TenThousandEventLog.Events), progress[^1]);
        Assert.True(progress.Count >= 3);
    }

    [Fact]
    public async Task Six_hundred_single_byte_changes_spread_over_every_event_field_are_each_detected()
    {
        var path = Copy();
        var tampered = new Dictionary<long, string>();
        await using (var raw = Raw(path))
        {
            DropGuards(raw);
            for (var k = 0; k < 600; k++)
            {
                // Spread over the whole log, every field, every byte position, with varying bit masks.
                var seq = 1 + ((k * 16_661L) % TenThousandEventLog.Events);
                while (tampered.ContainsKey(seq))
                {
                    seq = (seq % TenThousandEventLog.Events) + 1;
                }

                var field = s_eventFields[k % s_eventFields.Length];
                var bytes = ReadBytes(raw, "audit_events", field, "seq", seq);
                var position = (k * 7919) % bytes.Length;
                bytes[position] ^= (byte)(1 + (k % 255));
                WriteBytes(raw, "audit_events", field, "seq", seq, bytes, asText: field != "leaf_hash");
                tampered[seq] = $"{field}[{position}]";
            }
        }

        await using var catalog = await SqliteCatalog.OpenAsync(path, TestData.Model);
        var report = await catalog.VerifyAsync(log.Key);

        Assert.False(report.IsIntact);
        var flagged = report.Problems
            .Where(p => p.Kind is AuditProblemKind.EventAltered or AuditProblemKind.EventMalformed)
            .Select(p => p.Seq!.Value)
            .ToHashSet();
        var missed = tampered.Where(t => !flagged.Contains(t.Key)).Select(t => $"event {t.Key} {t.Value}").ToList();
        Assert.True(missed.Count == 0, $"undetected: {string.Join(", ", missed)}");
        Assert.Equal(tampered.Count, flagged.Count);
        Assert.Equal(tampered.Keys.Min(), report.FirstBadSeq);
        Assert.Contains(s_eventFields, f => tampered.Values.Any(v => v.StartsWith(f + "[", StringComparison.Ordinal)));
        Assert.All(s_eventFields, f => Assert.Contains(tampered.Values, v => v.StartsWith(f + "[", StringComparison.Ordinal)));
    }

    [Theory]
    [InlineData("at", 0)]
    [InlineData("at", 26)]
    [InlineData("actor", 0)]
    [InlineData("action", 2)]
    [InlineData("subject", 6)]
    [InlineData("details", 1)]
    [InlineData("details", -2)]
    [InlineData("leaf_hash", 0)]
    [InlineData("leaf_hash", 31)]
    public async Task One_changed_byte_in_one_event_names_that_event_and_every_checkpoint_after_it(string field, int position)
    {
        const long seq = 4_321;
        var path = Copy();
        await using (var raw = Raw(path))
        {
            DropGuards(raw);
            var bytes = ReadBytes(raw, "audit_events", field, "seq", seq);
            var at = position >= 0 ? position : bytes.Length + position;
            bytes[at] ^= 0x01;
            WriteBytes(raw, "audit_events", field, "seq", seq, bytes, asText: field != "leaf_hash");
        }

        var report = await VerifyAsync(path);
        Assert.False(report.IsIntact);
        Assert.Equal(seq, report.FirstBadSeq);
        var problem = Assert.Single(report.Problems, p => p.Seq is not null);
        Assert.Equal(seq, problem.Seq);
        if (field == "leaf_hash")
        {
            // The fields still hash to the original leaf, so the tree and every checkpoint are intact: only the stored hash is wrong.
            Assert.Equal(AuditProblemKind.EventAltered, problem.Kind);
            Assert.Single(report.Problems);
        }
        else
        {
            Assert.Equal(5_000, report.FirstBadCheckpoint);
            Assert.Contains(report.Problems, p => p.Kind == AuditProblemKind.CheckpointRootMismatch && p.CheckpointSize == 10_000);
            Assert.DoesNotContain(report.Problems, p => p.CheckpointSize == 1_000);
        }
    }

    [Fact]
    public async Task A_changed_type_or_sequence_number_is_detected()
    {
        var path = Copy();
        await using (var raw = Raw(path))
        {
            DropGuards(raw);
            Execute(raw, "UPDATE audit_events SET at = 20250304 WHERE seq = 10");
            Execute(raw, "UPDATE audit_events SET actor = CAST(actor AS BLOB) WHERE seq = 20");
            Execute(raw, "UPDATE audit_events SET seq = seq + 65536 WHERE seq = 30");
        }

        var report = await VerifyAsync(path);
        Assert.Contains(report.Problems, p => p.Kind == AuditProblemKind.EventMalformed && p.Seq == 10);
        Assert.Contains(report.Problems, p => p.Kind == AuditProblemKind.EventMalformed && p.Seq == 20);
        Assert.Contains(report.Problems, p => p.Kind == AuditProblemKind.EventMissing && p.Seq == 30);
        Assert.Contains(report.Problems, p => p.Kind == AuditProblemKind.EventAltered && p.Seq == 30 + 65536);
        Assert.Equal(10, report.FirstBadSeq);
        Assert.Equal(1_000, report.FirstBadCheckpoint);
    }

    [Fact]
    public async Task Deleting_an_event_is_detected()
    {
        var path = Copy();
        await using (var raw = Raw(path))
        {
            DropGuards(raw);
            Execute(raw, "DELETE FROM audit_events WHERE seq = 6_000");
        }

        var report = await VerifyAsync(path);
        Assert.False(report.IsIntact);
        Assert.Equal(6_000, report.FirstBadSeq);
        Assert.Contains(report.Problems, p => p.Kind == AuditProblemKind.EventMissing && p.Seq == 6_000);
        Assert.Contains(report.Problems, p => p.Kind == AuditProblemKind.CheckpointBeyondLog && p.CheckpointSize == 10_000);
        Assert.Contains(report.Problems, p => p.Kind == AuditProblemKind.TreeStateMismatch);
        Assert.Equal(9_999, report.Events);
    }

    [Fact]
    public async Task Deleting_an_event_and_renumbering_the_rest_is_detected()
    {
        var path = Copy();
        await using (var raw = Raw(path))
        {
            DropGuards(raw);
            Execute(raw, "DELETE FROM audit_events WHERE seq = 2_500; UPDATE audit_events SET seq = -(seq - 1) WHERE seq > 2_500; UPDATE audit_events SET seq = -seq WHERE seq < 0;");
        }

        var report = await VerifyAsync(path);
        Assert.Equal(2_500, report.FirstBadSeq);
        Assert.DoesNotContain(report.Problems, p => p.Kind == AuditProblemKind.EventMissing);

        // Every renumbered event (2,500 to 9,999) hashes its old number; only the first 1,000 problems are listed.
        Assert.True(report.ProblemCount >= 7_500, $"{report.ProblemCount} problems");
        Assert.Equal(AuditVerification.MaxListedProblems, report.Problems.Count);
        Assert.Equal(5_000, report.FirstBadCheckpoint);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Reordering_two_events_is_detected_even_with_recomputed_leaf_hashes(bool recomputeLeaves)
    {
        var path = Copy();
        await using (var raw = Raw(path))
        {
            DropGuards(raw);
            Execute(raw, """
                CREATE TEMP TABLE swap AS SELECT * FROM audit_events WHERE seq IN (3000, 7000);
                UPDATE audit_events SET (at, actor, action, subject, details, leaf_hash) =
                    (SELECT at, actor, action, subject, details, leaf_hash FROM swap WHERE swap.seq = 10000 - audit_events.seq)
                WHERE seq IN (3000, 7000);
                """);
            if (recomputeLeaves)
            {
                RecomputeLeavesAndTree(raw);
            }
        }

        var report = await VerifyAsync(path);
        Assert.False(report.IsIntact);
        if (recomputeLeaves)
        {
            // Every stored hash now matches its fields: only the signed roots can tell.
            Assert.DoesNotContain(report.Problems, p => p.Seq is not null);
            Assert.Equal(5_000, report.FirstBadCheckpoint);
            Assert.Contains(report.Problems, p => p.Kind == AuditProblemKind.CheckpointRootMismatch && p.CheckpointSize == 10_000);
        }
        else
        {
            Assert.Equal([3_000L, 7_000], report.Problems.Where(p => p.Kind == AuditProblemKind.EventAltered).Select(p => p.Seq!.Value));
        }
    }

    [Fact]
    public async Task Truncating_the_log_is_detected()
    {
        var path = Copy();
        await using (var raw = Raw(path))
        {
            DropGuards(raw);
            Execute(raw, "DELETE FROM audit_events WHERE seq > 9_000");
        }

        var report = await VerifyAsync(path);
        Assert.False(report.IsIntact);
        Assert.Equal(9_000, report.Events);
        Assert.Equal(10_000, report.FirstBadCheckpoint);
        Assert.Contains(report.Problems, p => p.Kind == AuditProblemKind.CheckpointBeyondLog && p.CheckpointSize == 10_000);
        Assert.Contains(report.Problems, p => p.Kind == AuditProblemKind.TreeStateMismatch);
    }

    [Fact]
    public async Task Truncating_the_log_and_its_checkpoints_and_tree_state_leaves_the_witness_to_notice()
    {
        var path = Copy();
        await using (var raw = Raw(path))
        {
            DropGuards(raw);
            Execute(raw, "DELETE FROM audit_events WHERE seq > 4_000; DELETE FROM audit_checkpoints WHERE tree_size > 4_000;");
            RecomputeLeavesAndTree(raw);
        }

        await using var catalog = await SqliteCatalog.OpenAsync(path, TestData.Model);
        Assert.True((await catalog.VerifyAsync(log.Key)).IsIntact);
        var witnessed = CheckpointNote.Parse(log.WitnessNote).ToCheckpoint(log.Key)!;
        var head = await catalog.TreeHeadAsync();
        Assert.True(head.TreeSize < witnessed.TreeSize);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Inserting_an_event_is_detected_even_with_recomputed_leaf_hashes(bool recomputeLeaves)
    {
        var path = Copy();
        await using (var raw = Raw(path))
        {
            DropGuards(raw);
            Execute(raw, "UPDATE audit_events SET seq = -(seq + 1) WHERE seq > 2_000; UPDATE audit_events SET seq = -seq WHERE seq < 0;");
            var forged = new NewAuditEvent("mallory", AuditActions.View, "image:1").At(2_001, DateTimeOffset.Parse("2025-01-01T00:00:00Z"));
            using var insert = raw.CreateCommand();
            insert.CommandText = "INSERT INTO audit_events(seq, at, actor, action, subject, details, leaf_hash) VALUES (2001, $at, 'mallory', 'view', 'image:1', '{}', $leaf)";
            insert.Parameters.AddWithValue("$at", AuditEvent.FormatTime(forged.At));
            insert.Parameters.AddWithValue("$leaf", forged.LeafHash());
            insert.ExecuteNonQuery();
            if (recomputeLeaves)
            {
                RecomputeLeavesAndTree(raw);
            }
        }

        var report = await VerifyAsync(path);
        Assert.False(report.IsIntact);
        Assert.Equal(10_001, report.Events);
        Assert.Equal(5_000, report.FirstBadCheckpoint);
        if (!recomputeLeaves)
        {
            Assert.Equal(2_002, report.FirstBadSeq);
        }
    }

    [Fact]
    public async Task Appending_an_event_behind_the_logs_back_is_detected()
    {
        var path = Copy();
        await using (var raw = Raw(path))
        {
            var forged = new NewAuditEvent("mallory", AuditActions.Admin, "user:1").At(10_001, DateTimeOffset.Parse("2025-01-01T00:00:00Z"));
            using var insert = raw.CreateCommand();
            insert.CommandText = "INSERT INTO audit_events(seq, at, actor, action, subject, details, leaf_hash) VALUES (10001, $at, 'mallory', 'admin', 'user:1', '{}', $leaf)";
            insert.Parameters.AddWithValue("$at", AuditEvent.FormatTime(forged.At));
            insert.Parameters.AddWithValue("$leaf", forged.LeafHash());
            insert.ExecuteNonQuery();
        }

        var report = await VerifyAsync(path);
        Assert.Equal(AuditProblemKind.TreeStateMismatch, Assert.Single(report.Problems).Kind);
    }

    [Fact]
    public async Task A_wrong_tree_size_in_a_checkpoint_is_detected()
    {
        var path = Copy();
        await using (var raw = Raw(path))
        {
            DropGuards(raw);
            Execute(raw, "UPDATE audit_checkpoints SET tree_size = 4_999 WHERE tree_size = 5_000");
        }

        var report = await VerifyAsync(path);
        Assert.Equal(4_999, report.FirstBadCheckpoint);
        Assert.Contains(report.Problems, p => p.Kind == AuditProblemKind.CheckpointRootMismatch && p.CheckpointSize == 4_999);
        Assert.Contains(report.Problems, p => p.Kind == AuditProblemKind.CheckpointSignatureInvalid && p.CheckpointSize == 4_999);
        Assert.Null(report.FirstBadSeq);
    }

    [Theory]
    [InlineData("root_hash")]
    [InlineData("at")]
    [InlineData("signature")]
    [InlineData("key_id")]
    public async Task A_changed_byte_in_any_checkpoint_field_is_detected_in_every_checkpoint(string field)
    {
        var path = Copy();
        await using (var raw = Raw(path))
        {
            DropGuards(raw);
            var k = 0;
            foreach (var size in TenThousandEventLog.CheckpointSizes)
            {
                var bytes = ReadBytes(raw, "audit_checkpoints", field, "tree_size", size);
                bytes[(k++ * 13) % bytes.Length] ^= 0x04;
                WriteBytes(raw, "audit_checkpoints", field, "tree_size", size, bytes, asText: field is "at" or "key_id");
            }
        }

        var report = await VerifyAsync(path);
        Assert.Equal(TenThousandEventLog.CheckpointSizes, report.Problems.Select(p => p.CheckpointSize!.Value).Distinct().Order());
        Assert.Null(report.FirstBadSeq);
        var expected = field switch
        {
            "key_id" => AuditProblemKind.CheckpointUnknownKey,
            "root_hash" => AuditProblemKind.CheckpointRootMismatch,
            _ => AuditProblemKind.CheckpointSignatureInvalid,
        };
        Assert.All(TenThousandEventLog.CheckpointSizes, size => Assert.Contains(report.Problems, p => p.Kind == expected && p.CheckpointSize == size));
    }

    [Fact]
    public async Task A_checkpoint_signed_by_another_key_is_detected_whatever_key_id_it_claims()
    {
        var path = Copy();
        using var mallory = AuditSigningKey.LoadOrCreate(_dir.Combine("mallory"));
        await using (var raw = Raw(path))
        {
            DropGuards(raw);
            var root = ReadBytes(raw, "audit_checkpoints", "root_hash", "tree_size", 5_000);
            var forged = Checkpoint.Sign(mallory, 5_000, root, DateTimeOffset.Parse("2025-01-01T00:00:00Z"));
            using var update = raw.CreateCommand();
            update.CommandText = """
                UPDATE audit_checkpoints SET signature = $sig, at = $at, key_id = $key WHERE tree_size = 5000;
                UPDATE audit_checkpoints SET signature = $sig, at = $at, key_id = $mallory WHERE tree_size = 1000;
                """;
            update.Parameters.AddWithValue("$sig", forged.Signature);
            update.Parameters.AddWithValue("$at", AuditEvent.FormatTime(forged.Timestamp));
            update.Parameters.AddWithValue("$key", log.Key.KeyId);
            update.Parameters.AddWithValue("$mallory", mallory.KeyId);
            update.ExecuteNonQuery();
        }

        var report = await VerifyAsync(path);
        Assert.Contains(report.Problems, p => p.Kind == AuditProblemKind.CheckpointSignatureInvalid && p.CheckpointSize == 5_000);
        Assert.Contains(report.Problems, p => p.Kind == AuditProblemKind.CheckpointUnknownKey && p.CheckpointSize == 1_000);
        Assert.DoesNotContain(report.Problems, p => p.CheckpointSize == 10_000);
    }

    [Fact]
    public async Task A_consistency_proof_from_the_witnessed_checkpoint_verifies_and_fails_once_history_is_rewritten()
    {
        var witnessed = CheckpointNote.Parse(log.WitnessNote).ToCheckpoint(log.Key);
        Assert.NotNull(witnessed);
        Assert.Equal(5_000, witnessed.TreeSize);

        var path = Copy();
        await using (var catalog = await SqliteCatalog.OpenAsync(path, TestData.Model))
        {
            var latest = (await catalog.ListCheckpointsAsync())[^1];
            var proof = await catalog.ConsistencyProofAsync(witnessed.TreeSize, latest.TreeSize);
            Assert.True(proof.Verify(witnessed.RootHash, latest.RootHash));
            Assert.False(proof.Verify(latest.RootHash, witnessed.RootHash));
            var inclusion = await catalog.InclusionProofAsync(4_321, witnessed.TreeSize);
            Assert.True(inclusion.Verify(witnessed.RootHash));
        }

        // Someone with the file and the signing key rewrites event 100 and every hash, tree state and checkpoint after
        // it, and signs fresh checkpoints: the log verifies on its own, but not against what the witness kept.
        await using (var raw = Raw(path))
        {
            DropGuards(raw);
            Execute(raw, "UPDATE audit_events SET actor = 'someone-else' WHERE seq = 100; DELETE FROM audit_checkpoints;");
            RecomputeLeavesAndTree(raw);
        }

        using var key = AuditSigningKey.LoadOrCreate(log.DataDirectory);
        await using var rewritten = await SqliteCatalog.OpenAsync(path, TestData.Model);
        var resigned = await rewritten.CheckpointAsync(key);
        Assert.True((await rewritten.VerifyAsync(log.Key)).IsIntact);
        Assert.Equal(10_000, resigned.TreeSize);

        var rewrittenProof = await rewritten.ConsistencyProofAsync(witnessed.TreeSize, resigned.TreeSize);
        Assert.False(rewrittenProof.Verify(witnessed.RootHash, resigned.RootHash));
        Assert.False((await rewritten.InclusionProofAsync(100, resigned.TreeSize)).Verify(witnessed.RootHash));
    }

    private async Task<AuditVerification> VerifyAsync(string path)
    {
        await using var catalog = await SqliteCatalog.OpenAsync(path, TestData.Model);
        return await catalog.VerifyAsync(log.Key);
    }

    private string Copy()
    {
        var path = _dir.File($"{Guid.NewGuid():N}.db");
        File.Copy(log.PristinePath, path);
        return path;
    }

    private static SqliteConnection Raw(string path)
    {
        var connection = new SqliteConnection($"Data Source={path};Pooling=False");
        connection.Open();
        return connection;
    }

    private static void Execute(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    private static void DropGuards(SqliteConnection connection) => Execute(connection, """
        DROP TRIGGER audit_events_no_update; DROP TRIGGER audit_events_no_delete;
        DROP TRIGGER audit_checkpoints_no_update; DROP TRIGGER audit_checkpoints_no_delete;
        """);

    private static byte[] ReadBytes(SqliteConnection connection, string table, string field, string key, long id)
    {
        using var command = connection.CreateCommand();
        command.CommandText = $"SELECT CAST({field} AS BLOB) FROM {table} WHERE {key} = $id";
        command.Parameters.AddWithValue("$id", id);
        return (byte[])command.ExecuteScalar()!;
    }

    /// <summary>Writes raw bytes back; text columns get them as TEXT whether or not they are still valid UTF-8.</summary>
    private static void WriteBytes(SqliteConnection connection, string table, string field, string key, long id, byte[] bytes, bool asText)
    {
        using var command = connection.CreateCommand();
        command.CommandText = asText
            ? $"UPDATE {table} SET {field} = CAST($value AS TEXT) WHERE {key} = $id"
            : $"UPDATE {table} SET {field} = $value WHERE {key} = $id";
        command.Parameters.AddWithValue("$value", bytes);
        command.Parameters.AddWithValue("$id", id);
        Assert.Equal(1, command.ExecuteNonQuery());
    }

    /// <summary>What a careful forger does after changing events: every leaf hash recomputed from the fields, and the tree state.</summary>
    private static void RecomputeLeavesAndTree(SqliteConnection connection)
    {
        var rows = new List<(long Seq, byte[] Leaf)>();
        using (var read = connection.CreateCommand())
        {
            read.CommandText = "SELECT seq, at, actor, action, subject, details FROM audit_events ORDER BY seq";
            using var reader = read.ExecuteReader();
            while (reader.Read())
            {
                var e = new AuditEvent(reader.GetInt64(0), AuditEvent.ParseTime(reader.GetString(1)), reader.GetString(2), reader.GetString(3),
                    reader.GetString(4), AuditDetails.Parse(reader.GetString(5)));
                rows.Add((e.Seq, e.LeafHash()));
            }
        }

        var frontier = new MerkleFrontier();
        using var tx = connection.BeginTransaction();
        using var update = connection.CreateCommand();
        update.Transaction = tx;
        update.CommandText = "UPDATE audit_events SET leaf_hash = $leaf WHERE seq = $seq";
        var leaf = update.Parameters.Add("$leaf", SqliteType.Blob);
        var seq = update.Parameters.Add("$seq", SqliteType.Integer);
        foreach (var row in rows)
        {
            leaf.Value = row.Leaf;
            seq.Value = row.Seq;
            update.ExecuteNonQuery();
            frontier.Append(row.Leaf);
        }

        using var tree = connection.CreateCommand();
        tree.Transaction = tx;
        tree.CommandText = "UPDATE audit_tree SET size = $size, frontier = $frontier WHERE id = 1";
        tree.Parameters.AddWithValue("$size", frontier.Size);
        tree.Parameters.AddWithValue("$frontier", frontier.ToBytes());
        tree.ExecuteNonQuery();
        tx.Commit();
    }

    private sealed class SyncProgress(Action<AuditVerifyProgress> report) : IProgress<AuditVerifyProgress>
    {
        public void Report(AuditVerifyProgress value) => report(value);
    }
}
