using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using Lineup.Core.Audit;
using Lineup.Core.Oversight;
using Lineup.Core.Security;
using Lineup.Hosting;
using Lineup.Ingest.Sources;
using Lineup.TestSupport;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Time.Testing;
using PdfSharp.Pdf.IO;

namespace Lineup.Cli.Tests;

/// <summary>
/// The disclosure report over a real engine and gallery: after accepted, no-face, low-quality and intake-refused searches
/// (an expired authorisation, an unassigned user, a sketch), it lists exactly the searches the audit log holds for the
/// case; it carries candidates, decisions, expired lists and settings; its JSON is deterministic and round-trips; each
/// export is audited with its SHA-256; and <c>lineup report</c> writes the same files.
/// </summary>
[Trait("Category", "Data")]
public sealed class DisclosureReportTests
{
    private const string Probe = "lfw_deepfunneled/images/Tiger_Woods/Tiger_Woods_0002.jpg";
    private const string Stranger = "lfw_deepfunneled/images/Alec_Baldwin/Alec_Baldwin_0001.jpg";
    private const string Override = "only photo of the robbery; case file 12";
    private const string Supervisor = "t-sup";

    private static readonly string[] s_gallery =
    [
        "lfw_deepfunneled/images/Tiger_Woods/Tiger_Woods_0001.jpg",
        "lfw_deepfunneled/images/Nicole_Kidman/Nicole_Kidman_0001.jpg",
        "lfw_deepfunneled/images/Angelina_Jolie/Angelina_Jolie_0001.jpg",
    ];

    private static readonly DateTimeOffset s_start = DateTimeOffset.Parse("2025-01-06T09:00:00Z", CultureInfo.InvariantCulture);

    [SkippableFact]
    public async Task The_report_lists_exactly_the_searches_the_audit_log_holds_for_the_case_with_their_candidates_and_decisions()
    {
        using var dir = new TempDirectory("disclosure");
        var folder = Engines.Gallery(dir, "gallery", s_gallery);
        var clock = new FakeTimeProvider(s_start);
        var options = await Engines.OptionsAsync(dir);
        options.Clock = clock;
        // A floor no real face reaches: every accepted search carries a recorded override, and one without is refused.
        options.Search.QualityFloor = 99.99f;
        var probe = await File.ReadAllBytesAsync(TestPaths.Face(Probe));
        var stranger = await File.ReadAllBytesAsync(TestPaths.Face(Stranger));
        List<long> reported;
        DisclosureModel model;

        await using (var engine = await LineupEngine.OpenAsync(options))
        {
            var collection = await engine.Catalog.EnsureCollectionAsync("disclosure", "integration test", "DE");
            await engine.IngestAsync(new FolderSource(folder, engine.Options.Limits.MaxBytes), collection);
            await TestCases.PrepareAsync(engine);
            await TestCases.PrepareAsync(engine, number: "T-0002");
            var now = clock.GetUtcNow();
            foreach (var (name, role) in new[] { ("t-rev1", Role.Reviewer), ("t-rev2", Role.Reviewer), ("t-other", Role.Analyst), (Supervisor, Role.Supervisor) })
            {
                await engine.Users.AddUserAsync(name, null, [role], null);
                await engine.Cases.SetClearanceAsync(name, now.AddYears(1), now.AddYears(1), "tests");
            }

            await engine.Cases.AssignAsync(TestCases.Number, "t-rev1", "tests");
            await engine.Cases.AssignAsync(TestCases.Number, "t-rev2", "tests");

            var ok = TestCases.Request(probe) with { Top = 5, QualityOverride = Override };
            var hit = await engine.SearchAsync(ok);
            var miss = await engine.SearchAsync(ok with { Photo = stranger });
            await Assert.ThrowsAsync<NoFaceException>(() => engine.SearchAsync(ok with { Photo = TestImages.Jpeg(320, 240) }));
            var lowQuality = await Assert.ThrowsAsync<ProbeQualityException>(() => engine.SearchAsync(ok with { QualityOverride = null }));
            var sketch = await RefusedAsync(engine, ok with { ProbeSource = ProbeSources.Sketch }, IntakeRefusal.RefusedSource);
            var unassigned = await RefusedAsync(engine, ok with { By = "t-other" }, IntakeRefusal.NotAssigned);
            var elsewhere = await engine.SearchAsync(ok with { CaseNumber = "T-0002" });
            // The number as typed, in other letters and with blanks: still this case (and its audit event names it so).
            var typed = await engine.SearchAsync(ok with { CaseNumber = " t-0001 " });
            await engine.Cases.ReauthoriseAsync(TestCases.Number, "W-SHORT", clock.GetUtcNow().AddHours(1), "tests");
            clock.Advance(TimeSpan.FromHours(2));
            var expired = await RefusedAsync(engine, ok, IntakeRefusal.AuthorisationExpired);
            await engine.Cases.ReauthoriseAsync(TestCases.Number, "W-RENEWED", clock.GetUtcNow().AddYears(1), "tests");
            // A search that named T-0003 before the case was opened belongs to T-0003's report.
            var early = await RefusedAsync(engine, ok with { CaseNumber = "T-0003" }, IntakeRefusal.UnknownCase);
            await TestCases.PrepareAsync(engine, number: "T-0003");

            Assert.True(hit.Candidates[0].AboveThreshold, "the probe's own identity should be candidate 1 above the threshold");
            Assert.True(typed.Candidates[0].AboveThreshold);
            var reviews = engine.Catalog as IReviewStore;
            Assert.NotNull(reviews);
            await reviews.DecideAsync(hit.SearchId, 1, "t-rev1", ReviewDecision.Confirm, null, clock.GetUtcNow());
            await reviews.DecideAsync(hit.SearchId, 1, "t-rev2", ReviewDecision.Confirm, "same ear and scar", clock.GetUtcNow());
            await reviews.DecideAsync(typed.SearchId, 1, "t-rev1", ReviewDecision.Reject, "different ear shape", clock.GetUtcNow());

            // Retention removed the stranger search's candidate list (as the sweeper deletes it: decisions, then candidates).
            Assert.True(miss.Candidates.Count > 0);
            ExpireCandidates(options.CatalogPath, miss.SearchId);

            var found = await engine.Cases.FindCaseAsync(TestCases.Number);
            var report = await DisclosureReport.BuildAsync(engine, found!, Supervisor);
            var events = await engine.Audit.ReadEventsAsync(1, 100_000);

            // The acceptance: the report's searches are the audit log's searches for the case, in order.
            reported = [.. report.Searches.Select(s => s.Id)];
            Assert.Equal(AuditedSearches(events, TestCases.Number), reported);
            Assert.Equal(8, reported.Count);
            Assert.Contains(hit.SearchId, reported);
            Assert.Contains(lowQuality.SearchId, reported);
            Assert.Equal(
                [sketch.SearchId, unassigned.SearchId, expired.SearchId],
                report.Searches.Where(s => s.Outcome == "refused_intake").Select(s => s.Id));
            Assert.Equal(["refused_source", "not_assigned", "authorisation_expired"], report.Searches.Where(s => s.Refusal is not null).Select(s => s.Refusal));
            Assert.Single(report.Searches, s => s.Outcome == "no_face");
            Assert.DoesNotContain(elsewhere.SearchId, reported);
            Assert.DoesNotContain(early.SearchId, reported);
            foreach (var other in new[] { "T-0002", "T-0003" })
            {
                var otherReport = await DisclosureReport.BuildAsync(engine, (await engine.Cases.FindCaseAsync(other))!, Supervisor);
                Assert.Equal(AuditedSearches(events, other), otherReport.Searches.Select(s => s.Id));
                Assert.Single(otherReport.Searches);
            }

            // The case, the model and the disclaimers.
            Assert.Equal(("W-RENEWED", "robbery", "open"), (report.Case.AuthorisationReference, report.Case.Offence, report.Case.Status));
            Assert.Contains("t-rev2", report.Case.AssignedUsers);
            Assert.Equal((engine.ModelId, engine.Threshold, engine.ThresholdFmr), (report.Model.ModelId, report.Model.Threshold, report.Model.ThresholdFmr));
            Assert.Equal(DisclosureModel.Of(options), report.Model);
            Assert.Equal(Disclaimers.InvestigativeLead, report.Disclaimers[0]);
            Assert.Equal((clock.GetUtcNow(), Supervisor), (report.GeneratedAt, report.GeneratedBy));
            Assert.True(report.ReviewDecisionsIncluded);

            // Each search as recorded, with its candidates and their review.
            var first = report.Searches.Single(s => s.Id == hit.SearchId);
            Assert.Equal(("kept", Override, ProbeSources.FieldPhoto), (first.CandidateList, first.QualityOverride, first.ProbeSource));
            Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(probe)), first.ProbeSha256);
            Assert.Equal(hit.Candidates.Select(c => (c.Rank, c.FaceId, c.Similarity)), first.Candidates.Select(c => (c.Rank, c.FaceId, c.Similarity)));
            Assert.Equal(hit.Candidates[0].EstimatedFmr, first.Candidates[0].EstimatedFmr);
            Assert.Equal("confirmed", first.Candidates[0].Status);
            Assert.Equal(["t-rev1", "t-rev2"], first.Candidates[0].Decisions!.Select(d => d.Reviewer));
            Assert.Equal("same ear and scar", first.Candidates[0].Decisions![1].Reason);
            Assert.All(first.Candidates.Skip(1), c => Assert.Equal(("unreviewed", 0), (c.Status, c.Decisions!.Count)));
            Assert.Contains("analyze=", first.Timings, StringComparison.Ordinal);
            Assert.Equal(hit.GallerySize, first.GallerySize);
            Assert.True(first.GalleryVersion > 0);
            var rejected = report.Searches.Single(s => s.Id == typed.SearchId).Candidates[0];
            Assert.Equal(("rejected", "reject", "different ear shape"), (rejected.Status, rejected.Decisions![0].Decision, rejected.Decisions[0].Reason));
            Assert.Equal("t-0001", report.Searches.Single(s => s.Id == typed.SearchId).CaseNumberGiven);
            var gone = report.Searches.Single(s => s.Id == miss.SearchId);
            Assert.Equal(("expired", miss.Candidates.Count), (gone.CandidateList, gone.CandidatesReturned));
            Assert.StartsWith("candidate list expired", gone.CandidateListNote, StringComparison.Ordinal);
            Assert.Empty(gone.Candidates);
            var refusedQuality = report.Searches.Single(s => s.Id == lowQuality.SearchId);
            Assert.Equal(("not_searched", (string?)null, 99.99f), (refusedQuality.CandidateList, refusedQuality.QualityOverride, refusedQuality.QualityFloor));
            Assert.True(refusedQuality.Quality < refusedQuality.QualityFloor);

            // JSON: the same report serialises to the same bytes, and reads back to them.
            var json = report.ToJson();
            Assert.Equal(json, (await DisclosureReport.BuildAsync(engine, found!, Supervisor)).ToJson());
            Assert.Equal(json, DisclosureReport.FromJson(json).ToJson());
            using (var parsed = JsonDocument.Parse(json))
            {
                Assert.Equal(DisclosureReport.CurrentFormat, parsed.RootElement.GetProperty("format").GetString());
                Assert.Equal(8, parsed.RootElement.GetProperty("searches").GetArrayLength());
            }

            // Each export appends its hash to the audit log before it is handed out.
            foreach (var format in new[] { DisclosureFormat.Json, DisclosureFormat.Pdf })
            {
                var export = await report.ExportAsync(engine.Audit, format);
                Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(export.Content)), export.Sha256);
                var logged = Assert.Single(await engine.Audit.ReadEventsAsync(export.AuditSeq, 1));
                Assert.Equal((AuditActions.Export, "report:T-0001", Supervisor), (logged.Action, logged.Subject, logged.Actor));
                Assert.Equal(export.Sha256, logged.Details["sha256"]!.Value.Text);
                Assert.Equal(format == DisclosureFormat.Json ? "json" : "pdf", logged.Details["format"]!.Value.Text);
                Assert.Equal((long?)8, logged.Details["searches"]!.Value.Integer);
                if (format == DisclosureFormat.Json)
                {
                    Assert.Equal(json, export.Content);
                }
                else
                {
                    AssertPdf(export.Content, report);
                }
            }

            model = report.Model;
        }

        await LineupCommandAsync(dir, reported, model);
    }

    /// <summary><c>lineup report</c> from the catalog alone: files, standard output, who may generate it, an unknown case.</summary>
    private static async Task LineupCommandAsync(TempDirectory dir, List<long> reported, DisclosureModel model)
    {
        string[] common = ["--data", dir.Combine("data"), "--quiet"];
        var json = dir.Combine("out", "report.json");
        var pdf = dir.Combine("out", "report.pdf");
        var files = await CliProcess.RunAsync([.. common, "report", TestCases.Number, "--json", json, "--pdf", pdf, "--as", Supervisor]);
        Assert.True(files.ExitCode == ExitCodes.Ok, files.Stderr);
        var fromFile = DisclosureReport.FromJson(await File.ReadAllBytesAsync(json));
        Assert.Equal(reported, fromFile.Searches.Select(s => s.Id));
        Assert.Equal(model, fromFile.Model);
        Assert.Equal(Supervisor, fromFile.GeneratedBy);
        AssertPdf(await File.ReadAllBytesAsync(pdf), fromFile);

        var stdout = await CliProcess.RunAsync([.. common, "report", TestCases.Number]);
        Assert.True(stdout.ExitCode == ExitCodes.Ok, stdout.Stderr);
        var printed = DisclosureReport.FromJson(System.Text.Encoding.UTF8.GetBytes(stdout.Stdout));
        Assert.Equal(reported, printed.Searches.Select(s => s.Id));
        Assert.StartsWith("cli:", printed.GeneratedBy, StringComparison.Ordinal);
        var sha = Convert.ToHexStringLower(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(stdout.Stdout)));
        Assert.Contains(sha, stdout.Stderr, StringComparison.Ordinal);

        var analyst = await CliProcess.RunAsync([.. common, "report", TestCases.Number, "--as", TestCases.Analyst]);
        Assert.Equal(ExitCodes.Refused, analyst.ExitCode);
        var unknown = await CliProcess.RunAsync([.. common, "report", "NO-SUCH-CASE"]);
        Assert.Equal(ExitCodes.NotFound, unknown.ExitCode);

        await using var catalog = await Lineup.Storage.SqliteCatalog.OpenAsync(Path.Combine(dir.Combine("data"), "catalog.db"), model.ModelId);
        var exports = (await catalog.ReadEventsAsync(1, 100_000)).Where(e => e.Action == AuditActions.Export).ToList();
        Assert.Contains(exports, e => e.Details["sha256"]!.Value.Text == sha && e.Actor.StartsWith("cli:", StringComparison.Ordinal));
        Assert.Contains(exports, e => e.Details["sha256"]!.Value.Text == Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(pdf))));
    }

    private static void AssertPdf(byte[] content, DisclosureReport report)
    {
        Assert.Equal("%PDF-"u8.ToArray(), content[..5]);
        using var document = PdfReader.Open(new MemoryStream(content), PdfDocumentOpenMode.Import);
        // A title page, the case page, and the eight search sections on pages of their own or shared.
        Assert.True(document.PageCount >= 3, $"{document.PageCount} pages");
        Assert.Contains(report.Case.Number, document.Info.Title, StringComparison.Ordinal);
        Assert.Equal(report.GeneratedBy, document.Info.Author);
    }

    private static async Task<SearchRefusedException> RefusedAsync(LineupEngine engine, SearchRequest request, IntakeRefusal refusal)
    {
        var e = await Assert.ThrowsAsync<SearchRefusedException>(() => engine.SearchAsync(request));
        Assert.True(e.Refusal == refusal, $"expected {refusal}, got {e.Refusal}: {e.Message}");
        return e;
    }

    /// <summary>The ids of the audit log's search events whose <c>case</c> detail names <paramref name="number"/> (as typed: case and blanks ignored).</summary>
    private static List<long> AuditedSearches(IReadOnlyList<AuditEvent> events, string number) =>
        [.. events
            .Where(e => e.Action == AuditActions.Search && string.Equals(e.Details["case"]?.Text?.Trim(), number, StringComparison.OrdinalIgnoreCase))
            .Select(e => long.Parse(e.Subject["search:".Length..], CultureInfo.InvariantCulture))];

    private static void ExpireCandidates(string catalogPath, long searchId)
    {
        using var connection = new SqliteConnection($"Data Source={catalogPath};Pooling=False");
        connection.Open();
        using var delete = connection.CreateCommand();
        delete.CommandText = "DELETE FROM candidate_decisions WHERE search_id = $id; DELETE FROM search_candidates WHERE search_id = $id;";
        delete.Parameters.AddWithValue("$id", searchId);
        Assert.True(delete.ExecuteNonQuery() > 0);
    }
}
