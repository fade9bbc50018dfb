using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using Lineup.Core.Audit;
using Lineup.Core.Catalog;
using Lineup.Core.Oversight;
using Lineup.Core.Security;
using Lineup.Hosting;
using Lineup.Server.Api;
using Lineup.Storage;
using PdfSharp.Pdf.IO;

namespace Lineup.Server.Tests;

/// <summary>
/// GET /api/cases/{id}/report.json|pdf and /api/oversight/activity over searches recorded in the server's catalog (no
/// photo needed): attachments with their SHA-256 in a header and in the audit log, JSON that round-trips, a PDF that
/// PDFsharp reads back, the activity of the last 30 days with its flags.
/// </summary>
public sealed class ReportsApiTests(ReportsApiTests.ReportsServer server) : IClassFixture<ReportsApiTests.ReportsServer>
{
    private const string Case = "R-1";

    [Fact]
    public async Task The_json_report_is_an_audited_attachment_listing_every_search_of_the_case_and_round_trips()
    {
        var (caseId, searches) = await server.SeedAsync();
        using var response = await server.Supervisor.GetAsync($"/api/cases/{caseId}/report.json");
        Assert.True(response.StatusCode == HttpStatusCode.OK, Http.Describe(response));
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        var disposition = response.Content.Headers.ContentDisposition;
        Assert.Equal("attachment", disposition?.DispositionType);
        Assert.EndsWith(".json", disposition?.FileNameStar ?? disposition?.FileName?.Trim('"'), StringComparison.Ordinal);
        var body = await response.Content.ReadAsByteArrayAsync();
        var sha = Convert.ToHexStringLower(SHA256.HashData(body));
        Assert.Equal(sha, Header(response, ReportsApi.Sha256Header));

        var report = DisclosureReport.FromJson(body);
        Assert.Equal(body, report.ToJson());
        Assert.Equal(searches, report.Searches.Select(s => s.Id));
        Assert.Equal(("r-sup", Case), (report.GeneratedBy, report.Case.Number));
        Assert.Contains(report.Searches, s => s.Refusal == "refused_source");
        Assert.Contains(report.Searches, s => s.CandidateList == "none");
        var kept = report.Searches.Single(s => s.CandidateList == "kept");
        Assert.Equal([0.61f, 0.41f], kept.Candidates.Select(c => c.Similarity));
        // One disclaimer text everywhere: the search answers' and the report's.
        Assert.Equal(SearchApi.Disclaimer, report.Disclaimers[0]);

        var seq = long.Parse(Header(response, ReportsApi.AuditSeqHeader), CultureInfo.InvariantCulture);
        var logged = Assert.Single(await server.Factory.Engine.Audit.ReadEventsAsync(seq, 1));
        Assert.Equal((AuditActions.Export, $"report:{Case}", "r-sup"), (logged.Action, logged.Subject, logged.Actor));
        Assert.Equal(sha, logged.Details["sha256"]!.Value.Text);
        Assert.Equal((long?)searches.Count, logged.Details["searches"]!.Value.Integer);
    }

    [Fact]
    public async Task The_pdf_report_is_an_audited_attachment_that_pdfsharp_reads_back()
    {
        var (caseId, _) = await server.SeedAsync();
        using var response = await server.Auditor.GetAsync($"/api/cases/{caseId}/report.pdf");
        Assert.True(response.StatusCode == HttpStatusCode.OK, Http.Describe(response));
        Assert.Equal("application/pdf", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("attachment", response.Content.Headers.ContentDisposition?.DispositionType);
        var body = await response.Content.ReadAsByteArrayAsync();
        Assert.Equal("%PDF-"u8.ToArray(), body[..5]);
        using var document = PdfReader.Open(new MemoryStream(body), PdfDocumentOpenMode.Import);
        Assert.True(document.PageCount >= 3, $"{document.PageCount} pages");
        Assert.Contains(Case, document.Info.Title, StringComparison.Ordinal);

        var seq = long.Parse(Header(response, ReportsApi.AuditSeqHeader), CultureInfo.InvariantCulture);
        var logged = Assert.Single(await server.Factory.Engine.Audit.ReadEventsAsync(seq, 1));
        Assert.Equal(("pdf", "r-aud"), (logged.Details["format"]!.Value.Text, logged.Actor));
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(body)), logged.Details["sha256"]!.Value.Text);
    }

    [Fact]
    public async Task An_unknown_case_is_404_and_nothing_is_exported()
    {
        await server.SeedAsync();
        var before = (await server.Factory.Engine.Audit.TreeHeadAsync()).TreeSize;
        await Http.ProblemAsync(await server.Supervisor.GetAsync("/api/cases/987654/report.json"), HttpStatusCode.NotFound);
        await Http.ProblemAsync(await server.Supervisor.GetAsync("/api/cases/987654/report.pdf"), HttpStatusCode.NotFound);
        var events = await server.Factory.Engine.Audit.ReadEventsAsync(before + 1, 1000);
        Assert.DoesNotContain(events, e => e.Action == AuditActions.Export);
    }

    [Fact]
    public async Task The_activity_of_the_last_30_days_counts_searches_and_flags_them_and_bad_periods_are_400()
    {
        var (_, searches) = await server.SeedAsync();
        var activity = await Http.JsonAsync(await server.Supervisor.GetAsync("/api/oversight/activity"));
        Assert.True(activity.GetProperty("searches").GetInt32() >= searches.Count);
        var mine = activity.GetProperty("cases").EnumerateArray().Single(c => c.GetProperty("caseNumber").GetString() == Case);
        Assert.Equal(searches.Count, mine.GetProperty("searches").GetInt32());
        Assert.Equal(2, mine.GetProperty("outcomes").GetProperty("refused_intake").GetInt32());
        var expired = activity.GetProperty("flags").EnumerateArray().Where(f => f.GetProperty("kind").GetString() == "after_authorisation_expired").ToList();
        var flag = Assert.Single(expired);
        Assert.Equal("r-analyst", flag.GetProperty("user").GetString());
        Assert.Equal(server.ExpiredSearch, Assert.Single(flag.GetProperty("searchIds").EnumerateArray()).GetInt64());

        var events = await server.Factory.Engine.Audit.ReadEventsAsync(1, 100_000);
        Assert.Contains(events, e => e.Action == AuditActions.View && e.Subject == "oversight:activity" && e.Actor == "r-sup");

        var now = DateTimeOffset.UtcNow;
        await Http.ProblemAsync(await server.Supervisor.GetAsync($"/api/oversight/activity?from={Q(now)}&to={Q(now.AddDays(-1))}"), HttpStatusCode.BadRequest);
        await Http.ProblemAsync(await server.Supervisor.GetAsync($"/api/oversight/activity?from={Q(now.AddDays(-400))}&to={Q(now)}"), HttpStatusCode.BadRequest);
        var past = await Http.JsonAsync(await server.Supervisor.GetAsync($"/api/oversight/activity?from={Q(now.AddDays(-60))}&to={Q(now.AddDays(-31))}"));
        Assert.Equal(0, past.GetProperty("searches").GetInt32());
    }

    private static string Q(DateTimeOffset at) => Uri.EscapeDataString(at.ToString("O", CultureInfo.InvariantCulture));

    private static string Header(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values) ? values.Single() : throw new Xunit.Sdk.XunitException($"no {name} header");

    /// <summary>A supervisor, an auditor and an analyst with a case and searches recorded once for the class.</summary>
    public sealed class ReportsServer : ServerFixture
    {
        private readonly SemaphoreSlim _gate = new(1, 1);
        private (long CaseId, List<long> Searches)? _seeded;

        public HttpClient Supervisor { get; private set; } = null!;

        public HttpClient Auditor { get; private set; } = null!;

        public long ExpiredSearch { get; private set; }

        protected override string Name => "reports";

        protected override async Task SeedAsync(LineupFactory factory)
        {
            Supervisor = await factory.UserWithKeyAsync("r-sup", Role.Supervisor);
            Auditor = await factory.UserWithKeyAsync("r-aud", Role.Auditor);
        }

        /// <summary>
        /// Case R-1 with four searches by r-analyst an hour ago: one with two candidates, one with none, one refused at
        /// intake for a sketch (a real refusal through the engine), one recorded as refused after the authorisation expired.
        /// </summary>
        public async Task<(long CaseId, List<long> Searches)> SeedAsync()
        {
            await _gate.WaitAsync();
            try
            {
                return _seeded ??= await RecordAsync();
            }
            finally
            {
                _gate.Release();
            }
        }

        private async Task<(long, List<long>)> RecordAsync()
        {
            var engine = Factory.Engine;
            var caseId = await Factory.AssignToCaseAsync("r-analyst", Case, Role.Analyst);
            var at = DateTimeOffset.UtcNow.AddHours(-1);
            SearchRecord Search(SearchOutcome outcome, int candidates) =>
                new(at, "r-analyst", new string('c', 64), 1, 1, 75f, 40f, null, outcome, "top=10", engine.ModelId, 10, candidates, candidates, 4.2)
                {
                    CaseId = caseId,
                    CaseNumber = Case,
                    ProbeSource = ProbeSources.CctvStill,
                    GalleryVersion = 3,
                };
            var ids = new List<long>
            {
                await engine.SearchLog.RecordSearchAsync(
                    Search(SearchOutcome.Candidates, 2), new byte[] { 1, 2, 3 },
                    [new StoredCandidate(1, 11, 21, 0.61f, 1e-6, true), new StoredCandidate(2, 12, 22, 0.41f, 1e-4, true)]),
                await engine.SearchLog.RecordSearchAsync(Search(SearchOutcome.NoCandidateAboveThreshold, 0), ReadOnlyMemory<byte>.Empty, []),
            };
            var refused = await Assert.ThrowsAsync<SearchRefusedException>(() => engine.SearchAsync(
                new SearchRequest(TestImages.Jpeg(64, 64)) { By = "r-analyst", CaseNumber = Case, ProbeSource = ProbeSources.Sketch }));
            ids.Add(refused.SearchId);
            ExpiredSearch = await engine.SearchLog.RecordSearchAsync(
                Search(SearchOutcome.RefusedIntake, 0) with { Refusal = "authorisation_expired", Face = null, Quality = null, FacesInProbe = 0 },
                ReadOnlyMemory<byte>.Empty, []);
            ids.Add(ExpiredSearch);
            return (caseId, ids);
        }
    }
}

/// <summary>GET /api/audit/status on a server of its own, so that the first request verifies afresh: the answer, then the cache.</summary>
public sealed class AuditStatusApiTests : IAsyncLifetime
{
    private readonly StatusServer _server = new();

    public Task InitializeAsync() => _server.InitializeAsync();

    public Task DisposeAsync() => _server.DisposeAsync();

    [Fact]
    public async Task The_status_verifies_the_log_reports_the_latest_checkpoint_and_is_reused_for_a_minute()
    {
        var factory = _server.Factory;
        var client = await factory.UserWithKeyAsync("s-aud", Role.Auditor);
        await factory.Engine.Audit.AppendAsync(new NewAuditEvent("tests", AuditActions.Admin, "status:test"));
        using var key = AuditSigningKey.LoadOrCreate(factory.DataDirectory);
        var checkpoint = await factory.Engine.Audit.CheckpointAsync(key);

        var first = await Http.JsonAsync(await client.GetAsync("/api/audit/status"));
        Assert.True(first.GetProperty("intact").GetBoolean(), first.ToString());
        Assert.Equal(0, first.GetProperty("problemCount").GetInt64());
        Assert.True(first.GetProperty("keyPresent").GetBoolean());
        var events = first.GetProperty("events").GetInt64();
        Assert.True(events >= checkpoint.TreeSize);
        Assert.Equal(64, first.GetProperty("headRoot").GetString()!.Length);
        var latest = first.GetProperty("latestCheckpoint");
        Assert.Equal(checkpoint.TreeSize, latest.GetProperty("treeSize").GetInt64());
        Assert.Equal(Convert.ToHexStringLower(checkpoint.RootHash), latest.GetProperty("rootHash").GetString());
        Assert.Equal(events - checkpoint.TreeSize, first.GetProperty("unanchoredEvents").GetInt64());
        Assert.Equal(60, first.GetProperty("maxAgeSeconds").GetInt32());
        Assert.Equal(System.Text.Json.JsonValueKind.Null, first.GetProperty("firstBadSeq").ValueKind);

        // More events: the cached answer is served until it is a minute old.
        await factory.Engine.Audit.AppendAsync(new NewAuditEvent("tests", AuditActions.Admin, "status:test"));
        var second = await Http.JsonAsync(await client.GetAsync("/api/audit/status"));
        var age = second.GetProperty("computedAt").GetDateTimeOffset() - first.GetProperty("computedAt").GetDateTimeOffset();
        if (age == TimeSpan.Zero)
        {
            Assert.Equal(events, second.GetProperty("events").GetInt64());
        }
        else
        {
            Assert.True(age >= TimeSpan.FromMinutes(1), $"recomputed after {age}");
            Assert.True(second.GetProperty("events").GetInt64() > events);
        }
    }

    private sealed class StatusServer : ServerFixture
    {
        protected override string Name => "audit-status";
    }
}
