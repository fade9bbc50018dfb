using Lineup.Core.Audit;
using Lineup.Storage.Postgres;
using Npgsql;

namespace Lineup.Storage.Tests;

/// <summary>The log every tamper test starts from: 10,000 varied events with signed checkpoints at 1,000, 5,000 and 10,000.</summary>
public static class TenThousandEventLog
{
    public const int Events = 10_000;
    public static readonly long[] CheckpointSizes = [1_000, 5_000, 10_000];

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
/// The <see cref="TenThousandEventLog"/> in one backend, written once; each test tampers with a copy of its own
/// (<see cref="CopyAsync"/>). A backend that cannot be reached skips every test (as <see cref="PostgresTestServer"/> says).
/// </summary>
public abstract class TenThousandEventLogFixture<TCatalog> : IAsyncLifetime
    where TCatalog : class, IAuditLog, IAsyncDisposable
{
    private readonly TempDirectory _dir = new("audit-10k");
    private string _witnessNote = "";
    private AuditPublicKey? _key;
    private SkipException? _skipped;

    protected TenThousandEventLogFixture(ICatalogBackend<TCatalog> pristine) => Pristine = pristine;

    public string DataDirectory => _dir.Combine("data");

    /// <summary>The checkpoint at 5,000 events as a witness keeps it: a signed note.</summary>
    public string WitnessNote => Built(_witnessNote);

    public AuditPublicKey Key => Built(_key)!;

    protected ICatalogBackend<TCatalog> Pristine { get; }

    public async Task InitializeAsync()
    {
        using var key = AuditSigningKey.LoadOrCreate(DataDirectory);
        _key = key.Public;
        try
        {
            await using var catalog = await Pristine.OpenAsync();
            var batch = new List<NewAuditEvent>();
            for (var i = 1; i <= TenThousandEventLog.Events; i++)
            {
                batch.Add(TenThousandEventLog.EventFor(i));
                if (batch.Count == 500)
                {
                    await catalog.AppendAsync(batch);
                    batch.Clear();
                    if (Array.IndexOf(TenThousandEventLog.CheckpointSizes, (long)i) >= 0)
                    {
                        var checkpoint = await catalog.CheckpointAsync(key);
                        if (i == 5_000)
                        {
                            _witnessNote = checkpoint.ToSignedNote(key);
                        }
                    }
                }
            }
        }
        catch (SkipException e)
        {
            _skipped = e;
        }
    }

    public async Task DisposeAsync()
    {
        await Pristine.DisposeAsync();
        _dir.Dispose();
    }

    /// <summary>A copy of the pristine log in a store of its own, with raw access to it.</summary>
    public async Task<AuditLogCopy<TCatalog>> CopyAsync()
    {
        if (_skipped is not null)
        {
            throw new SkipException(_skipped.Message);
        }

        return await CopyPristineAsync();
    }

    protected abstract Task<AuditLogCopy<TCatalog>> CopyPristineAsync();

    private T Built<T>(T value) => _skipped is null ? value : throw new SkipException(_skipped.Message);
}

/// <summary>A copy of the log: its own store (dropped on dispose) and raw access to it.</summary>
public sealed class AuditLogCopy<TCatalog>(ICatalogBackend<TCatalog> backend, AuditTamperer tamper) : IAsyncDisposable
    where TCatalog : IAsyncDisposable
{
    public AuditTamperer Tamper { get; } = tamper;

    public Task<TCatalog> OpenAsync() => backend.OpenAsync();

    public async ValueTask DisposeAsync()
    {
        await Tamper.DisposeAsync();
        await backend.DisposeAsync();
    }
}

/// <summary>The pristine log in a SQLite file; a copy is a copy of the file.</summary>
public sealed class SqliteTenThousandEventLog() : TenThousandEventLogFixture<SqliteCatalog>(new SqliteBackend())
{
    protected override async Task<AuditLogCopy<SqliteCatalog>> CopyPristineAsync()
    {
        var copy = new SqliteBackend();
        File.Copy(((SqliteBackend)Pristine).DatabasePath, copy.DatabasePath);
        return new AuditLogCopy<SqliteCatalog>(copy, await AuditTamperer.ForAsync(copy));
    }
}

/// <summary>The pristine log in a PostgreSQL schema; a copy is a new catalog schema holding the same audit rows.</summary>
public sealed class PostgresTenThousandEventLog() : TenThousandEventLogFixture<PostgresCatalog>(new PostgresBackend())
{
    protected override async Task<AuditLogCopy<PostgresCatalog>> CopyPristineAsync()
    {
        var pristine = new NpgsqlConnectionStringBuilder(await ((PostgresBackend)Pristine).ConnectionStringAsync()).SearchPath;
        var copy = new PostgresBackend();
        await (await copy.OpenAsync()).DisposeAsync();
        var tamper = await AuditTamperer.ForAsync(copy);
        await tamper.ExecuteAsync($"""
            INSERT INTO audit_events SELECT * FROM {pristine}.audit_events;
            INSERT INTO audit_checkpoints SELECT * FROM {pristine}.audit_checkpoints;
            UPDATE audit_tree SET (size, frontier) = (SELECT size, frontier FROM {pristine}.audit_tree WHERE id = 1) WHERE id = 1;
            """);
        return new AuditLogCopy<PostgresCatalog>(copy, tamper);
    }
}

public sealed class SqliteAuditTamperTests(SqliteTenThousandEventLog log)
    : AuditTamperContract<SqliteCatalog>(log), IClassFixture<SqliteTenThousandEventLog>;

public sealed class PostgresAuditTamperTests(PostgresTenThousandEventLog log)
    : AuditTamperContract<PostgresCatalog>(log), IClassFixture<PostgresTenThousandEventLog>;

/// <summary>
/// The audit acceptance test of the oversight issue: on a log of 10,000 events, every single-byte change, deletion,
/// reordering, truncation, insertion, wrong tree size and forged signature is detected, the untouched log verifies, and
/// a consistency proof from an old checkpoint verifies — and fails once history is rewritten. Tampering is raw SQL on
/// the database after taking off the append-only guards, as someone holding the SQLite file or allowed to alter the
/// PostgreSQL tables would do; both backends must detect the same things.
/// </summary>
public abstract class AuditTamperContract<TCatalog>(TenThousandEventLogFixture<TCatalog> log) : IDisposable
    where TCatalog : class, IAuditLog, IAsyncDisposable
{
    private static readonly string[] s_eventFields = ["at", "actor", "action", "subject", "details", "leaf_hash"];

    private readonly TempDirectory _dir = new("audit-tamper");

    public void Dispose()
    {
        _dir.Dispose();
        GC.SuppressFinalize(this);
    }

    [SkippableFact]
    public async Task The_untouched_log_verifies()
    {
        await using var copy = await log.CopyAsync();
        await using var catalog = await copy.OpenAsync();
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

    [SkippableFact]
    public async Task Six_hundred_single_byte_changes_spread_over_every_event_field_are_each_detected()
    {
        await using var copy = await log.CopyAsync();
        var tampered = new Dictionary<long, string>();
        await copy.Tamper.DropGuardsAsync();
        for (var k = 0; k < 600; k++)
        {
            // Spread over the whole log, every field, every byte position, with varying bit masks.
            var seq = 1 + ((k * 16_661L) % TenThousandEventLog.Events);
            while (tampered.ContainsKey(seq))
            {
                seq = (seq % TenThousandEventLog.Events) + 1;
            }

            var field = s_eventFields[k % s_eventFields.Length];
            var bytes = await copy.Tamper.ReadBytesAsync("audit_events", field, "seq", seq);
            var position = (k * 7919) % bytes.Length;
            bytes[position] ^= (byte)(1 + (k % 255));
            await copy.Tamper.WriteBytesAsync("audit_events", field, "seq", seq, bytes, asText: field != "leaf_hash");
            tampered[seq] = $"{field}[{position}]";
        }

        await using var catalog = await copy.OpenAsync();
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

    [SkippableTheory]
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
        await using var copy = await log.CopyAsync();
        await copy.Tamper.DropGuardsAsync();
        var bytes = await copy.Tamper.ReadBytesAsync("audit_events", field, "seq", seq);
        var at = position >= 0 ? position : bytes.Length + position;
        bytes[at] ^= 0x01;
        await copy.Tamper.WriteBytesAsync("audit_events", field, "seq", seq, bytes, asText: field != "leaf_hash");

        var report = await VerifyAsync(copy);
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

    [SkippableFact]
    public async Task A_changed_type_or_sequence_number_is_detected()
    {
        await using var copy = await log.CopyAsync();
        await copy.Tamper.DropGuardsAsync();
        await copy.Tamper.StoreValuesOfOtherTypesAsync(atSeq: 10, actorSeq: 20);
        await copy.Tamper.ExecuteAsync("UPDATE audit_events SET seq = seq + 65536 WHERE seq = 30");

        var report = await VerifyAsync(copy);
        Assert.Contains(report.Problems, p => p.Kind == AuditProblemKind.EventMalformed && p.Seq == 10);
        Assert.Contains(report.Problems, p => p.Kind == AuditProblemKind.EventMalformed && p.Seq == 20);
        Assert.Contains(report.Problems, p => p.Kind == AuditProblemKind.EventMissing && p.Seq == 30);
        Assert.Contains(report.Problems, p => p.Kind == AuditProblemKind.EventAltered && p.Seq == 30 + 65536);
        Assert.Equal(10, report.FirstBadSeq);
        Assert.Equal(1_000, report.FirstBadCheckpoint);
    }

    [SkippableFact]
    public async Task Deleting_an_event_is_detected()
    {
        await using var copy = await log.CopyAsync();
        await copy.Tamper.DropGuardsAsync();
        await copy.Tamper.ExecuteAsync("DELETE FROM audit_events WHERE seq = 6000");

        var report = await VerifyAsync(copy);
        Assert.False(report.IsIntact);
        Assert.Equal(6_000, report.FirstBadSeq);
        Assert.Contains(report.Problems, p => p.Kind == AuditProblemKind.EventMissing && p.Seq == 6_000);
        Assert.Contains(report.Problems, p => p.Kind == AuditProblemKind.CheckpointBeyondLog && p.CheckpointSize == 10_000);
        Assert.Contains(report.Problems, p => p.Kind == AuditProblemKind.TreeStateMismatch);
        Assert.Equal(9_999, report.Events);
    }

    [SkippableFact]
    public async Task Deleting_an_event_and_renumbering_the_rest_is_detected()
    {
        await using var copy = await log.CopyAsync();
        await copy.Tamper.DropGuardsAsync();
        await copy.Tamper.ExecuteAsync(
            "DELETE FROM audit_events WHERE seq = 2500; UPDATE audit_events SET seq = -(seq - 1) WHERE seq > 2500; UPDATE audit_events SET seq = -seq WHERE seq < 0;");

        var report = await VerifyAsync(copy);
        Assert.Equal(2_500, report.FirstBadSeq);
        Assert.DoesNotContain(report.Problems, p => p.Kind == AuditProblemKind.EventMissing);

        // Every renumbered event (2,500 to 9,999) hashes its old number; only the first 1,000 problems are listed.
        Assert.True(report.ProblemCount >= 7_500, $"{report.ProblemCount} problems");
        Assert.Equal(AuditVerification.MaxListedProblems, report.Problems.Count);
        Assert.Equal(5_000, report.FirstBadCheckpoint);
    }

    [SkippableTheory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Reordering_two_events_is_detected_even_with_recomputed_leaf_hashes(bool recomputeLeaves)
    {
        await using var copy = await log.CopyAsync();
        await copy.Tamper.DropGuardsAsync();
        await copy.Tamper.ExecuteAsync("""
            CREATE TEMP TABLE swap AS SELECT * FROM audit_events WHERE seq IN (3000, 7000);
            UPDATE audit_events SET (at, actor, action, subject, details, leaf_hash) =
                (SELECT at, actor, action, subject, details, leaf_hash FROM swap WHERE swap.seq = 10000 - audit_events.seq)
            WHERE seq IN (3000, 7000);
            """);
        if (recomputeLeaves)
        {
            await copy.Tamper.RecomputeLeavesAndTreeAsync();
        }

        var report = await VerifyAsync(copy);
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

    [SkippableFact]
    public async Task Truncating_the_log_is_detected()
    {
        await using var copy = await log.CopyAsync();
        await copy.Tamper.DropGuardsAsync();
        await copy.Tamper.ExecuteAsync("DELETE FROM audit_events WHERE seq > 9000");

        var report = await VerifyAsync(copy);
        Assert.False(report.IsIntact);
        Assert.Equal(9_000, report.Events);
        Assert.Equal(10_000, report.FirstBadCheckpoint);
        Assert.Contains(report.Problems, p => p.Kind == AuditProblemKind.CheckpointBeyondLog && p.CheckpointSize == 10_000);
        Assert.Contains(report.Problems, p => p.Kind == AuditProblemKind.TreeStateMismatch);
    }

    [SkippableFact]
    public async Task Truncating_the_log_and_its_checkpoints_and_tree_state_leaves_the_witness_to_notice()
    {
        await using var copy = await log.CopyAsync();
        await copy.Tamper.DropGuardsAsync();
        await copy.Tamper.ExecuteAsync("DELETE FROM audit_events WHERE seq > 4000; DELETE FROM audit_checkpoints WHERE tree_size > 4000;");
        await copy.Tamper.RecomputeLeavesAndTreeAsync();

        await using var catalog = await copy.OpenAsync();
        Assert.True((await catalog.VerifyAsync(log.Key)).IsIntact);
        var witnessed = CheckpointNote.Parse(log.WitnessNote).ToCheckpoint(log.Key)!;
        var head = await catalog.TreeHeadAsync();
        Assert.True(head.TreeSize < witnessed.TreeSize);
    }

    [SkippableTheory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Inserting_an_event_is_detected_even_with_recomputed_leaf_hashes(bool recomputeLeaves)
    {
        await using var copy = await log.CopyAsync();
        await copy.Tamper.DropGuardsAsync();
        await copy.Tamper.ExecuteAsync("UPDATE audit_events SET seq = -(seq + 1) WHERE seq > 2000; UPDATE audit_events SET seq = -seq WHERE seq < 0;");
        var forged = new NewAuditEvent("mallory", AuditActions.View, "image:1").At(2_001, DateTimeOffset.Parse("2025-01-01T00:00:00Z"));
        await copy.Tamper.ExecuteAsync(
            "INSERT INTO audit_events(seq, at, actor, action, subject, details, leaf_hash) VALUES (2001, @at, 'mallory', 'view', 'image:1', '{}', @leaf)",
            ("at", AuditEvent.FormatTime(forged.At)), ("leaf", forged.LeafHash()));
        if (recomputeLeaves)
        {
            await copy.Tamper.RecomputeLeavesAndTreeAsync();
        }

        var report = await VerifyAsync(copy);
        Assert.False(report.IsIntact);
        Assert.Equal(10_001, report.Events);
        Assert.Equal(5_000, report.FirstBadCheckpoint);
        if (!recomputeLeaves)
        {
            Assert.Equal(2_002, report.FirstBadSeq);
        }
    }

    [SkippableFact]
    public async Task Appending_an_event_behind_the_logs_back_is_detected()
    {
        await using var copy = await log.CopyAsync();
        var forged = new NewAuditEvent("mallory", AuditActions.Admin, "user:1").At(10_001, DateTimeOffset.Parse("2025-01-01T00:00:00Z"));
        await copy.Tamper.ExecuteAsync(
            "INSERT INTO audit_events(seq, at, actor, action, subject, details, leaf_hash) VALUES (10001, @at, 'mallory', 'admin', 'user:1', '{}', @leaf)",
            ("at", AuditEvent.FormatTime(forged.At)), ("leaf", forged.LeafHash()));

        var report = await VerifyAsync(copy);
        Assert.Equal(AuditProblemKind.TreeStateMismatch, Assert.Single(report.Problems).Kind);
    }

    [SkippableFact]
    public async Task A_wrong_tree_size_in_a_checkpoint_is_detected()
    {
        await using var copy = await log.CopyAsync();
        await copy.Tamper.DropGuardsAsync();
        await copy.Tamper.ExecuteAsync("UPDATE audit_checkpoints SET tree_size = 4999 WHERE tree_size = 5000");

        var report = await VerifyAsync(copy);
        Assert.Equal(4_999, report.FirstBadCheckpoint);
        Assert.Contains(report.Problems, p => p.Kind == AuditProblemKind.CheckpointRootMismatch && p.CheckpointSize == 4_999);
        Assert.Contains(report.Problems, p => p.Kind == AuditProblemKind.CheckpointSignatureInvalid && p.CheckpointSize == 4_999);
        Assert.Null(report.FirstBadSeq);
    }

    [SkippableTheory]
    [InlineData("root_hash")]
    [InlineData("at")]
    [InlineData("signature")]
    [InlineData("key_id")]
    public async Task A_changed_byte_in_any_checkpoint_field_is_detected_in_every_checkpoint(string field)
    {
        await using var copy = await log.CopyAsync();
        await copy.Tamper.DropGuardsAsync();
        var k = 0;
        foreach (var size in TenThousandEventLog.CheckpointSizes)
        {
            var bytes = await copy.Tamper.ReadBytesAsync("audit_checkpoints", field, "tree_size", size);
            bytes[(k++ * 13) % bytes.Length] ^= 0x04;
            await copy.Tamper.WriteBytesAsync("audit_checkpoints", field, "tree_size", size, bytes, asText: field is "at" or "key_id");
        }

        var report = await VerifyAsync(copy);
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

    [SkippableFact]
    public async Task A_checkpoint_signed_by_another_key_is_detected_whatever_key_id_it_claims()
    {
        await using var copy = await log.CopyAsync();
        using var mallory = AuditSigningKey.LoadOrCreate(_dir.Combine("mallory"));
        await copy.Tamper.DropGuardsAsync();
        var root = await copy.Tamper.ReadBytesAsync("audit_checkpoints", "root_hash", "tree_size", 5_000);
        var forged = Checkpoint.Sign(mallory, 5_000, root, DateTimeOffset.Parse("2025-01-01T00:00:00Z"));
        await copy.Tamper.ExecuteAsync(
            """
            UPDATE audit_checkpoints SET signature = @sig, at = @at, key_id = @key WHERE tree_size = 5000;
            UPDATE audit_checkpoints SET signature = @sig, at = @at, key_id = @mallory WHERE tree_size = 1000;
            """,
            ("sig", forged.Signature), ("at", AuditEvent.FormatTime(forged.Timestamp)), ("key", log.Key.KeyId), ("mallory", mallory.KeyId));

        var report = await VerifyAsync(copy);
        Assert.Contains(report.Problems, p => p.Kind == AuditProblemKind.CheckpointSignatureInvalid && p.CheckpointSize == 5_000);
        Assert.Contains(report.Problems, p => p.Kind == AuditProblemKind.CheckpointUnknownKey && p.CheckpointSize == 1_000);
        Assert.DoesNotContain(report.Problems, p => p.CheckpointSize == 10_000);
    }

    [SkippableFact]
    public async Task A_consistency_proof_from_the_witnessed_checkpoint_verifies_and_fails_once_history_is_rewritten()
    {
        var witnessed = CheckpointNote.Parse(log.WitnessNote).ToCheckpoint(log.Key);
        Assert.NotNull(witnessed);
        Assert.Equal(5_000, witnessed.TreeSize);

        await using var copy = await log.CopyAsync();
        await using (var catalog = await copy.OpenAsync())
        {
            var latest = (await catalog.ListCheckpointsAsync())[^1];
            var proof = await catalog.ConsistencyProofAsync(witnessed.TreeSize, latest.TreeSize);
            Assert.True(proof.Verify(witnessed.RootHash, latest.RootHash));
            Assert.False(proof.Verify(latest.RootHash, witnessed.RootHash));
            var inclusion = await catalog.InclusionProofAsync(4_321, witnessed.TreeSize);
            Assert.True(inclusion.Verify(witnessed.RootHash));
        }

        // Someone with the database and the signing key rewrites event 100 and every hash, tree state and checkpoint
        // after it, and signs fresh checkpoints: the log verifies on its own, but not against what the witness kept.
        await copy.Tamper.DropGuardsAsync();
        await copy.Tamper.ExecuteAsync("UPDATE audit_events SET actor = 'someone-else' WHERE seq = 100; DELETE FROM audit_checkpoints;");
        await copy.Tamper.RecomputeLeavesAndTreeAsync();

        using var key = AuditSigningKey.LoadOrCreate(log.DataDirectory);
        await using var rewritten = await copy.OpenAsync();
        var resigned = await rewritten.CheckpointAsync(key);
        Assert.True((await rewritten.VerifyAsync(log.Key)).IsIntact);
        Assert.Equal(10_000, resigned.TreeSize);

        var rewrittenProof = await rewritten.ConsistencyProofAsync(witnessed.TreeSize, resigned.TreeSize);
        Assert.False(rewrittenProof.Verify(witnessed.RootHash, resigned.RootHash));
        Assert.False((await rewritten.InclusionProofAsync(100, resigned.TreeSize)).Verify(witnessed.RootHash));
    }

    private async Task<AuditVerification> VerifyAsync(AuditLogCopy<TCatalog> copy)
    {
        await using var catalog = await copy.OpenAsync();
        return await catalog.VerifyAsync(log.Key);
    }

    private sealed class SyncProgress(Action<AuditVerifyProgress> report) : IProgress<AuditVerifyProgress>
    {
        public void Report(AuditVerifyProgress value) => report(value);
    }
}
