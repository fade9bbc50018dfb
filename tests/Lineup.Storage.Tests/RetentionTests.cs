using Lineup.Core.Audit;
using Lineup.Core.Catalog;
using Lineup.Core.Oversight;
using Lineup.Core.Security;
using Lineup.Storage.Postgres;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Time.Testing;
using Npgsql;

namespace Lineup.Storage.Tests;

/// <summary>
/// Retention in the real catalog, on each backend: settings and their audit events, the sweep per data class with
/// legal holds, and audit pruning that leaves every checkpoint and proof verifiable while a blanked recent event is
/// still caught. The tests that edit the database by hand do it through the backend's hooks (its own SQL).
/// </summary>
public abstract class RetentionStoreContract<TCatalog>(ICatalogBackend<TCatalog> backend) : IAsyncLifetime
    where TCatalog : class, IAsyncDisposable, IUserStore, ICaseStore, ISearchLog, IAuditLog, IRetentionStore
{
    private static readonly DateTimeOffset s_start = DateTimeOffset.Parse("2025-03-04T05:06:07.1234567Z");

    private readonly TempDirectory _dir = new("retention");
    private readonly FakeTimeProvider _clock = new(s_start);

    protected ICatalogBackend<TCatalog> Backend { get; } = backend;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        await Backend.DisposeAsync();
        _dir.Dispose();
    }

    private Task<TCatalog> OpenAsync() => Backend.OpenAsync(_clock);

    /// <summary>Runs <paramref name="sql"/> on a connection of its own, outside the catalog.</summary>
    protected Task ExecuteRawAsync(string sql) => BackendSql.ExecuteAsync(Backend, sql);

    /// <summary>The first column of the first row of <paramref name="sql"/>, as an integer.</summary>
    protected Task<long> ScalarRawAsync(string sql) => BackendSql.ScalarAsync(Backend, sql);

    /// <summary>Asserts that the database refuses <paramref name="sql"/> with the backend's own exception type.</summary>
    protected abstract Task AssertRawRefusedAsync(string sql);

    /// <summary>The statement that drops the audit events' append-only trigger.</summary>
    protected abstract string DropAuditTriggerSql { get; }

    /// <summary>A blob literal of the backend's SQL from hex digits.</summary>
    protected abstract string BlobLiteral(string hex);

    [SkippableFact]
    public async Task Settings_start_at_the_defaults_and_each_change_is_validated_and_audited()
    {
        await using var catalog = await OpenAsync();
        var defaults = await catalog.GetRetentionAsync();
        Assert.Equal(DataClasses.All, defaults.Select(s => s.DataClass));
        Assert.Equal([90, 365, 3650], defaults.Select(s => s.TtlDays));
        Assert.All(defaults, s => Assert.True(s.IsDefault));

        _clock.Advance(TimeSpan.FromMinutes(5));
        var set = await catalog.SetRetentionAsync("Probe-Images", 30, "admin-a");
        Assert.Equal(new RetentionSetting(DataClasses.ProbeImages, 30, s_start.AddMinutes(5), "admin-a"), set);
        var read = await catalog.GetRetentionAsync();
        Assert.Equal([30, 365, 3650], read.Select(s => s.TtlDays));
        Assert.False(read[0].IsDefault);
        Assert.True(read[1].IsDefault);

        var logged = (await catalog.ReadEventsAsync()).Last();
        Assert.Equal((AuditActions.Admin, "retention:probe_images", "admin-a"), (logged.Action, logged.Subject, logged.Actor));
        Assert.Equal(30, logged.Details["ttl_days"]!.Value.Integer);
        Assert.Equal(90, logged.Details["previous_ttl_days"]!.Value.Integer);

        // Refused: no class, a TTL under a day or over a century, audit events kept shorter than candidate lists.
        var events = (await catalog.TreeHeadAsync()).TreeSize;
        await Assert.ThrowsAsync<ArgumentException>(() => catalog.SetRetentionAsync("thumbnails", 30, "admin-a"));
        await Assert.ThrowsAsync<ArgumentException>(() => catalog.SetRetentionAsync(DataClasses.ProbeImages, 0, "admin-a"));
        await Assert.ThrowsAsync<ArgumentException>(() => catalog.SetRetentionAsync(DataClasses.ProbeImages, RetentionPolicy.MaxDays + 1, "admin-a"));
        var shorter = await Assert.ThrowsAsync<ArgumentException>(() => catalog.SetRetentionAsync(DataClasses.AuditEvents, 364, "admin-a"));
        Assert.Contains("candidate lists", shorter.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<ArgumentException>(() => catalog.SetRetentionAsync(DataClasses.CandidateLists, 3651, "admin-a"));
        Assert.Equal(events, (await catalog.TreeHeadAsync()).TreeSize);
        Assert.Equal([30, 365, 3650], (await catalog.GetRetentionAsync()).Select(s => s.TtlDays));

        // Equal TTLs are allowed; the policy survives reopening.
        await catalog.SetRetentionAsync(DataClasses.AuditEvents, 365, "admin-b");
        await using var reopened = await OpenAsync();
        Assert.Equal(new RetentionPolicy(30, 365, 365), RetentionPolicy.From(await reopened.GetRetentionAsync()));
    }

    [SkippableFact]
    public async Task A_sweep_deletes_each_class_after_its_time_to_live_and_keeps_the_searches_and_what_a_legal_hold_covers()
    {
        await using var catalog = await OpenAsync();
        await catalog.AddUserAsync("reviewer-a", null, [Role.Reviewer], null);
        var held = await catalog.OpenCaseAsync(new NewCase("H-1", "robbery", "tests", "W-1", s_start.AddYears(20)), "tests");
        var free = await catalog.OpenCaseAsync(new NewCase("F-1", "robbery", "tests", "W-2", s_start.AddYears(20)), "tests");
        await catalog.SetLegalHoldAsync("H-1", true, "litigation", "tests");

        var heldSearch = await SearchAsync(catalog, held, 1);
        var freeSearch = await SearchAsync(catalog, free, 2);
        var refused = await catalog.RecordSearchAsync(Search(null, "refused", _clock.GetUtcNow()) with { Outcome = SearchOutcome.RefusedIntake, Refusal = "case_missing" });
        await DecideAsync(freeSearch, 1);
        await DecideAsync(heldSearch, 1);

        // A day short of the probe TTL: nothing expires, and the receipt says so.
        _clock.Advance(TimeSpan.FromDays(89));
        var early = await catalog.SweepAsync(_clock.GetUtcNow(), "sweeper");
        Assert.False(early.RemovedAny);
        Assert.Equal((0L, 0L, 1L), (early.ProbesHeld, early.CandidateListsHeld, early.HeldCases));
        Assert.NotNull(await catalog.GetProbeAsync(freeSearch));

        // Past the probe TTL: the free case's probe goes, its candidates stay; the held case keeps both.
        _clock.Advance(TimeSpan.FromDays(2));
        var probes = await catalog.SweepAsync(_clock.GetUtcNow(), "sweeper");
        Assert.Equal((1L, 0L, 0L, 0L), (probes.ProbesDeleted, probes.CandidateListsDeleted, probes.CandidatesDeleted, probes.DecisionsDeleted));
        Assert.Equal((1L, 0L), (probes.ProbesHeld, probes.CandidateListsHeld));
        Assert.Equal(s_start.AddDays(1), probes.Cutoffs.ProbeImages);
        Assert.Null(await catalog.GetProbeAsync(freeSearch));
        Assert.NotNull(await catalog.GetProbeAsync(heldSearch));
        Assert.Equal(3, (await catalog.GetCandidatesAsync(freeSearch)).Count);
        Assert.Equal(1, await ScalarRawAsync("SELECT count(*) FROM candidate_decisions WHERE search_id = " + freeSearch));

        // Past the candidate TTL: the free case's list and its decisions go; the held case keeps everything.
        _clock.Advance(TimeSpan.FromDays(275));
        var lists = await catalog.SweepAsync(_clock.GetUtcNow(), "sweeper");
        Assert.Equal((0L, 1L, 3L, 1L), (lists.ProbesDeleted, lists.CandidateListsDeleted, lists.CandidatesDeleted, lists.DecisionsDeleted));
        Assert.Equal((1L, 1L), (lists.ProbesHeld, lists.CandidateListsHeld));
        Assert.Empty(await catalog.GetCandidatesAsync(freeSearch));
        Assert.Equal(0, await ScalarRawAsync("SELECT count(*) FROM candidate_decisions WHERE search_id = " + freeSearch));
        Assert.Equal(3, (await catalog.GetCandidatesAsync(heldSearch)).Count);
        Assert.Equal(1, await ScalarRawAsync("SELECT count(*) FROM candidate_decisions WHERE search_id = " + heldSearch));

        // The search rows, refused ones included, are the record of use: they stay.
        Assert.NotNull(await catalog.GetSearchAsync(freeSearch));
        Assert.NotNull(await catalog.GetSearchAsync(heldSearch));
        Assert.NotNull(await catalog.GetSearchAsync(refused));

        // Lifting the hold lets the next sweep take the held case's data too.
        await catalog.SetLegalHoldAsync("H-1", false, "settled", "tests");
        var released = await catalog.SweepAsync(_clock.GetUtcNow(), "sweeper");
        Assert.Equal((1L, 1L, 3L, 1L), (released.ProbesDeleted, released.CandidateListsDeleted, released.CandidatesDeleted, released.DecisionsDeleted));
        Assert.Equal((0L, 0L, 0L), (released.ProbesHeld, released.CandidateListsHeld, released.HeldCases));
        Assert.Null(await catalog.GetProbeAsync(heldSearch));
        Assert.Empty(await catalog.GetCandidatesAsync(heldSearch));

        // Each sweep's receipt is in the log with its counts and cutoffs.
        var receipt = Assert.Single(await catalog.ReadEventsAsync(released.AuditSeq, 1));
        Assert.Equal((AuditActions.Retention, "sweep", "sweeper"), (receipt.Action, receipt.Subject, receipt.Actor));
        Assert.Equal(1, receipt.Details["probes"]!.Value.Integer);
        Assert.Equal(3, receipt.Details["candidates"]!.Value.Integer);
        Assert.Equal(SqliteCatalog.FormatTime(released.Cutoffs.CandidateLists), receipt.Details["candidate_cutoff"]!.Value.Text);
        Assert.Equal("90/365/3650", receipt.Details["ttl_days"]!.Value.Text);
    }

    [SkippableFact]
    public async Task Pruning_blanks_old_events_contiguously_and_every_checkpoint_and_proof_still_verifies()
    {
        var dataDirectory = _dir.Combine("data");
        using var key = AuditSigningKey.LoadOrCreate(dataDirectory);
        await using var catalog = await OpenAsync();
        await catalog.SetRetentionAsync(DataClasses.CandidateLists, 30, "admin");
        await catalog.SetRetentionAsync(DataClasses.AuditEvents, 30, "admin");

        // Forty events a day apart, then a checkpoint a witness keeps.
        for (var i = 1; i <= 40; i++)
        {
            await catalog.AppendAsync(new NewAuditEvent($"user{i % 3}", AuditActions.View, $"image:{i}", AuditDetails.Empty.With("n", i)));
            _clock.Advance(TimeSpan.FromDays(1));
        }

        var witnessed = await catalog.CheckpointAsync(key);
        var before = await catalog.ReadEventsAsync(1, 100);
        var inclusionBefore = await catalog.InclusionProofAsync(5, witnessed.TreeSize);

        var sweep = await catalog.SweepAsync(_clock.GetUtcNow(), "sweeper");

        // Events 1 and 2 are the settings changes, at the start; event k + 2 was written k − 1 days after it. The cutoff
        // is 30 days before now (40 days after the start): the two settings and events 1 to 10 are older.
        Assert.Equal(12, sweep.AuditEventsPruned);
        Assert.Equal(12, sweep.PrunedThrough);
        var after = await catalog.ReadEventsAsync(1, 100);
        Assert.All(after.Take(12), e => Assert.True(e.IsPruned));
        Assert.All(after.Skip(12).Take(30), e => Assert.False(e.IsPruned));
        Assert.Equal(before.Select(e => (e.Seq, e.At)), after.Take(before.Count).Select(e => (e.Seq, e.At)));
        Assert.Equal(before.Select(e => Convert.ToHexString(e.LeafHash())), after.Take(before.Count).Select(e => Convert.ToHexString(e.LeafHash())));
        var first = after[0];
        Assert.Equal(("", "", "", 0), (first.Actor, first.Action, first.Subject, first.Details.Count));
        Assert.Equal(_clock.GetUtcNow(), first.PrunedAt);
        Assert.Throws<InvalidOperationException>(() => first.CanonicalBytes());
        Assert.Equal(after[^1].Seq, sweep.AuditSeq);
        Assert.Equal(12, after[^1].Details["pruned_through"]!.Value.Integer);

        // Every proof still holds: the witnessed checkpoint, an inclusion proof of a pruned event, consistency to a new head.
        var verification = await catalog.VerifyAsync(key.Public);
        Assert.True(verification.IsIntact, string.Join("; ", verification.Problems.Select(p => p.Message)));
        var latest = await catalog.CheckpointAsync(key);
        Assert.True((await catalog.ConsistencyProofAsync(witnessed.TreeSize, latest.TreeSize)).Verify(witnessed.RootHash, latest.RootHash));
        var inclusionAfter = await catalog.InclusionProofAsync(5, witnessed.TreeSize);
        Assert.Equal(inclusionBefore.LeafHash, inclusionAfter.LeafHash);
        Assert.True(inclusionAfter.Verify(witnessed.RootHash));
        Assert.True((await catalog.VerifyAsync(key.Public)).IsIntact);

        // A second sweep a day later prunes exactly one more event, continuing where the first stopped.
        _clock.Advance(TimeSpan.FromDays(1));
        var next = await catalog.SweepAsync(_clock.GetUtcNow(), "sweeper");
        Assert.Equal((1L, 13L), (next.AuditEventsPruned, next.PrunedThrough));
        Assert.True((await catalog.VerifyAsync(key.Public)).IsIntact);
    }

    [SkippableFact]
    public async Task Pruning_stops_at_the_first_event_young_enough_even_when_a_later_one_is_older()
    {
        await using var catalog = await OpenAsync();
        await catalog.SetRetentionAsync(DataClasses.CandidateLists, 10, "admin");
        await catalog.SetRetentionAsync(DataClasses.AuditEvents, 10, "admin");
        _clock.Advance(TimeSpan.FromDays(30));
        await catalog.AppendAsync(new NewAuditEvent("a", AuditActions.View, "image:1"));

        // A clock set back: event 4 is older than event 3, but follows it.
        _clock.AdjustTime(s_start.AddDays(1));
        await catalog.AppendAsync(new NewAuditEvent("b", AuditActions.View, "image:2"));
        _clock.AdjustTime(s_start.AddDays(35));

        var sweep = await catalog.SweepAsync(_clock.GetUtcNow(), "sweeper");
        Assert.Equal((2L, 2L), (sweep.AuditEventsPruned, sweep.PrunedThrough));
        Assert.Equal([true, true, false, false, false], (await catalog.ReadEventsAsync()).Select(e => e.IsPruned));
        Assert.True((await catalog.VerifyAsync(null)).IsIntact);
    }

    [SkippableFact]
    public async Task Sweeps_started_at_once_prune_each_event_once_and_the_log_still_verifies()
    {
        await using var catalog = await OpenAsync();
        await catalog.SetRetentionAsync(DataClasses.CandidateLists, 10, "admin");
        await catalog.SetRetentionAsync(DataClasses.AuditEvents, 10, "admin");
        for (var i = 1; i <= 20; i++)
        {
            await catalog.AppendAsync(new NewAuditEvent("alice", AuditActions.View, $"image:{i}"));
            _clock.Advance(TimeSpan.FromDays(1));
        }

        // The two settings and events 1 to 10 are older than 10 days. However the sweeps interleave, each of those is
        // pruned by exactly one of them, every sweep reports the same prefix, and each writes its own receipt.
        var sweeps = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => Task.Run(() => catalog.SweepAsync(_clock.GetUtcNow(), "sweeper"))));
        Assert.Equal(12, sweeps.Sum(s => s.AuditEventsPruned));
        Assert.All(sweeps, s => Assert.Equal(12, s.PrunedThrough));
        Assert.Equal([23L, 24L, 25L, 26L], sweeps.Select(s => s.AuditSeq).Order());
        Assert.Equal(12, (await catalog.ReadEventsAsync(1, 100)).Count(e => e.IsPruned));
        Assert.True((await catalog.VerifyAsync(null)).IsIntact);
    }

    [SkippableFact]
    public async Task Verify_reports_a_recent_event_blanked_by_hand_and_a_pruned_event_that_kept_its_text()
    {
        await using (var catalog = await OpenAsync())
        {
            await catalog.SetRetentionAsync(DataClasses.CandidateLists, 5, "admin");
            await catalog.SetRetentionAsync(DataClasses.AuditEvents, 5, "admin");
            for (var i = 1; i <= 20; i++)
            {
                await catalog.AppendAsync(new NewAuditEvent("alice", AuditActions.Search, $"search:{i}"));
                _clock.Advance(TimeSpan.FromDays(1));
            }

            var sweep = await catalog.SweepAsync(_clock.GetUtcNow(), "sweeper");
            Assert.True(sweep.PrunedThrough is > 2 and < 20, $"pruned through {sweep.PrunedThrough}");
            Assert.True((await catalog.VerifyAsync(null)).IsIntact);
        }

        // The trigger allows exactly the pruning update, so someone with the file can blank a recent event without
        // touching a trigger: its stored leaf still fits the tree, but no sweep pruned that far.
        await ExecuteRawAsync("UPDATE audit_events SET actor = '', action = '', subject = '', details = '', pruned_at = at WHERE seq = 19");

        await using (var catalog = await OpenAsync())
        {
            var report = await catalog.VerifyAsync(null);
            Assert.False(report.IsIntact);
            var problem = Assert.Single(report.Problems);
            Assert.Equal((AuditProblemKind.EventAltered, 19L), (problem.Kind, problem.Seq));
            Assert.Contains("retention sweeps pruned only events 1 to 17", problem.Message, StringComparison.Ordinal);
            Assert.Equal(19, report.FirstBadSeq);
            Assert.True(Assert.Single(await catalog.ReadEventsAsync(19, 1)).IsPruned);
        }

        // A row marked pruned that still has its text is not what pruning writes (only possible with the trigger dropped).
        await ExecuteRawAsync(DropAuditTriggerSql + "; UPDATE audit_events SET pruned_at = at WHERE seq = 21");

        await using (var catalog = await OpenAsync())
        {
            var report = await catalog.VerifyAsync(null);
            Assert.Contains(report.Problems, p => p.Kind == AuditProblemKind.EventMalformed && p.Seq == 21);
            await Assert.ThrowsAsync<CatalogException>(() => catalog.ReadEventsAsync(21, 1));
        }
    }

    [SkippableFact]
    public async Task The_trigger_refuses_any_update_but_the_pruning_one()
    {
        await using (var catalog = await OpenAsync())
        {
            await catalog.AppendAsync(new NewAuditEvent("alice", AuditActions.View, "image:1"));
        }

        await AssertRawRefusedAsync("UPDATE audit_events SET actor = 'mallory' WHERE seq = 1");
        await AssertRawRefusedAsync($"UPDATE audit_events SET actor = '', action = '', subject = '', details = '', pruned_at = 'x', leaf_hash = {BlobLiteral("00")} WHERE seq = 1");
        await AssertRawRefusedAsync("DELETE FROM audit_events WHERE seq = 1");
    }

    private static SearchRecord Search(CaseRecord? of, string sha, DateTimeOffset at) =>
        new(at, "analyst", sha, 1, 1, 80f, 40f, null, SearchOutcome.Candidates, "top=3", TestData.Model, 10, 3, 1, 12.5)
        {
            CaseId = of?.Id,
            CaseNumber = of?.Number,
            ProbeSource = "field_photo",
        };

    private async Task<long> SearchAsync(TCatalog catalog, CaseRecord of, int n)
    {
        var probe = new byte[512];
        new Random(n).NextBytes(probe);
        StoredCandidate[] candidates = [new(1, 10 + n, 100 + n, 0.7f, 1e-5, true), new(2, 20 + n, 200 + n, 0.3f, 0.1, false), new(3, 30 + n, 300 + n, 0.2f, null, false)];
        return await catalog.RecordSearchAsync(Search(of, $"{n:x64}", _clock.GetUtcNow()), probe, candidates);
    }

    /// <summary>A reviewer's decision on a candidate, written as the review store writes it.</summary>
    private Task DecideAsync(long searchId, int rank) => ExecuteRawAsync($"""
        INSERT INTO candidate_decisions(search_id, rank, user_id, decision, reason, at)
        VALUES ({searchId}, {rank}, (SELECT id FROM users WHERE name = 'reviewer-a'), 'reject', 'not the same person', '2025-03-04T05:06:07.0000000Z')
        """);
}

public sealed class SqliteRetentionTests() : RetentionStoreContract<SqliteCatalog>(new SqliteBackend())
{
    private string DbPath => ((SqliteBackend)Backend).DatabasePath;

    protected override string DropAuditTriggerSql => "DROP TRIGGER audit_events_no_update";

    protected override string BlobLiteral(string hex) => $"x'{hex}'";

    protected override Task AssertRawRefusedAsync(string sql)
    {
        using var raw = Raw();
        using var command = raw.CreateCommand();
        command.CommandText = sql;
        Assert.Throws<SqliteException>(() => command.ExecuteNonQuery());
        return Task.CompletedTask;
    }

    private SqliteConnection Raw()
    {
        var connection = new SqliteConnection($"Data Source={DbPath};Pooling=False");
        connection.Open();
        return connection;
    }
}

public sealed class PostgresRetentionTests() : RetentionStoreContract<PostgresCatalog>(new PostgresBackend())
{
    protected override string DropAuditTriggerSql => "DROP TRIGGER audit_events_no_update ON audit_events";

    protected override string BlobLiteral(string hex) => $"decode('{hex}', 'hex')";

    /// <summary>
    /// PostgreSQL keeps deleted and pruned row versions in the pages until VACUUM frees them: a sweep that removed rows
    /// vacuums the tables it changed once it has committed (a manual VACUUM: <c>vacuum_count</c>), and one that removed
    /// nothing vacuums nothing.
    /// </summary>
    [SkippableFact]
    public async Task A_sweep_vacuums_the_tables_it_removed_rows_from_and_only_those()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.Parse("2025-03-04T05:06:07Z"));
        await using var catalog = await Backend.OpenAsync(clock);
        await catalog.AppendAsync(new NewAuditEvent("alice", AuditActions.View, "image:1"));

        var idle = await catalog.SweepAsync(clock.GetUtcNow(), "sweeper");
        Assert.False(idle.RemovedAny);
        Assert.Equal(0, await VacuumCountAsync("audit_events"));

        clock.Advance(TimeSpan.FromDays(3651));
        var sweep = await catalog.SweepAsync(clock.GetUtcNow(), "sweeper");
        Assert.Equal(2, sweep.AuditEventsPruned);
        Assert.Equal(1, await VacuumCountAsync("audit_events"));
        Assert.Equal(0, await VacuumCountAsync("search_probes"));
        Assert.Equal(0, await VacuumCountAsync("search_candidates"));
    }

    private Task<long> VacuumCountAsync(string table) =>
        ScalarRawAsync($"SELECT vacuum_count FROM pg_stat_user_tables WHERE schemaname = current_schema() AND relname = '{table}'");

    protected override async Task AssertRawRefusedAsync(string sql)
    {
        await using var raw = await RawAsync();
        await using var command = new NpgsqlCommand(sql, raw);
        await Assert.ThrowsAsync<PostgresException>(() => command.ExecuteNonQueryAsync());
    }

    private async Task<NpgsqlConnection> RawAsync()
    {
        var connection = new NpgsqlConnection(await ((PostgresBackend)Backend).ConnectionStringAsync());
        await connection.OpenAsync();
        return connection;
    }
}
