using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;
using Lineup.Core.Audit;
using Lineup.Core.Catalog;
using Lineup.Core.Oversight;
using Lineup.Core.Security;
using Lineup.Ingest.Sources;
using Lineup.Server.Api;

namespace Lineup.Server.Tests;

/// <summary>
/// Reviewers of case R-1 and the people around them, each with an API key: the analyst who searches, three reviewers, a
/// user with both roles, a reviewer whose training has expired, a cleared reviewer and an analyst not on the case, a
/// supervisor and an admin (neither assigned).
/// </summary>
public sealed class ReviewServer : ServerFixture
{
    public const string Case = "R-1";

    public Dictionary<string, HttpClient> Clients { get; } = [];

    protected override string Name => "review";

    protected override async Task SeedAsync(LineupFactory factory)
    {
        foreach (var (name, role) in new[]
        {
            ("r-analyst", Role.Analyst), ("r-rev1", Role.Reviewer), ("r-rev2", Role.Reviewer), ("r-rev3", Role.Reviewer), ("r-lapsed", Role.Reviewer),
        })
        {
            await factory.AssignToCaseAsync(name, Case, role);
        }

        await factory.AssignToCaseAsync("r-both", Case, Role.Analyst, Role.Reviewer);
        await factory.AssignToCaseAsync("r-outsider", "R-OTHER", Role.Reviewer);
        await factory.AssignToCaseAsync("r-stranger", "R-OTHER", Role.Analyst);
        var now = factory.Engine.Options.Clock.GetUtcNow();
        await factory.Engine.Cases.SetClearanceAsync("r-lapsed", now.AddYears(1), now.AddDays(-1), "tests");
        await factory.AddUserAsync("r-sup", Role.Supervisor);
        await factory.AddUserAsync("r-admin", Role.Admin);
        foreach (var name in new[] { "r-analyst", "r-rev1", "r-rev2", "r-rev3", "r-lapsed", "r-both", "r-outsider", "r-stranger", "r-sup", "r-admin" })
        {
            Clients[name] = factory.KeyClient(await factory.AddKeyAsync(name));
        }
    }
}

/// <summary>
/// The two-person rule through the API, over searches recorded straight into the server's catalog (ids and scores, a
/// small JPEG as the probe): refusals and their status codes, independence of the second reviewer, the probe, the
/// export, and the audit trail of all of it.
/// </summary>
public sealed class ReviewApiTests(ReviewServer server) : IClassFixture<ReviewServer>
{
    private LineupFactory Factory => server.Factory;

    private HttpClient As(string user) => server.Clients[user];

    private async Task<(long Id, byte[] Probe)> RecordSearchAsync(string by, byte[]? probe = null)
    {
        var engine = Factory.Engine;
        var found = (await engine.Cases.FindCaseAsync(ReviewServer.Case))!;
        probe ??= TestImages.Jpeg(64, 48);
        var candidates = Enumerable.Range(1, 3)
            .Select(rank => new StoredCandidate(rank, 1000 + rank, 2000 + rank, 0.7f - (0.2f * (rank - 1)), 1e-6 * rank, rank <= 2))
            .ToList();
        var record = new SearchRecord(engine.Options.Clock.GetUtcNow(), by, Convert.ToHexStringLower(SHA256.HashData(probe)), 1, 1, 80f, 40f, null,
            SearchOutcome.Candidates, "top=3", engine.ModelId, 10, 3, 2, 5.0)
        {
            CaseId = found.Id,
            CaseNumber = found.Number,
            ProbeSource = ProbeSources.FieldPhoto,
        };
        return (await engine.SearchLog.RecordSearchAsync(record, probe, candidates), probe);
    }

    private static Task<HttpResponseMessage> DecideAsync(HttpClient client, long search, int rank, string decision, string? reason = null) =>
        client.PostAsJsonAsync($"/api/searches/{search}/candidates/{rank}/decision", new { decision, reason });

    private static Task<HttpResponseMessage> ExportAsync(HttpClient client, long search, int rank) =>
        client.PostAsync($"/api/searches/{search}/candidates/{rank}/export", null);

    private static async Task<JsonElement> RefusedAsync(HttpResponseMessage response, HttpStatusCode status, string code)
    {
        var problem = await Http.ProblemAsync(response, status);
        Assert.True(problem.TryGetProperty("code", out var c) && c.GetString() == code, $"expected code {code}: {problem}");
        Http.Detail(problem);
        return problem;
    }

    private async Task<List<AuditEvent>> EventsAsync(string action, string subjectPrefix) =>
        (await Factory.Engine.Audit.ReadEventsAsync(1, 1_000_000)).Where(e => e.Action == action && e.Subject.StartsWith(subjectPrefix, StringComparison.Ordinal)).ToList();

    private async Task<JsonElement> CandidatesAsync(string user, long search) =>
        await Http.JsonAsync(await As(user).GetAsync($"/api/searches/{search}/candidates"));

    private static JsonElement Rank(JsonElement view, int rank) =>
        view.GetProperty("candidates").EnumerateArray().Single(c => c.GetProperty("rank").GetInt32() == rank);

    [Fact]
    public async Task Export_is_refused_before_two_distinct_confirmations_and_succeeds_after_them()
    {
        var (search, probe) = await RecordSearchAsync("r-analyst");

        var none = await RefusedAsync(await ExportAsync(As("r-analyst"), search, 1), HttpStatusCode.Conflict, ReviewRefusals.NotConfirmed);
        Assert.Equal("unreviewed", none.GetProperty("leadStatus").GetString());

        var first = await Http.JsonAsync(await DecideAsync(As("r-rev1"), search, 1, "confirm"));
        Assert.Equal(("r-rev1", "confirm", search, 1), (first.GetProperty("user").GetString(), first.GetProperty("decision").GetString(),
            first.GetProperty("searchId").GetInt64(), first.GetProperty("rank").GetInt32()));
        Assert.False(first.TryGetProperty("status", out _), first.ToString());

        var one = await RefusedAsync(await ExportAsync(As("r-analyst"), search, 1), HttpStatusCode.Conflict, ReviewRefusals.NotConfirmed);
        Assert.Equal("awaitingSecond", one.GetProperty("leadStatus").GetString());
        await RefusedAsync(await ExportAsync(As("r-sup"), search, 1), HttpStatusCode.Conflict, ReviewRefusals.NotConfirmed);

        // The same reviewer again is not a second confirmation.
        await RefusedAsync(await DecideAsync(As("r-rev1"), search, 1, "confirm"), HttpStatusCode.Conflict, ReviewRefusals.AlreadyDecided);
        await RefusedAsync(await ExportAsync(As("r-analyst"), search, 1), HttpStatusCode.Conflict, ReviewRefusals.NotConfirmed);

        await Http.JsonAsync(await DecideAsync(As("r-rev2"), search, 1, "confirm", "same mole on the chin"));
        using var exported = await ExportAsync(As("r-analyst"), search, 1);
        var package = await Http.JsonAsync(exported);
        Assert.Equal("no-store", exported.Headers.CacheControl?.ToString());
        Assert.Equal(LeadPackageDto.FormatName, package.GetProperty("format").GetString());
        Assert.Equal((ReviewServer.Case, search, "r-analyst", "confirmed"), (package.GetProperty("caseNumber").GetString(), package.GetProperty("searchId").GetInt64(),
            package.GetProperty("searchedBy").GetString(), package.GetProperty("status").GetString()));
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(probe)), package.GetProperty("probeSha256").GetString());
        var candidate = package.GetProperty("candidate");
        Assert.Equal((1001L, 2001L, 0.7f), (candidate.GetProperty("faceId").GetInt64(), candidate.GetProperty("imageId").GetInt64(), candidate.GetProperty("similarity").GetSingle()));
        Assert.Equal(1e-6, candidate.GetProperty("estimatedFmr").GetDouble(), 12);
        Assert.Equal(JsonValueKind.Null, package.GetProperty("image").ValueKind);
        Assert.Equal(["r-rev1", "r-rev2"], package.GetProperty("decisions").EnumerateArray().Select(d => d.GetProperty("user").GetString()));
        Assert.Equal("same mole on the chin", package.GetProperty("decisions")[1].GetProperty("reason").GetString());
        Assert.Equal(SearchApi.Disclaimer, package.GetProperty("disclaimer").GetString());
        Assert.Equal("r-analyst", package.GetProperty("exportedBy").GetString());

        // A supervisor (not assigned, but overseeing) exports too; an analyst of another case does not see the search.
        await Http.JsonAsync(await ExportAsync(As("r-sup"), search, 1));
        await Http.ProblemAsync(await ExportAsync(As("r-stranger"), search, 1), HttpStatusCode.NotFound);

        var logged = Assert.Single(await Factory.Engine.Audit.ReadEventsAsync(package.GetProperty("auditSeq").GetInt64(), 1));
        Assert.Equal((AuditActions.Export, $"candidate:{search}/1", "r-analyst"), (logged.Action, logged.Subject, logged.Actor));
        var exports = await EventsAsync(AuditActions.Export, $"candidate:{search}/");
        Assert.Equal(
            [("r-analyst", "refused"), ("r-analyst", "refused"), ("r-sup", "refused"), ("r-analyst", "refused"), ("r-analyst", "exported"), ("r-sup", "exported"), ("r-stranger", "refused")],
            exports.Select(e => (e.Actor, e.Details["outcome"]!.Value.Text)));
        Assert.Equal(ReviewRefusals.NotAssigned, exports[^1].Details["refusal"]!.Value.Text);
        var confirms = await EventsAsync(AuditActions.Confirm, $"candidate:{search}/");
        Assert.Equal([("r-rev1", "recorded"), ("r-rev1", "refused"), ("r-rev2", "recorded")], confirms.Select(e => (e.Actor, e.Details["outcome"]!.Value.Text)));
    }

    [Fact]
    public async Task Self_confirmation_and_the_requester_confirming_are_refused_and_audited()
    {
        var (own, _) = await RecordSearchAsync("r-both");
        var self = await RefusedAsync(await DecideAsync(As("r-both"), own, 1, "confirm"), HttpStatusCode.Forbidden, ReviewRefusals.OwnSearch);
        Assert.Contains("own search", Http.Detail(self), StringComparison.Ordinal);
        await RefusedAsync(await DecideAsync(As("r-both"), own, 2, "reject", "not him"), HttpStatusCode.Forbidden, ReviewRefusals.OwnSearch);

        // The analyst who asked for the search holds no review permission at all.
        var (requested, _) = await RecordSearchAsync("r-analyst");
        await Http.ProblemAsync(await DecideAsync(As("r-analyst"), requested, 1, "confirm"), HttpStatusCode.Forbidden);

        await Http.JsonAsync(await DecideAsync(As("r-rev1"), own, 1, "confirm"));
        await RefusedAsync(await ExportAsync(As("r-both"), own, 1), HttpStatusCode.Conflict, ReviewRefusals.NotConfirmed);
        Assert.Single(await ReviewApi.Reviews(Factory.Engine).GetDecisionsAsync(own));

        var confirms = await EventsAsync(AuditActions.Confirm, $"candidate:{own}/");
        Assert.Equal(
            [("r-both", "refused", ReviewRefusals.OwnSearch), ("r-both", "refused", ReviewRefusals.OwnSearch), ("r-rev1", "recorded", null)],
            confirms.Select(e => (e.Actor, e.Details["outcome"]!.Value.Text, e.Details["refusal"]?.Text)));
    }

    [Fact]
    public async Task Unassigned_and_uncleared_reviewers_are_refused_and_the_uncleared_queue_says_why()
    {
        var (search, _) = await RecordSearchAsync("r-analyst");
        await RefusedAsync(await DecideAsync(As("r-outsider"), search, 1, "confirm"), HttpStatusCode.Forbidden, ReviewRefusals.NotAssigned);
        var lapsed = await RefusedAsync(await DecideAsync(As("r-lapsed"), search, 1, "confirm"), HttpStatusCode.Forbidden, ReviewRefusals.Clearance);
        Assert.Contains("training", Http.Detail(lapsed), StringComparison.Ordinal);
        await RefusedAsync(await DecideAsync(As("r-rev1"), search, 7, "confirm"), HttpStatusCode.NotFound, ReviewRefusals.NoSuchCandidate);
        await Http.ProblemAsync(await DecideAsync(As("r-rev1"), search, 1, "maybe"), HttpStatusCode.BadRequest);
        await Http.ProblemAsync(await As("r-rev1").PostAsJsonAsync($"/api/searches/{search}/candidates/1/decision", new { reason = "x" }), HttpStatusCode.BadRequest);
        Assert.Empty(await ReviewApi.Reviews(Factory.Engine).GetDecisionsAsync(search));

        var queue = await Http.JsonAsync(await As("r-lapsed").GetAsync("/api/reviews"));
        Assert.Empty(queue.GetProperty("items").EnumerateArray());
        Assert.Equal(ReviewRefusals.Clearance, queue.GetProperty("blocked").GetProperty("code").GetString());
        var outsider = await Http.JsonAsync(await As("r-outsider").GetAsync("/api/reviews"));
        Assert.DoesNotContain(outsider.GetProperty("items").EnumerateArray(), i => i.GetProperty("searchId").GetInt64() == search);
        Assert.Equal(JsonValueKind.Null, outsider.GetProperty("blocked").ValueKind);
        await Http.ProblemAsync(await As("r-outsider").GetAsync($"/api/searches/{search}/candidates"), HttpStatusCode.NotFound);

        var refusals = (await EventsAsync(AuditActions.Confirm, $"candidate:{search}/")).Select(e => (e.Actor, e.Details["refusal"]?.Text)).ToList();
        Assert.Equal([("r-outsider", ReviewRefusals.NotAssigned), ("r-lapsed", ReviewRefusals.Clearance), ("r-rev1", ReviewRefusals.NoSuchCandidate)], refusals);
    }

    [Fact]
    public async Task A_rejection_needs_a_reason_and_keeps_its_record()
    {
        var (search, _) = await RecordSearchAsync("r-analyst");
        await RefusedAsync(await DecideAsync(As("r-rev1"), search, 1, "reject"), HttpStatusCode.BadRequest, ReviewRefusals.ReasonRequired);
        var rejected = await Http.JsonAsync(await DecideAsync(As("r-rev1"), search, 1, "reject", "different hairline"));
        Assert.Equal(("reject", "different hairline"), (rejected.GetProperty("decision").GetString(), rejected.GetProperty("reason").GetString()));
        await Http.JsonAsync(await DecideAsync(As("r-rev2"), search, 1, "confirm"));
        await Http.JsonAsync(await DecideAsync(As("r-rev3"), search, 1, "confirm"));

        var refused = await RefusedAsync(await ExportAsync(As("r-analyst"), search, 1), HttpStatusCode.Conflict, ReviewRefusals.NotConfirmed);
        Assert.Equal("disputed", refused.GetProperty("leadStatus").GetString());
        var supervisor = Rank(await CandidatesAsync("r-sup", search), 1);
        Assert.Equal("disputed", supervisor.GetProperty("status").GetString());
        var kept = supervisor.GetProperty("decisions").EnumerateArray().First();
        Assert.Equal(("r-rev1", "reject", "different hairline"), (kept.GetProperty("user").GetString(), kept.GetProperty("decision").GetString(), kept.GetProperty("reason").GetString()));
        Assert.Equal(3, supervisor.GetProperty("decisions").GetArrayLength());
    }

    [Fact]
    public async Task The_second_reviewer_sees_nothing_of_the_first_decision_and_the_searcher_only_a_final_status()
    {
        var (search, _) = await RecordSearchAsync("r-analyst");
        await Http.JsonAsync(await DecideAsync(As("r-rev1"), search, 1, "confirm", "first reviewer's note"));

        // rev2's queue: the candidate, with what is needed to judge it, and nothing of rev1.
        var queueText = await (await As("r-rev2").GetAsync("/api/reviews?limit=1000")).Content.ReadAsStringAsync();
        var item = JsonDocument.Parse(queueText).RootElement.GetProperty("items").EnumerateArray()
            .Single(i => i.GetProperty("searchId").GetInt64() == search && i.GetProperty("rank").GetInt32() == 1);
        Assert.Equal((ReviewServer.Case, 1001L, $"/api/searches/{search}/probe", GalleryApi.ThumbnailUrl(1001), GalleryApi.ImageUrl(2001)),
            (item.GetProperty("caseNumber").GetString(), item.GetProperty("faceId").GetInt64(), item.GetProperty("probeUrl").GetString(),
                item.GetProperty("thumbnailUrl").GetString(), item.GetProperty("imageUrl").GetString()));
        Assert.InRange(item.GetProperty("similarity").GetSingle(), 0.69f, 0.71f);
        Assert.DoesNotContain("r-rev1", queueText, StringComparison.Ordinal);
        Assert.DoesNotContain("first reviewer", queueText, StringComparison.Ordinal);
        foreach (var hidden in new[] { "confirmations", "status", "decisions" })
        {
            Assert.False(item.TryGetProperty(hidden, out _), $"the queue item shows {hidden}: {item}");
        }

        // Both candidates of rank 1 and 2 are in rev2's queue, whatever rev1 did.
        Assert.Contains(JsonDocument.Parse(queueText).RootElement.GetProperty("items").EnumerateArray(),
            i => i.GetProperty("searchId").GetInt64() == search && i.GetProperty("rank").GetInt32() == 2);
        var rev1Queue = await Http.JsonAsync(await As("r-rev1").GetAsync("/api/reviews?limit=1000"));
        Assert.DoesNotContain(rev1Queue.GetProperty("items").EnumerateArray(), i => i.GetProperty("searchId").GetInt64() == search && i.GetProperty("rank").GetInt32() == 1);

        var secondText = await (await As("r-rev2").GetAsync($"/api/searches/{search}/candidates")).Content.ReadAsStringAsync();
        var second = Rank(JsonDocument.Parse(secondText).RootElement, 1);
        Assert.Equal(JsonValueKind.Null, second.GetProperty("status").ValueKind);
        Assert.Empty(second.GetProperty("decisions").EnumerateArray());
        Assert.True(second.GetProperty("mayDecide").GetBoolean());
        Assert.DoesNotContain("r-rev1", secondText, StringComparison.Ordinal);

        var firstView = Rank(await CandidatesAsync("r-rev1", search), 1);
        Assert.Equal(JsonValueKind.Null, firstView.GetProperty("status").ValueKind);
        Assert.Equal("r-rev1", Assert.Single(firstView.GetProperty("decisions").EnumerateArray()).GetProperty("user").GetString());
        Assert.False(firstView.GetProperty("mayDecide").GetBoolean());

        var searcher = Rank(await CandidatesAsync("r-analyst", search), 1);
        Assert.Equal(JsonValueKind.Null, searcher.GetProperty("status").ValueKind);
        Assert.Empty(searcher.GetProperty("decisions").EnumerateArray());
        Assert.Equal("awaitingSecond", Rank(await CandidatesAsync("r-sup", search), 1).GetProperty("status").GetString());

        var decided = await (await DecideAsync(As("r-rev2"), search, 1, "confirm")).Content.ReadAsStringAsync();
        Assert.DoesNotContain("r-rev1", decided, StringComparison.Ordinal);
        Assert.DoesNotContain("confirmed", decided, StringComparison.Ordinal);

        var searcherAfter = await (await As("r-analyst").GetAsync($"/api/searches/{search}/candidates")).Content.ReadAsStringAsync();
        Assert.Equal("confirmed", Rank(JsonDocument.Parse(searcherAfter).RootElement, 1).GetProperty("status").GetString());
        Assert.DoesNotContain("r-rev", searcherAfter, StringComparison.Ordinal);
        var rev2After = Rank(await CandidatesAsync("r-rev2", search), 1);
        Assert.Equal(JsonValueKind.Null, rev2After.GetProperty("status").ValueKind);
        Assert.Equal("r-rev2", Assert.Single(rev2After.GetProperty("decisions").EnumerateArray()).GetProperty("user").GetString());
        var overseen = Rank(await CandidatesAsync("r-sup", search), 1);
        Assert.Equal(["r-rev1", "r-rev2"], overseen.GetProperty("decisions").EnumerateArray().Select(d => d.GetProperty("user").GetString()));

        var views = await EventsAsync(AuditActions.View, $"candidates:{search}");
        Assert.Equal(["r-rev2", "r-rev1", "r-analyst", "r-sup", "r-analyst", "r-rev2", "r-sup"], views.Select(e => e.Actor));
    }

    [Fact]
    public async Task The_probe_is_served_to_the_case_and_overseers_with_its_type_and_no_store_and_every_view_is_audited()
    {
        var (search, probe) = await RecordSearchAsync("r-analyst");
        foreach (var user in new[] { "r-rev1", "r-analyst", "r-sup" })
        {
            using var response = await As(user).GetAsync($"/api/searches/{search}/probe");
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"{user}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
            Assert.Equal("image/jpeg", response.Content.Headers.ContentType?.MediaType);
            Assert.Equal("no-store", response.Headers.CacheControl?.ToString());
            Assert.Equal(probe, await response.Content.ReadAsByteArrayAsync());
        }

        // Need-to-know: not for a reviewer of another case, nor for an admin who manages cases but does not oversee them.
        await Http.ProblemAsync(await As("r-outsider").GetAsync($"/api/searches/{search}/probe"), HttpStatusCode.NotFound);
        await Http.ProblemAsync(await As("r-admin").GetAsync($"/api/searches/{search}/probe"), HttpStatusCode.NotFound);
        await Http.ProblemAsync(await As("r-rev1").GetAsync("/api/searches/987654/probe"), HttpStatusCode.NotFound);

        var views = await EventsAsync(AuditActions.View, $"probe:{search}");
        Assert.Equal(["r-rev1", "r-analyst", "r-sup"], views.Select(e => e.Actor));
        Assert.All(views, e => Assert.Equal(ReviewServer.Case, e.Details["case"]!.Value.Text));

        var (png, pngBytes) = await RecordSearchAsync("r-analyst", TestImages.Png(32, 32));
        using var pngResponse = await As("r-rev2").GetAsync($"/api/searches/{png}/probe");
        Assert.Equal("image/png", pngResponse.Content.Headers.ContentType?.MediaType);
        Assert.Equal(pngBytes, await pngResponse.Content.ReadAsByteArrayAsync());
    }

    [Fact]
    public void The_probe_type_is_read_from_its_magic_bytes()
    {
        Assert.Equal("image/jpeg", ReviewApi.ProbeContentType(TestImages.Jpeg(8, 8)));
        Assert.Equal("image/png", ReviewApi.ProbeContentType(TestImages.Png(8, 8)));
        Assert.Equal("image/webp", ReviewApi.ProbeContentType("RIFF\0\0\0\0WEBPVP8 "u8));
        Assert.Equal("image/gif", ReviewApi.ProbeContentType("GIF89a"u8));
        Assert.Equal("image/bmp", ReviewApi.ProbeContentType("BM\0\0"u8));
        Assert.Equal("application/octet-stream", ReviewApi.ProbeContentType("RIFF\0\0\0\0WAVE"u8));
        Assert.Equal("application/octet-stream", ReviewApi.ProbeContentType([]));
    }
}

/// <summary>The whole path over real photos: an analyst's search for a case, two reviewers, the exported lead's provenance.</summary>
[Trait("Category", "Data")]
public sealed class ReviewApiDataTests : IAsyncLifetime
{
    private readonly DataServer _server = new();

    public Task InitializeAsync() => _server.InitializeAsync();

    public Task DisposeAsync() => _server.DisposeAsync();

    [SkippableFact]
    public async Task A_real_search_is_confirmed_by_two_reviewers_and_exports_with_the_gallery_photos_provenance()
    {
        var factory = _server.Factory;
        var engine = factory.Engine;
        var folder = _server.Scratch.Combine("gallery");
        Directory.CreateDirectory(folder);
        var gallery = new[]
        {
            "lfw_deepfunneled/images/Tiger_Woods/Tiger_Woods_0001.jpg", "lfw_deepfunneled/images/Nicole_Kidman/Nicole_Kidman_0001.jpg",
            "lfw_deepfunneled/images/Jeb_Bush/Jeb_Bush_0001.jpg",
        };
        foreach (var photo in gallery)
        {
            File.Copy(TestPaths.Face(photo), Path.Combine(folder, photo.Replace('/', '_')));
        }

        var collection = await engine.Catalog.EnsureCollectionAsync("review", "integration test", "DE");
        await engine.IngestAsync(new FolderSource(folder, engine.Options.Limits.MaxBytes), collection);
        await factory.AssignToCaseAsync("d-analyst", "D-1", Role.Analyst);
        await factory.AssignToCaseAsync("d-rev1", "D-1", Role.Reviewer);
        await factory.AssignToCaseAsync("d-rev2", "D-1", Role.Reviewer);
        var analyst = factory.KeyClient(await factory.AddKeyAsync("d-analyst"));
        var rev1 = factory.KeyClient(await factory.AddKeyAsync("d-rev1"));
        var rev2 = factory.KeyClient(await factory.AddKeyAsync("d-rev2"));

        var probe = await File.ReadAllBytesAsync(TestPaths.Face("lfw_deepfunneled/images/Tiger_Woods/Tiger_Woods_0002.jpg"));
        var result = await Http.JsonAsync(await analyst.PostAsync("/api/search",
            Http.Form("photo", probe, fields: [("case", "D-1"), ("source", ProbeSources.FieldPhoto), ("top", "3")])));
        var search = result.GetProperty("searchId").GetInt64();
        var top = result.GetProperty("candidates")[0];
        Assert.True(top.GetProperty("aboveThreshold").GetBoolean(), result.ToString());

        // The reviewer's queue leads to the probe as uploaded and to the candidate's face.
        var item = (await Http.JsonAsync(await rev1.GetAsync("/api/reviews"))).GetProperty("items").EnumerateArray().Single(i => i.GetProperty("rank").GetInt32() == 1);
        Assert.Equal((search, top.GetProperty("faceId").GetInt64()), (item.GetProperty("searchId").GetInt64(), item.GetProperty("faceId").GetInt64()));
        using (var shown = await rev1.GetAsync(item.GetProperty("probeUrl").GetString()))
        {
            Assert.Equal("image/jpeg", shown.Content.Headers.ContentType?.MediaType);
            Assert.Equal(probe, await shown.Content.ReadAsByteArrayAsync());
        }

        using (var thumbnail = await rev1.GetAsync(item.GetProperty("thumbnailUrl").GetString()))
        {
            Assert.Equal("image/jpeg", thumbnail.Content.Headers.ContentType?.MediaType);
        }

        await RefusedAsync(await analyst.PostAsync($"/api/searches/{search}/candidates/1/export", null));
        await Http.JsonAsync(await rev1.PostAsJsonAsync($"/api/searches/{search}/candidates/1/decision", new { decision = "confirm" }));
        await RefusedAsync(await analyst.PostAsync($"/api/searches/{search}/candidates/1/export", null));
        await Http.JsonAsync(await rev2.PostAsJsonAsync($"/api/searches/{search}/candidates/1/decision", new { decision = "confirm" }));

        var package = await Http.JsonAsync(await analyst.PostAsync($"/api/searches/{search}/candidates/1/export", null));
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(probe)), package.GetProperty("probeSha256").GetString());
        Assert.Equal(ProbeSources.FieldPhoto, package.GetProperty("probeSource").GetString());
        var image = package.GetProperty("image");
        Assert.Equal(top.GetProperty("imageId").GetInt64(), image.GetProperty("id").GetInt64());
        Assert.Equal(("review", "integration test"), (image.GetProperty("collection").GetString(), image.GetProperty("lawfulBasis").GetString()));
        Assert.Equal("lfw_deepfunneled_images_Tiger_Woods_Tiger_Woods_0001.jpg",
            Path.GetFileName(image.GetProperty("provenance").GetProperty("originalPath").GetString()));
        var stored = await File.ReadAllBytesAsync(TestPaths.Face(gallery[0]));
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(stored)), image.GetProperty("sha256").GetString());
        Assert.Equal(["d-rev1", "d-rev2"], package.GetProperty("decisions").EnumerateArray().Select(d => d.GetProperty("user").GetString()));
        Assert.Equal("confirmed", package.GetProperty("status").GetString());

        static async Task RefusedAsync(HttpResponseMessage response) =>
            Assert.Equal(ReviewRefusals.NotConfirmed, (await Http.ProblemAsync(response, HttpStatusCode.Conflict)).GetProperty("code").GetString());
    }

    private sealed class DataServer : ServerFixture
    {
        protected override string Name => "review-data";
    }
}
