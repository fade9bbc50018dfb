using System.Net;
using System.Text.Json;
using Lineup.Core.Audit;
using Lineup.Core.Catalog;
using Lineup.Core.Oversight;
using Lineup.Core.Security;

namespace Lineup.Server.Tests;

/// <summary>
/// The users a supervisor may assign (GET /api/cases/assignable-users) and the faces of a search's stored probe (GET
/// /api/searches/{id}/probe/faces) over a real search of a group photo: which face was searched, who may see it, audit.
/// </summary>
[Trait("Category", "Data")]
public sealed class ReviewProbeFacesTests : IAsyncLifetime
{
    private readonly ProbeFacesServer _server = new();

    public Task InitializeAsync() => _server.InitializeAsync();

    public Task DisposeAsync() => _server.DisposeAsync();

    [Fact]
    public async Task Assignable_users_are_the_enabled_ones_with_roles_and_whether_their_clearance_is_current()
    {
        var factory = _server.Factory;
        var engine = factory.Engine;
        var now = engine.Options.Clock.GetUtcNow();
        await factory.AssignToCaseAsync("a-cleared", "A-1", Role.Analyst, Role.Reviewer);
        await factory.AddUserAsync("a-lapsed", Role.Reviewer);
        await engine.Cases.SetClearanceAsync("a-lapsed", now.AddYears(1), now.AddDays(-1), "tests");
        await factory.AddUserAsync("a-never", Role.Analyst);
        await factory.AddUserAsync("a-off", Role.Analyst);
        await engine.Users.DisableUserAsync("a-off");
        var supervisor = await factory.UserWithKeyAsync("a-sup", Role.Supervisor);

        var users = (await Http.JsonAsync(await supervisor.GetAsync("/api/cases/assignable-users"))).EnumerateArray()
            .ToDictionary(u => u.GetProperty("name").GetString()!);

        Assert.DoesNotContain("a-off", users.Keys);
        Assert.Contains("a-sup", users.Keys);
        var cleared = users["a-cleared"];
        Assert.Equal(["analyst", "reviewer"], cleared.GetProperty("roles").EnumerateArray().Select(r => r.GetString()));
        Assert.True(cleared.GetProperty("cleared").GetBoolean());
        Assert.True(cleared.GetProperty("ndaUntil").GetDateTimeOffset() > now);
        Assert.True(cleared.GetProperty("trainingUntil").GetDateTimeOffset() > now);
        Assert.False(users["a-lapsed"].GetProperty("cleared").GetBoolean());
        Assert.True(users["a-lapsed"].GetProperty("trainingUntil").GetDateTimeOffset() < now);
        Assert.False(users["a-never"].GetProperty("cleared").GetBoolean());
        Assert.Equal(JsonValueKind.Null, users["a-never"].GetProperty("ndaUntil").ValueKind);

        // An analyst (cases.read, not cases.manage) is not shown the user list.
        var analyst = factory.KeyClient(await factory.AddKeyAsync("a-cleared"));
        Assert.Equal(HttpStatusCode.Forbidden, (await analyst.GetAsync("/api/cases/assignable-users")).StatusCode);
    }

    [SkippableFact]
    public async Task The_probe_faces_of_a_search_say_which_face_was_searched_to_those_who_may_see_the_probe()
    {
        var factory = _server.Factory;
        var engine = factory.Engine;
        await factory.AssignToCaseAsync("p-analyst", "P-1", Role.Analyst);
        await factory.AssignToCaseAsync("p-rev", "P-1", Role.Reviewer);
        await factory.AssignToCaseAsync("p-outsider", "P-OTHER", Role.Reviewer);
        var analyst = factory.KeyClient(await factory.AddKeyAsync("p-analyst"));
        var reviewer = factory.KeyClient(await factory.AddKeyAsync("p-rev"));
        var outsider = factory.KeyClient(await factory.AddKeyAsync("p-outsider"));
        var supervisor = await factory.UserWithKeyAsync("p-sup", Role.Supervisor);
        var admin = await factory.UserWithKeyAsync("p-admin", Role.Admin);

        var probe = await File.ReadAllBytesAsync(Path.Combine(TestPaths.RequireFaces(), "bbt_faceapi/groups/bbt1.jpg"));
        var result = await Http.JsonAsync(await analyst.PostAsync("/api/search",
            Http.Form("photo", probe, fields: [("case", "P-1"), ("source", ProbeSources.FieldPhoto), ("face", "2"), ("overrideQuality", "test of face choice")])));
        var search = result.GetProperty("searchId").GetInt64();
        Assert.Equal(2, result.GetProperty("searchedFace").GetInt32());
        var searchedFaces = result.GetProperty("probeFaces").EnumerateArray().ToList();
        Assert.True(searchedFaces.Count >= 2, result.ToString());

        var response = await reviewer.GetAsync($"/api/searches/{search}/probe/faces");
        Assert.Equal("no-store", response.Headers.CacheControl?.ToString());
        var described = await Http.JsonAsync(response);
        Assert.Equal(search, described.GetProperty("searchId").GetInt64());
        Assert.Equal(2, described.GetProperty("searchedFace").GetInt32());
        Assert.Equal(result.GetProperty("probe").GetProperty("width").GetInt32(), described.GetProperty("probe").GetProperty("width").GetInt32());
        Assert.Equal(result.GetProperty("probe").GetProperty("height").GetInt32(), described.GetProperty("probe").GetProperty("height").GetInt32());
        // The same photo gives the same faces, numbered the same: the box drawn is the face the search used.
        var faces = described.GetProperty("faces").EnumerateArray().ToList();
        Assert.Equal(searchedFaces.Select(Box), faces.Select(Box));
        Assert.Equal(Box(searchedFaces[1]), Box(faces.Single(f => f.GetProperty("number").GetInt32() == 2)));

        // The analyst who searched and an overseeing supervisor see it too, like the probe; someone outside the case, and an
        // admin who manages cases without a need to see the faces in them, do not.
        await Http.JsonAsync(await analyst.GetAsync($"/api/searches/{search}/probe/faces"));
        await Http.JsonAsync(await supervisor.GetAsync($"/api/searches/{search}/probe/faces"));
        await Http.ProblemAsync(await outsider.GetAsync($"/api/searches/{search}/probe/faces"), HttpStatusCode.NotFound);
        await Http.ProblemAsync(await admin.GetAsync($"/api/searches/{search}/probe/faces"), HttpStatusCode.NotFound);
        await Http.ProblemAsync(await reviewer.GetAsync("/api/searches/999999/probe/faces"), HttpStatusCode.NotFound);

        // A search recorded without its probe (or whose probe expired) has no faces to show.
        var found = (await engine.Cases.FindCaseAsync("P-1"))!;
        var bare = await engine.SearchLog.RecordSearchAsync(new SearchRecord(engine.Options.Clock.GetUtcNow(), "p-analyst", new string('0', 64), 1, 1, 80f, 40f, null,
            SearchOutcome.NoFace, "top=3", engine.ModelId, 0, 0, 0, 1.0) { CaseId = found.Id, CaseNumber = found.Number });
        await Http.ProblemAsync(await reviewer.GetAsync($"/api/searches/{bare}/probe/faces"), HttpStatusCode.NotFound);

        // Each view is audited as a view of the probe, with scalars only.
        var views = (await engine.Audit.ReadEventsAsync(1, 1_000_000))
            .Where(e => e.Action == AuditActions.View && e.Subject == $"probe:{search}" && e.Details["part"]?.Text == "faces").ToList();
        Assert.All(views, e => Assert.Equal(faces.Count, e.Details["faces"]?.Integer));
        Assert.Equal(["p-analyst", "p-rev", "p-sup"], views.Select(e => e.Actor).Order(StringComparer.Ordinal));
    }

    private static (float, float, float, float) Box(JsonElement face)
    {
        var box = face.GetProperty("box");
        return (box.GetProperty("x1").GetSingle(), box.GetProperty("y1").GetSingle(), box.GetProperty("x2").GetSingle(), box.GetProperty("y2").GetSingle());
    }

    private sealed class ProbeFacesServer : ServerFixture
    {
        protected override string Name => "probe-faces";
    }
}
