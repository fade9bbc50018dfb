using Lineup.Core.Audit;
using Lineup.Core.Catalog;
using Lineup.Core.Oversight;
using Lineup.Core.Security;
using Lineup.Storage.Postgres;

namespace Lineup.Storage.Tests;

/// <summary>
/// The two-person rule in a real catalog: who may decide, one decision each, two distinct confirmations before an
/// export, rejections kept, every decision and refusal audited, and reviewers' queues independent of each other.
/// Searches are recorded directly (no models needed).
/// </summary>
public abstract class ReviewStoreContract<TCatalog>(ICatalogBackend<TCatalog> backend) : IAsyncLifetime
    where TCatalog : class, ICatalog, IUserStore, ICaseStore, ISearchLog, IReviewStore, IAuditLog
{
    private static readonly DateTimeOffset s_start = DateTimeOffset.Parse("2025-06-02T09:00:00Z", System.Globalization.CultureInfo.InvariantCulture);

    protected ICatalogBackend<TCatalog> Backend { get; } = backend;

    protected ManualClock Clock { get; } = new(s_start);

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await Backend.DisposeAsync();

    protected DateTimeOffset Now => Clock.GetUtcNow();

    protected Task<TCatalog> OpenAsync() => Backend.OpenAsync(Clock);

    /// <summary>
    /// Users: ana (analyst, searches), rev1–rev3 (reviewers), both (analyst and reviewer), lapsed (reviewer whose training
    /// expired yesterday), outsider (a cleared reviewer not on the case), sup (supervisor). Case C-1 with every one of them
    /// but outsider assigned; a search by ana with three candidates (two above the threshold) and one by both.
    /// </summary>
    protected async Task<(CaseRecord Case, long AnaSearch, long BothSearch)> SeedAsync(TCatalog catalog)
    {
        foreach (var (name, roles) in new (string, Role[])[]
        {
            ("ana", [Role.Analyst]), ("rev1", [Role.Reviewer]), ("rev2", [Role.Reviewer]), ("rev3", [Role.Reviewer]),
            ("both", [Role.Analyst, Role.Reviewer]), ("lapsed", [Role.Reviewer]), ("outsider", [Role.Reviewer]), ("sup", [Role.Supervisor]),
        })
        {
            await catalog.AddUserAsync(name, null, roles, null);
            await catalog.SetClearanceAsync(name, Now.AddYears(1), name == "lapsed" ? Now.AddDays(-1) : Now.AddYears(1), "tests");
        }

        var opened = await catalog.OpenCaseAsync(new NewCase("C-1", "robbery", "tests", "W-1", Now.AddYears(1)), "tests");
        foreach (var name in new[] { "ana", "rev1", "rev2", "rev3", "both", "lapsed", "sup" })
        {
            opened = await catalog.AssignAsync("C-1", name, "tests");
        }

        var anaSearch = await RecordSearchAsync(catalog, "ana", opened, 3);
        var bothSearch = await RecordSearchAsync(catalog, "both", opened, 2);
        return (opened, anaSearch, bothSearch);
    }

    protected async Task<long> RecordSearchAsync(TCatalog catalog, string by, CaseRecord found, int candidates)
    {
        var list = Enumerable.Range(1, candidates)
            .Select(rank => new StoredCandidate(rank, 100 + rank, 200 + rank, 0.7f - (0.2f * (rank - 1)), 1e-6 * rank, AboveThreshold: rank <= 2))
            .ToList();
        var record = new SearchRecord(Now, by, new string('a', 64), 1, 1, 80f, 40f, null, SearchOutcome.Candidates, "top=10", TestData.Model, 100,
            list.Count, list.Count(c => c.AboveThreshold), 12.5)
        {
            CaseId = found.Id,
            CaseNumber = found.Number,
            ProbeSource = ProbeSources.FieldPhoto,
            GalleryVersion = 1,
        };
        return await catalog.RecordSearchAsync(record, new byte[] { 0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3 }, list);
    }

    protected static async Task<ReviewRefusedException> RefusedAsync(Func<Task> act, string code)
    {
        var e = await Assert.ThrowsAsync<ReviewRefusedException>(act);
        Assert.True(e.Code == code, $"expected {code}, got {e.Code}: {e.Message}");
        Assert.False(string.IsNullOrWhiteSpace(e.Message));
        return e;
    }

    protected static async Task<List<AuditEvent>> EventsAsync(TCatalog catalog, string action) =>
        (await catalog.ReadEventsAsync(1, 100_000)).Where(e => e.Action == action).ToList();

    [SkippableFact]
    public async Task A_candidate_becomes_a_confirmed_lead_only_after_two_distinct_reviewers_confirm_and_only_then_exports()
    {
        await using var catalog = await OpenAsync();
        var (found, search, _) = await SeedAsync(catalog);

        var before = await RefusedAsync(() => catalog.ExportLeadAsync(search, 1, "ana"), ReviewRefusals.NotConfirmed);
        Assert.Equal(LeadStatus.Unreviewed, before.Status);

        Clock.Advance(TimeSpan.FromMinutes(5));
        var first = await catalog.DecideAsync(search, 1, "rev1", ReviewDecision.Confirm, null, Now);
        Assert.Equal(("rev1", ReviewDecision.Confirm, search, 1, Now), (first.User, first.Decision, first.SearchId, first.Rank, first.At));
        var afterOne = await RefusedAsync(() => catalog.ExportLeadAsync(search, 1, "ana"), ReviewRefusals.NotConfirmed);
        Assert.Equal(LeadStatus.AwaitingSecond, afterOne.Status);
        Assert.DoesNotContain("awaiting", afterOne.Message, StringComparison.OrdinalIgnoreCase);

        Clock.Advance(TimeSpan.FromMinutes(5));
        await catalog.DecideAsync(search, 1, "REV2", ReviewDecision.Confirm, "same scar above the left eye", Now);
        var decisions = await catalog.GetDecisionsAsync(search);
        Assert.Equal(["rev1", "rev2"], decisions.Select(d => d.User));
        Assert.Equal(LeadStatus.Confirmed, LeadRules.Status(decisions));
        Assert.Equal("same scar above the left eye", decisions[1].Reason);

        var export = await catalog.ExportLeadAsync(search, 1, "ana");
        Assert.Equal(LeadStatus.Confirmed, export.Status);
        Assert.Equal((search, found.Number, 1, 101L, 201L), (export.Search.Id, export.Case.Number, export.Candidate.Rank, export.Candidate.FaceId, export.Candidate.ImageId));
        Assert.Equal(decisions, export.Decisions);
        var logged = Assert.Single(await catalog.ReadEventsAsync(export.AuditSeq, 1));
        Assert.Equal((AuditActions.Export, $"candidate:{search}/1", "ana", "exported"), (logged.Action, logged.Subject, logged.Actor, logged.Details["outcome"]!.Value.Text));
        Assert.Equal(2, logged.Details["confirmations"]!.Value.Integer);

        // Rank 2 of the same search has no decision: still not exportable.
        Assert.Equal(LeadStatus.Unreviewed, (await RefusedAsync(() => catalog.ExportLeadAsync(search, 2, "ana"), ReviewRefusals.NotConfirmed)).Status);

        var exports = await EventsAsync(catalog, AuditActions.Export);
        Assert.Equal(["refused", "refused", "exported", "refused"], exports.Select(e => e.Details["outcome"]!.Value.Text));
        Assert.All(exports.Where(e => e.Details["outcome"]!.Value.Text == "refused"), e => Assert.Equal(ReviewRefusals.NotConfirmed, e.Details["refusal"]!.Value.Text));
    }

    [SkippableFact]
    public async Task Nobody_confirms_their_own_search_even_with_the_reviewer_role()
    {
        await using var catalog = await OpenAsync();
        var (_, _, bothSearch) = await SeedAsync(catalog);
        await RefusedAsync(() => catalog.DecideAsync(bothSearch, 1, "both", ReviewDecision.Confirm, null, Now), ReviewRefusals.OwnSearch);
        await RefusedAsync(() => catalog.DecideAsync(bothSearch, 1, "BOTH", ReviewDecision.Reject, "not him", Now), ReviewRefusals.OwnSearch);
        Assert.Empty(await catalog.GetDecisionsAsync(bothSearch));

        // One other reviewer's confirmation is not enough, and the searcher cannot supply the second.
        await catalog.DecideAsync(bothSearch, 1, "rev1", ReviewDecision.Confirm, null, Now);
        await RefusedAsync(() => catalog.DecideAsync(bothSearch, 1, "both", ReviewDecision.Confirm, null, Now), ReviewRefusals.OwnSearch);
        await RefusedAsync(() => catalog.ExportLeadAsync(bothSearch, 1, "both"), ReviewRefusals.NotConfirmed);
    }

    [SkippableFact]
    public async Task The_requesting_analyst_without_the_reviewer_role_cannot_confirm()
    {
        await using var catalog = await OpenAsync();
        var (_, search, bothSearch) = await SeedAsync(catalog);
        await RefusedAsync(() => catalog.DecideAsync(search, 1, "ana", ReviewDecision.Confirm, null, Now), ReviewRefusals.NotAReviewer);
        await RefusedAsync(() => catalog.DecideAsync(bothSearch, 1, "ana", ReviewDecision.Confirm, null, Now), ReviewRefusals.NotAReviewer);
        await RefusedAsync(() => catalog.DecideAsync(search, 1, "sup", ReviewDecision.Confirm, null, Now), ReviewRefusals.NotAReviewer);
        Assert.Empty(await catalog.GetDecisionsAsync(search));
    }

    [SkippableFact]
    public async Task One_reviewer_decides_a_candidate_once_and_cannot_change_or_repeat_it()
    {
        await using var catalog = await OpenAsync();
        var (_, search, _) = await SeedAsync(catalog);
        await catalog.DecideAsync(search, 1, "rev1", ReviewDecision.Confirm, null, Now);
        var twice = await RefusedAsync(() => catalog.DecideAsync(search, 1, "rev1", ReviewDecision.Confirm, null, Now), ReviewRefusals.AlreadyDecided);
        Assert.Contains("confirm", twice.Message, StringComparison.Ordinal);
        await RefusedAsync(() => catalog.DecideAsync(search, 1, "Rev1", ReviewDecision.Reject, "changed my mind", Now), ReviewRefusals.AlreadyDecided);

        var decisions = await catalog.GetDecisionsAsync(search);
        Assert.Equal(ReviewDecision.Confirm, Assert.Single(decisions).Decision);
        Assert.Equal(LeadStatus.AwaitingSecond, LeadRules.Status(decisions));
        await RefusedAsync(() => catalog.ExportLeadAsync(search, 1, "ana"), ReviewRefusals.NotConfirmed);

        // Another candidate of the same search is a separate decision.
        await catalog.DecideAsync(search, 2, "rev1", ReviewDecision.Confirm, null, Now);
        Assert.Equal(2, (await catalog.GetDecisionsAsync(search)).Count);
    }

    [SkippableFact]
    public async Task Concurrent_attempts_by_one_reviewer_record_exactly_one_decision_even_through_two_catalog_instances()
    {
        await using var catalog = await OpenAsync();
        var (_, search, _) = await SeedAsync(catalog);
        // A second instance on the same store: its own write gate and connections, so only the database serialises them
        // (SQLite's write lock, BEGIN IMMEDIATE; PostgreSQL's lock on the candidate's row).
        await using var other = await OpenAsync();
        var attempts = Enumerable.Range(0, 16).Select(i => Task.Run(async () =>
        {
            try
            {
                await (i % 2 == 0 ? catalog : other).DecideAsync(search, 1, "rev1", i % 3 == 0 ? ReviewDecision.Reject : ReviewDecision.Confirm, "r", Now);
                return "recorded";
            }
            catch (ReviewRefusedException e)
            {
                return e.Code;
            }
        })).ToList();
        var outcomes = await Task.WhenAll(attempts);

        Assert.Equal(1, outcomes.Count(o => o == "recorded"));
        Assert.Equal(15, outcomes.Count(o => o == ReviewRefusals.AlreadyDecided));
        Assert.Single(await catalog.GetDecisionsAsync(search));
        var audited = (await EventsAsync(catalog, AuditActions.Confirm)).Select(e => e.Details["outcome"]!.Value.Text).ToList();
        Assert.Equal((1, 15), (audited.Count(o => o == "recorded"), audited.Count(o => o == "refused")));
        Assert.True((await catalog.VerifyAsync(null)).IsIntact);
    }

    [SkippableFact]
    public async Task Reviewers_not_assigned_not_cleared_disabled_or_unknown_are_refused()
    {
        await using var catalog = await OpenAsync();
        var (_, search, _) = await SeedAsync(catalog);
        await RefusedAsync(() => catalog.DecideAsync(search, 1, "outsider", ReviewDecision.Confirm, null, Now), ReviewRefusals.NotAssigned);
        var lapsed = await RefusedAsync(() => catalog.DecideAsync(search, 1, "lapsed", ReviewDecision.Confirm, null, Now), ReviewRefusals.Clearance);
        Assert.Contains("training", lapsed.Message, StringComparison.Ordinal);
        await RefusedAsync(() => catalog.DecideAsync(search, 1, "nobody", ReviewDecision.Confirm, null, Now), ReviewRefusals.NotAReviewer);

        // An NDA that runs out between two decisions refuses the second.
        await catalog.SetClearanceAsync("rev3", Now.AddDays(1), Now.AddYears(1), "tests");
        await catalog.DecideAsync(search, 1, "rev3", ReviewDecision.Confirm, null, Now);
        Clock.Advance(TimeSpan.FromDays(2));
        await RefusedAsync(() => catalog.DecideAsync(search, 2, "rev3", ReviewDecision.Confirm, null, Now), ReviewRefusals.Clearance);

        await catalog.DisableUserAsync("rev2");
        await RefusedAsync(() => catalog.DecideAsync(search, 1, "rev2", ReviewDecision.Confirm, null, Now), ReviewRefusals.NotAReviewer);

        // Unassigning takes the right away.
        await catalog.UnassignAsync("C-1", "rev1", "tests");
        await RefusedAsync(() => catalog.DecideAsync(search, 1, "rev1", ReviewDecision.Confirm, null, Now), ReviewRefusals.NotAssigned);
        Assert.Equal(["rev3"], (await catalog.GetDecisionsAsync(search)).Select(d => d.User));
    }

    [SkippableFact]
    public async Task Unknown_candidates_and_closed_cases_are_refused()
    {
        await using var catalog = await OpenAsync();
        var (_, search, _) = await SeedAsync(catalog);
        await RefusedAsync(() => catalog.DecideAsync(search, 4, "rev1", ReviewDecision.Confirm, null, Now), ReviewRefusals.NoSuchCandidate);
        await RefusedAsync(() => catalog.DecideAsync(999_999, 1, "rev1", ReviewDecision.Confirm, null, Now), ReviewRefusals.NoSuchCandidate);
        await RefusedAsync(() => catalog.ExportLeadAsync(999_999, 1, "ana"), ReviewRefusals.NoSuchCandidate);

        await catalog.CloseCaseAsync("C-1", "tests");
        await RefusedAsync(() => catalog.DecideAsync(search, 1, "rev1", ReviewDecision.Confirm, null, Now), ReviewRefusals.CaseClosed);
        Assert.Empty(await catalog.ReviewQueueAsync("rev1"));
        await Assert.ThrowsAsync<ArgumentException>(() => catalog.DecideAsync(search, 1, "bad name!", ReviewDecision.Confirm, null, Now));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => catalog.DecideAsync(search, 1, "rev1", (ReviewDecision)7, null, Now));
    }

    [SkippableFact]
    public async Task A_rejection_needs_a_reason_is_kept_and_makes_a_later_confirmation_a_dispute_not_a_lead()
    {
        await using var catalog = await OpenAsync();
        var (found, search, bothSearch) = await SeedAsync(catalog);
        await RefusedAsync(() => catalog.DecideAsync(search, 1, "rev1", ReviewDecision.Reject, null, Now), ReviewRefusals.ReasonRequired);
        await RefusedAsync(() => catalog.DecideAsync(search, 1, "rev1", ReviewDecision.Reject, "   ", Now), ReviewRefusals.ReasonRequired);
        Assert.Empty(await catalog.GetDecisionsAsync(search));

        var rejected = await catalog.DecideAsync(search, 1, "rev1", ReviewDecision.Reject, "  different ear shape  ", Now);
        Assert.Equal("different ear shape", rejected.Reason);
        Assert.Equal(LeadStatus.Rejected, LeadRules.Status(await catalog.GetDecisionsAsync(search)));
        Assert.Equal(LeadStatus.Rejected, (await RefusedAsync(() => catalog.ExportLeadAsync(search, 1, "sup"), ReviewRefusals.NotConfirmed)).Status);

        await catalog.DecideAsync(search, 1, "rev2", ReviewDecision.Confirm, null, Now);
        await catalog.DecideAsync(search, 1, "rev3", ReviewDecision.Confirm, null, Now);
        var decisions = await catalog.GetDecisionsAsync(search);
        Assert.Equal(LeadStatus.Disputed, LeadRules.Status(decisions));
        Assert.Equal((ReviewDecision.Reject, "different ear shape"), (decisions[0].Decision, decisions[0].Reason));
        Assert.Equal(LeadStatus.Disputed, (await RefusedAsync(() => catalog.ExportLeadAsync(search, 1, "sup"), ReviewRefusals.NotConfirmed)).Status);

        // The rejection survives reopening and is in the case's decisions (what the disclosure report reads).
        await catalog.DecideAsync(bothSearch, 2, "rev1", ReviewDecision.Confirm, null, Now);
        await using var reopened = await OpenAsync();
        var ofCase = await reopened.GetDecisionsForCaseAsync(found.Id);
        Assert.Equal(4, ofCase.Count);
        Assert.Contains(ofCase, d => d.SearchId == search && d.User == "rev1" && d.Decision == ReviewDecision.Reject && d.Reason == "different ear shape");
        Assert.Empty(await reopened.GetDecisionsForCaseAsync(found.Id + 1));
    }

    [SkippableFact]
    public async Task Every_decision_and_refusal_is_in_the_audit_log_without_the_reasons_text()
    {
        await using var catalog = await OpenAsync();
        var (found, search, bothSearch) = await SeedAsync(catalog);
        var attempts = new (long Search, int Rank, string User, ReviewDecision Decision, string? Reason, string Outcome)[]
        {
            (search, 1, "rev1", ReviewDecision.Confirm, null, "recorded"),
            (search, 1, "rev1", ReviewDecision.Confirm, null, ReviewRefusals.AlreadyDecided),
            (bothSearch, 1, "both", ReviewDecision.Confirm, null, ReviewRefusals.OwnSearch),
            (search, 1, "ana", ReviewDecision.Confirm, null, ReviewRefusals.NotAReviewer),
            (search, 1, "outsider", ReviewDecision.Confirm, null, ReviewRefusals.NotAssigned),
            (search, 1, "lapsed", ReviewDecision.Confirm, null, ReviewRefusals.Clearance),
            (search, 2, "rev2", ReviewDecision.Reject, null, ReviewRefusals.ReasonRequired),
            (search, 2, "rev2", ReviewDecision.Reject, "secret remark about the person", "recorded"),
            (search, 9, "rev2", ReviewDecision.Confirm, null, ReviewRefusals.NoSuchCandidate),
        };
        foreach (var a in attempts)
        {
            try
            {
                await catalog.DecideAsync(a.Search, a.Rank, a.User, a.Decision, a.Reason, Now);
                Assert.Equal("recorded", a.Outcome);
            }
            catch (ReviewRefusedException e)
            {
                Assert.Equal(a.Outcome, e.Code);
            }
        }

        var events = await EventsAsync(catalog, AuditActions.Confirm);
        Assert.Equal(attempts.Length, events.Count);
        for (var i = 0; i < attempts.Length; i++)
        {
            var (a, e) = (attempts[i], events[i]);
            Assert.Equal($"candidate:{a.Search}/{a.Rank}", e.Subject);
            Assert.Equal(a.User, e.Actor);
            Assert.Equal(a.Decision == ReviewDecision.Confirm ? "confirm" : "reject", e.Details["decision"]!.Value.Text);
            if (a.Outcome == "recorded")
            {
                Assert.Equal("recorded", e.Details["outcome"]!.Value.Text);
                Assert.Equal(found.Number, e.Details["case"]!.Value.Text);
                Assert.Equal(100 + a.Rank, e.Details["face_id"]!.Value.Integer);
            }
            else
            {
                Assert.Equal(("refused", a.Outcome), (e.Details["outcome"]!.Value.Text, e.Details["refusal"]!.Value.Text));
            }

            Assert.DoesNotContain("secret remark", e.Details.ToCanonicalJson(), StringComparison.Ordinal);
        }

        Assert.Equal(true, events[7].Details["reason_given"]!.Value.Boolean);
        Assert.True((await catalog.VerifyAsync(null)).IsIntact);
    }

    [SkippableFact]
    public async Task Queues_hold_what_each_reviewer_may_decide_and_one_reviewers_decision_does_not_change_anothers_queue()
    {
        await using var catalog = await OpenAsync();
        var (found, search, bothSearch) = await SeedAsync(catalog);
        static List<(long, int)> Keys(IReadOnlyList<ReviewItem> q) => q.Select(i => (i.Search.Id, i.Candidate.Rank)).ToList();

        // Above the threshold only (rank 3 is not), oldest search first, in the reviewer's cases.
        var expected = new List<(long, int)> { (search, 1), (search, 2), (bothSearch, 1), (bothSearch, 2) };
        var rev1 = await catalog.ReviewQueueAsync("rev1");
        Assert.Equal(expected, Keys(rev1));
        Assert.All(rev1, i => Assert.Equal(found.Id, i.Case.Id));
        Assert.Equal((101L, 201L), (rev1[0].Candidate.FaceId, rev1[0].Candidate.ImageId));
        Assert.Equal("ana", rev1[0].Search.By);
        Assert.Equal(Keys(rev1), Keys(await catalog.ReviewQueueAsync("REV2")));
        Assert.Equal([(search, 1), (search, 2)], Keys(await catalog.ReviewQueueAsync("both")));
        Assert.Equal(2, (await catalog.ReviewQueueAsync("rev1", limit: 2)).Count);

        // Nothing for those who may not decide.
        foreach (var nobody in new[] { "ana", "sup", "lapsed", "outsider", "unknown" })
        {
            Assert.Empty(await catalog.ReviewQueueAsync(nobody));
        }

        await catalog.DecideAsync(search, 1, "rev1", ReviewDecision.Confirm, null, Now);
        await catalog.DecideAsync(bothSearch, 2, "rev1", ReviewDecision.Reject, "no", Now);
        Assert.Equal([(search, 2), (bothSearch, 1)], Keys(await catalog.ReviewQueueAsync("rev1")));
        // rev2's queue is exactly what it was: it does not say that rev1 decided, let alone how.
        Assert.Equal(expected, Keys(await catalog.ReviewQueueAsync("rev2")));

        await catalog.DecideAsync(search, 1, "rev2", ReviewDecision.Confirm, null, Now);
        Assert.Equal(expected, Keys(await catalog.ReviewQueueAsync("rev3")));
        Assert.Equal(expected.Skip(1), Keys(await catalog.ReviewQueueAsync("rev2")));
    }

    /// <summary>A clock the tests move by hand.</summary>
    protected sealed class ManualClock(DateTimeOffset start) : TimeProvider
    {
        private DateTimeOffset _now = start;

        public override DateTimeOffset GetUtcNow() => _now;

        public void Advance(TimeSpan by) => _now += by;
    }
}

public sealed class SqliteReviewStoreTests() : ReviewStoreContract<SqliteCatalog>(new SqliteBackend());

/// <summary>The contract on PostgreSQL, and what only it has: reviewers racing on many connections and processes.</summary>
public sealed class PostgresReviewStoreTests() : ReviewStoreContract<PostgresCatalog>(new PostgresBackend())
{
    private sealed record Attempt(long Search, int Rank, string User, ReviewDecision Decision, string? Reason, bool OnSecond);

    /// <summary>
    /// Two catalogs on one database (two API replicas: separate connection pools) race on eight candidates at once:
    /// rev1 confirms each through both (a double click on two replicas), rev2 confirms, rev3 rejects every other one,
    /// "both" (who ran the searches and is a reviewer too) tries to confirm their own, and sup exports. Whatever the
    /// interleaving, each reviewer has exactly one decision per candidate, the searcher none, every attempt has exactly
    /// one audit event (no decision without its event, no unique-key error escaping as a failure), and each export saw
    /// exactly the decisions committed before it in the audit log's order.
    /// </summary>
    [SkippableFact]
    public async Task Reviewers_racing_on_two_catalogs_keep_the_two_person_rule_and_nothing_is_half_written()
    {
        await using var first = await OpenAsync();
        var (found, _, _) = await SeedAsync(first);
        var searches = new List<long>();
        for (var i = 0; i < 4; i++)
        {
            searches.Add(await RecordSearchAsync(first, "both", found, 2));
        }

        await using var second = await OpenAsync();
        var candidates = searches.SelectMany(s => new[] { (Search: s, Rank: 1), (Search: s, Rank: 2) }).ToList();
        var attempts = new List<Attempt>();
        foreach (var (search, rank) in candidates)
        {
            attempts.Add(new(search, rank, "rev1", ReviewDecision.Confirm, null, OnSecond: false));
            attempts.Add(new(search, rank, "rev1", ReviewDecision.Confirm, null, OnSecond: true));
            attempts.Add(new(search, rank, "rev2", ReviewDecision.Confirm, null, OnSecond: true));
            attempts.Add(new(search, rank, "both", ReviewDecision.Confirm, null, OnSecond: rank == 2));
            if (rank == 2)
            {
                attempts.Add(new(search, rank, "rev3", ReviewDecision.Reject, "different ear shape", OnSecond: false));
            }
        }

        var start = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var decided = attempts.Select(a => Task.Run(async () =>
        {
            await start.Task;
            try
            {
                await (a.OnSecond ? second : first).DecideAsync(a.Search, a.Rank, a.User, a.Decision, a.Reason, Now);
                return "recorded";
            }
            catch (ReviewRefusedException e)
            {
                return e.Code;
            }
        })).ToList();
        var exported = candidates.Select(c => Task.Run(async () =>
        {
            await start.Task;
            try
            {
                return (Export: await second.ExportLeadAsync(c.Search, c.Rank, "sup"), Refusal: (ReviewRefusedException?)null);
            }
            catch (ReviewRefusedException e)
            {
                Assert.Equal(ReviewRefusals.NotConfirmed, e.Code);
                return (Export: (LeadExport?)null, Refusal: e);
            }
        })).ToList();
        start.SetResult();
        var outcomes = await Task.WhenAll(decided);
        var exports = await Task.WhenAll(exported);

        var confirms = await EventsAsync(first, AuditActions.Confirm);
        var exportEvents = await EventsAsync(first, AuditActions.Export);
        Assert.Equal(attempts.Count, confirms.Count);
        Assert.Equal(candidates.Count, exportEvents.Count);
        for (var i = 0; i < candidates.Count; i++)
        {
            var (search, rank) = candidates[i];
            var subject = $"candidate:{search}/{rank}";
            string[] OutcomesOf(string user) =>
                [.. attempts.Select((a, j) => (a, j)).Where(x => x.a.Search == search && x.a.Rank == rank && x.a.User == user).Select(x => outcomes[x.j]).Order()];

            // One decision per reviewer; the double click is refused, not an error; the searcher never decides.
            Assert.Equal([ReviewRefusals.AlreadyDecided, "recorded"], OutcomesOf("rev1"));
            Assert.Equal(["recorded"], OutcomesOf("rev2"));
            Assert.Equal([ReviewRefusals.OwnSearch], OutcomesOf("both"));
            var decisions = (await second.GetDecisionsAsync(search)).Where(d => d.Rank == rank).ToList();
            Assert.Equal(rank == 2 ? ["rev1", "rev2", "rev3"] : ["rev1", "rev2"], decisions.Select(d => d.User).Order());
            Assert.Equal(rank == 2 ? LeadStatus.Disputed : LeadStatus.Confirmed, LeadRules.Status(decisions));

            // Each stored decision has exactly one "recorded" event naming it, and there are no others.
            var recorded = confirms.Where(e => e.Subject == subject && e.Details["outcome"]!.Value.Text == "recorded").ToList();
            Assert.Equal(decisions.Select(d => d.Id).Order(), recorded.Select(e => e.Details["decision_id"]!.Value.Integer!.Value).Order());

            // The export saw exactly the decisions whose events precede its own.
            var exportEvent = Assert.Single(exportEvents, e => e.Subject == subject);
            var before = recorded.Where(e => e.Seq < exportEvent.Seq).Select(e => e.Details["decision_id"]!.Value.Integer!.Value).ToHashSet();
            var seen = decisions.Where(d => before.Contains(d.Id)).ToList();
            Assert.Equal(SqliteCatalog.StatusText(LeadRules.Status(seen)), exportEvent.Details["status"]!.Value.Text);
            if (exports[i].Export is { } lead)
            {
                Assert.Equal(("exported", exportEvent.Seq), (exportEvent.Details["outcome"]!.Value.Text, lead.AuditSeq));
                Assert.Equal(seen.Select(d => d.Id), lead.Decisions.Select(d => d.Id));
                Assert.Equal(LeadStatus.Confirmed, lead.Status);
            }
            else
            {
                Assert.Equal("refused", exportEvent.Details["outcome"]!.Value.Text);
                Assert.Equal((LeadStatus?)LeadRules.Status(seen), exports[i].Refusal!.Status);
            }
        }

        Assert.True((await second.VerifyAsync(null)).IsIntact);
    }

    /// <summary>
    /// Closing a case while reviewers decide its candidates on two catalogs: a decision either commits before the close
    /// (its event comes first in the log) or is refused as <see cref="ReviewRefusals.CaseClosed"/> after it; no decision
    /// passes the "case is open" check and commits after the close.
    /// </summary>
    [SkippableFact]
    public async Task A_case_closed_while_reviewers_decide_takes_no_decision_after_its_close()
    {
        await using var first = await OpenAsync();
        var (found, _, _) = await SeedAsync(first);
        var searches = new List<long>();
        for (var i = 0; i < 4; i++)
        {
            searches.Add(await RecordSearchAsync(first, "both", found, 2));
        }

        await using var second = await OpenAsync();
        var attempts = (from search in searches
                        from rank in new[] { 1, 2 }
                        from user in new[] { "rev1", "rev2", "rev3" }
                        select (Search: search, Rank: rank, User: user)).ToList();
        var start = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var decided = attempts.Select((a, i) => Task.Run(async () =>
        {
            await start.Task;
            try
            {
                await (i % 2 == 0 ? first : second).DecideAsync(a.Search, a.Rank, a.User, ReviewDecision.Confirm, null, Now);
                return "recorded";
            }
            catch (ReviewRefusedException e)
            {
                return e.Code;
            }
        })).ToList();
        var closed = Task.Run(async () =>
        {
            await start.Task;
            await second.CloseCaseAsync(found.Number, "sup");
        });
        start.SetResult();
        var outcomes = await Task.WhenAll(decided);
        await closed;

        Assert.All(outcomes, o => Assert.Contains(o, new[] { "recorded", ReviewRefusals.CaseClosed }));
        var close = Assert.Single(await EventsAsync(first, AuditActions.Admin), e => e.Subject == $"case:{found.Number}" && e.Details["change"]!.Value.Text == "case.close");
        var confirms = await EventsAsync(first, AuditActions.Confirm);
        Assert.Equal(attempts.Count, confirms.Count);
        Assert.All(confirms, e => Assert.Equal(e.Details["outcome"]!.Value.Text == "recorded", e.Seq < close.Seq));
        var stored = 0;
        foreach (var search in searches)
        {
            stored += (await second.GetDecisionsAsync(search)).Count;
        }

        Assert.Equal(outcomes.Count(o => o == "recorded"), stored);
        Assert.True((await second.VerifyAsync(null)).IsIntact);
    }
}

/// <summary>Who sees which decisions (<see cref="ReviewVisibility"/>): pure rules, no catalog.</summary>
public sealed class ReviewVisibilityTests
{
    private static readonly DateTimeOffset s_start = DateTimeOffset.Parse("2025-06-02T09:00:00Z", System.Globalization.CultureInfo.InvariantCulture);

    [Fact]
    public void Visibility_hides_other_reviewers_decisions_and_shows_the_searcher_only_a_final_status()
    {
        var d1 = new CandidateDecision(1, 5, 1, "rev1", ReviewDecision.Confirm, null, s_start);
        var d2 = new CandidateDecision(2, 5, 1, "rev2", ReviewDecision.Confirm, null, s_start);
        var r3 = new CandidateDecision(3, 5, 1, "rev3", ReviewDecision.Reject, "no", s_start);
        ReviewViewer Reviewer(string name) => new(name, SeesAll: false, IsReviewer: true, IsSearcher: false, IsAssigned: true);
        var searcher = new ReviewViewer("ana", SeesAll: false, IsReviewer: false, IsSearcher: true, IsAssigned: true);
        var supervisor = new ReviewViewer("sup", SeesAll: true, IsReviewer: false, IsSearcher: false, IsAssigned: false);

        // The second reviewer, before deciding, sees nothing of the first.
        var second = ReviewVisibility.For(Reviewer("rev2"), [d1]);
        Assert.Null(second.Status);
        Assert.Empty(second.Decisions);
        // After deciding, only their own.
        var after = ReviewVisibility.For(Reviewer("REV2"), [d1, d2]);
        Assert.Null(after.Status);
        Assert.Equal([d2], after.Decisions);

        Assert.Null(ReviewVisibility.For(searcher, [d1]).Status);
        Assert.Empty(ReviewVisibility.For(searcher, [d1]).Decisions);
        Assert.Equal(LeadStatus.Confirmed, ReviewVisibility.For(searcher, [d1, d2]).Status);
        Assert.Empty(ReviewVisibility.For(searcher, [d1, d2]).Decisions);
        Assert.Equal(LeadStatus.Disputed, ReviewVisibility.For(searcher, [d1, r3]).Status);
        Assert.Equal(LeadStatus.Rejected, ReviewVisibility.For(searcher, [r3]).Status);

        Assert.Equal(LeadStatus.AwaitingSecond, ReviewVisibility.For(supervisor, [d1]).Status);
        Assert.Equal([d1, r3], ReviewVisibility.For(supervisor, [d1, r3]).Decisions);
        // A supervisor who is also an assigned reviewer and has not decided is a reviewer first.
        var both = supervisor with { IsReviewer = true, IsAssigned = true };
        Assert.Null(ReviewVisibility.For(both, [d1]).Status);
        Assert.Empty(ReviewVisibility.For(both, [d1]).Decisions);
        Assert.Equal(2, ReviewVisibility.For(both with { UserName = "rev2" }, [d1, d2]).Decisions.Count);
    }
}
