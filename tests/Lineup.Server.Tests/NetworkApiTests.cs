using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Xml.Linq;
using Lineup.Core.Audit;
using Lineup.Core.Catalog;
using Lineup.Core.Network;
using Lineup.Core.Oversight;
using Lineup.Core.Security;
using Lineup.Hosting;
using Lineup.Ingest;
using Lineup.Ingest.Sources;
using Lineup.Server.Api;
using Lineup.Server.Jobs;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Lineup.Server.Tests;

/// <summary>
/// Case N-1 and the people around it, each with an API key: an analyst and a supervisor assigned to it, an analyst of
/// another case, an analyst whose only case's authorisation has expired, an analyst with no case, and a reviewer, an
/// auditor and an admin (who hold no network permission, or only the admin's clustering). With the shared photos, a small
/// gallery whose co-appearances are known (see <see cref="Gallery"/>), clustered through the API by the admin.
/// </summary>
public sealed class NetworkServer : ServerFixture
{
    public const string Case = "N-1";

    public const string Collection = "network";

    /// <summary>A page both <c>biden.jpg</c> and Tiger Woods' first photo were found on: a page co-appearance.</summary>
    public const string SharedPage = "https://news.example.org/2012/debate";

    /// <summary>The gallery: file, source URL, page URL, capture date. Obama and Biden share a photo; Obama is in a family photo; Biden and Tiger Woods share a page.</summary>
    public static readonly (string Photo, string? Source, string? Page, string? Captured)[] Gallery =
    [
        ("face_recognition/images/Barack_Obama/obama.jpg", "https://photos.example.org/obama.jpg", "https://news.example.org/2009/inauguration", "2009-01-20"),
        ("face_recognition/images/Barack_Obama/obama2.jpg", "https://photos.example.org/obama2.jpg", null, "2010-05-01"),
        ("face_recognition/images/Barack_Obama/knn_test_obama1.jpg", null, null, "2011-03-01"),
        ("faceaisharp/images/Barack_Obama/Barack_Obama_03.jpg", null, null, null),
        ("face_recognition/images/Joseph_Biden/biden.jpg", "https://photos.example.org/biden.jpg", SharedPage, "2012-10-11"),
        ("face_recognition/images/Joseph_Biden/knn_train_biden_biden2.jpg", null, null, "2013-01-01"),
        ("faceaisharp/images/Joseph_Biden/biden_7mpx.jpg", null, null, null),
        ("face_recognition/groups/obama_and_biden.jpg", "https://photos.example.org/obama_and_biden.jpg", "https://news.example.org/2008/ticket", "2008-08-23"),
        ("faceaisharp/groups/obama_family.jpg", "https://photos.example.org/obama_family.jpg", "https://family.example.com/portrait", "2011-06-01"),
        ("lfw_deepfunneled/images/Tiger_Woods/Tiger_Woods_0001.jpg", "https://sport.example.net/tiger1.jpg", SharedPage, "2012-10-12"),
        ("lfw_deepfunneled/images/Tiger_Woods/Tiger_Woods_0002.jpg", null, null, null),
    ];

    public Dictionary<string, HttpClient> Clients { get; } = [];

    /// <summary>The image id of each gallery photo (by its path in the shared set).</summary>
    public Dictionary<string, long> Images { get; } = [];

    /// <summary>
    /// The face ids of each gallery photo, best quality first. The detector also reports a few false or tiny faces (quality
    /// 0 on these photos: a hand, a face in the background), which stay identities of their own below the quality floor.
    /// </summary>
    public Dictionary<string, IReadOnlyList<long>> Faces { get; } = [];

    /// <summary>The answer to the admin's POST /api/network/cluster after the ingest.</summary>
    public JsonElement FirstRun { get; private set; }

    public bool HasData { get; private set; }

    protected override string Name => "network";

    // The background job would race the tests' own clustering runs; ClusteringJobTests covers it.
    protected override IReadOnlyDictionary<string, string> Settings => new Dictionary<string, string> { ["Lineup:Server:ClusteringMinutes"] = "0" };

    protected override async Task SeedAsync(LineupFactory factory)
    {
        var engine = factory.Engine;
        await factory.AssignToCaseAsync("n-analyst", Case, Role.Analyst);
        await factory.AssignToCaseAsync("n-sup", Case, Role.Supervisor);
        await factory.AssignToCaseAsync("n-outsider", "N-OTHER", Role.Analyst);
        var now = engine.Options.Clock.GetUtcNow();
        // Opened through the store, which (unlike the API) takes a past date: an authorisation that has run out.
        await engine.Cases.OpenCaseAsync(new NewCase("N-OLD", "robbery", "tests", "W-OLD", now.AddDays(-2)), "tests");
        await factory.AssignToCaseAsync("n-expired", "N-OLD", Role.Analyst);
        await factory.AddUserAsync("n-nocase", Role.Analyst);
        await engine.Cases.SetClearanceAsync("n-nocase", now.AddYears(1), now.AddYears(1), "tests");
        await factory.AddUserAsync("n-reviewer", Role.Reviewer);
        await factory.AddUserAsync("n-auditor", Role.Auditor);
        await factory.AddUserAsync("n-admin", Role.Admin);
        foreach (var name in new[] { "n-analyst", "n-sup", "n-outsider", "n-expired", "n-nocase", "n-reviewer", "n-auditor", "n-admin" })
        {
            Clients[name] = factory.KeyClient(await factory.AddKeyAsync(name));
        }

        if (!File.Exists(Path.Combine(TestPaths.FacesDirectory, "manifest.csv")))
        {
            return;
        }

        // A manifest gives the photos the provenance of a web collection: source and page URLs, capture dates.
        var folder = Scratch.Combine("gallery");
        Directory.CreateDirectory(folder);
        var manifest = new StringBuilder("path,source_url,page_url,captured_at\n");
        foreach (var (photo, source, page, captured) in Gallery)
        {
            var file = photo.Replace('/', '_');
            File.Copy(Path.Combine(TestPaths.FacesDirectory, photo), Path.Combine(folder, file));
            manifest.Append(CultureInfo.InvariantCulture, $"{file},{source},{page},{captured}\n");
        }

        var manifestPath = Path.Combine(folder, "manifest.csv");
        await File.WriteAllTextAsync(manifestPath, manifest.ToString());
        var outcomes = new List<IngestOutcome>();
        await engine.IngestAsync(
            new ManifestSource(manifestPath, engine.Options.SourceLimits), await engine.Catalog.EnsureCollectionAsync(Collection, "integration test", "DE"),
            new IngestObserver { Item = outcomes.Add });
        foreach (var outcome in outcomes)
        {
            // Items are named after their manifest line: line 2 is the first photo.
            var line = int.Parse(outcome.Name[(outcome.Name.LastIndexOf(':') + 1)..], CultureInfo.InvariantCulture);
            var photo = Gallery[line - 2].Photo;
            Assert.True(outcome.Status == IngestStatus.Ingested && outcome.ImageId is not null, $"{photo}: {outcome.Status} {outcome.Reason}");
            Images[photo] = outcome.ImageId!.Value;
            Faces[photo] = [.. (await engine.Catalog.GetFacesOfImageAsync(outcome.ImageId.Value)).OrderByDescending(f => f.Quality?.Score ?? 0).Select(f => f.Id)];
        }

        Assert.Equal(Gallery.Length, Images.Count);
        using var response = await Clients["n-admin"].PostAsync("/api/network/cluster", null);
        FirstRun = await Http.JsonAsync(response);
        HasData = true;
    }
}

/// <summary>
/// Network analysis through the API: the identities, associates, edges with their evidence, paths, communities and
/// exports of a gallery whose co-appearances are known; the case gate and the audit trail of every query; analysts'
/// corrections and their survival of re-clustering; and the input checks.
/// </summary>
public sealed class NetworkApiTests(NetworkServer server) : IClassFixture<NetworkServer>
{
    private const string Case = NetworkServer.Case;

    private const string Obama = "face_recognition/images/Barack_Obama/obama.jpg";
    private const string Biden = "face_recognition/images/Joseph_Biden/biden.jpg";
    private const string Together = "face_recognition/groups/obama_and_biden.jpg";
    private const string Family = "faceaisharp/groups/obama_family.jpg";
    private const string Tiger = "lfw_deepfunneled/images/Tiger_Woods/Tiger_Woods_0001.jpg";
    private const string Tiger2 = "lfw_deepfunneled/images/Tiger_Woods/Tiger_Woods_0002.jpg";

    private LineupFactory Factory => server.Factory;

    private HttpClient As(string user) => server.Clients[user];

    private HttpClient Analyst => As("n-analyst");

    private void RequireData()
    {
        TestPaths.RequireFaces();
        Assert.True(server.HasData, "the fixture did not ingest the gallery");
    }

    /// <summary>The person's face in a single-person photo: its best-quality face.</summary>
    private long Face(string photo) => server.Faces[photo][0];

    /// <summary>The co-appearance edges as the catalog stores them, to compare the API's answers with.</summary>
    private async Task<IReadOnlyList<CoAppearanceEdge>> StoredEdgesAsync() => await Factory.Engine.Network.Store.GetCoAppearancesAsync(null, 10);

    private static HashSet<long> Neighbours(IEnumerable<CoAppearanceEdge> edges, long identity) =>
        [.. edges.Where(e => e.A == identity || e.B == identity).Select(e => e.Other(identity))];

    private static IEnumerable<(long, long)> EdgePairs(JsonElement edges) =>
        edges.EnumerateArray().Select(e => (e.GetProperty("a").GetInt64(), e.GetProperty("b").GetInt64()));

    private static async Task<JsonElement> GetAsync(HttpClient client, string url, HttpStatusCode expected = HttpStatusCode.OK) =>
        await Http.JsonAsync(await client.GetAsync(url), expected);

    /// <summary>The identity a face was clustered into, through the API.</summary>
    private async Task<long> IdentityOfAsync(long faceId) =>
        (await GetAsync(Analyst, $"/api/network/faces/{faceId}/identity?case={Case}")).GetProperty("id").GetInt64();

    private async Task<long> IdentityOfAsync(string photo) => await IdentityOfAsync(Face(photo));

    private static long Id(JsonElement identity) => identity.GetProperty("id").GetInt64();

    private async Task<List<AuditEvent>> EventsAsync(Func<AuditEvent, bool> where) =>
        [.. (await Factory.Engine.Audit.ReadEventsAsync(1, 1_000_000)).Where(where)];

    private static async Task<JsonElement> RefusedAsync(HttpResponseMessage response, string refusal)
    {
        var problem = await Http.ProblemAsync(response, HttpStatusCode.Forbidden, "Network query refused");
        Assert.True(problem.TryGetProperty("refusal", out var r) && r.GetString() == refusal, $"expected refusal {refusal}: {problem}");
        Http.Detail(problem);
        return problem;
    }

    [SkippableFact]
    [Trait("Category", "Data")]
    public async Task The_admins_clustering_puts_each_persons_photos_in_one_identity_and_a_second_run_changes_nothing()
    {
        RequireData();
        var stats = await Factory.Engine.Catalog.GetStatsAsync();
        var run = server.FirstRun;
        Assert.Equal(stats.Faces, run.GetProperty("faces").GetInt32());
        Assert.True(run.GetProperty("identities").GetInt32() >= 4, run.ToString());
        Assert.True(run.GetProperty("version").GetInt64() >= 1, run.ToString());
        Assert.True(run.GetProperty("seconds").GetDouble() >= 0, run.ToString());

        var obama = await IdentityOfAsync(Obama);
        var biden = await IdentityOfAsync(Biden);
        var tiger = await IdentityOfAsync(Tiger);
        Assert.Equal(3, new[] { obama, biden, tiger }.Distinct().Count());
        foreach (var photo in server.Faces.Keys.Where(p => p.Contains("Barack_Obama", StringComparison.Ordinal)))
        {
            Assert.True(await IdentityOfAsync(Face(photo)) == obama, $"{photo} is not in Obama's identity");
        }

        foreach (var photo in server.Faces.Keys.Where(p => p.Contains("Joseph_Biden", StringComparison.Ordinal)))
        {
            Assert.True(await IdentityOfAsync(Face(photo)) == biden, $"{photo} is not in Biden's identity");
        }

        Assert.Equal(tiger, await IdentityOfAsync(Tiger2));
        // The photo of both: one face in each identity.
        var together = new List<long>();
        foreach (var face in server.Faces[Together])
        {
            together.Add(await IdentityOfAsync(face));
        }

        Assert.Contains(obama, together);
        Assert.Contains(biden, together);

        var status = await GetAsync(Analyst, "/api/network/status");
        Assert.Equal(stats.MaxFaceId, status.GetProperty("clusteredThroughFaceId").GetInt64());
        Assert.Equal(stats.Faces, status.GetProperty("faces").GetInt32());
        Assert.True(status.GetProperty("identities").GetInt32() >= 4);
        Assert.Equal(JsonValueKind.String, status.GetProperty("clusteredAt").ValueKind);
        Assert.Equal(ClusteringParameters.Default.Neighbours, status.GetProperty("parameters").GetProperty("neighbours").GetInt32());
        Assert.Equal(ClusteringParameters.Default.MergeThreshold, status.GetProperty("parameters").GetProperty("mergeThreshold").GetSingle());

        // Only an admin clusters; an incremental run with no new face re-links nothing and moves nothing.
        await Http.ProblemAsync(await Analyst.PostAsync("/api/network/cluster", null), HttpStatusCode.Forbidden);
        var again = await Http.JsonAsync(await As("n-admin").PostAsync("/api/network/cluster?full=false", null));
        Assert.False(again.GetProperty("full").GetBoolean());
        Assert.Equal(0, again.GetProperty("facesQueried").GetInt32());
        Assert.Equal(0, again.GetProperty("facesMoved").GetInt32());
        Assert.Equal(obama, await IdentityOfAsync(Obama));
        var cluster = await EventsAsync(e => e.Action == NetworkActions.Cluster && e.Actor == "n-admin");
        Assert.True(cluster.Count >= 2, $"{cluster.Count} clustering runs audited");
    }

    [SkippableFact]
    [Trait("Category", "Data")]
    public async Task An_analyst_in_the_case_sees_an_identitys_faces_and_timeline()
    {
        RequireData();
        var obama = await IdentityOfAsync(Obama);
        var list = await GetAsync(Analyst, $"/api/network/identities?case={Case}&minFaces=2&limit=50&offset=0");
        var listed = list.GetProperty("identities").EnumerateArray().ToList();
        Assert.All(listed, i => Assert.True(i.GetProperty("faces").GetInt32() >= 2, i.ToString()));
        Assert.Equal(listed.Select(i => i.GetProperty("faces").GetInt32()).OrderDescending(), listed.Select(i => i.GetProperty("faces").GetInt32()));
        var summary = Assert.Single(listed, i => Id(i) == obama);
        Assert.Equal($"identity {obama}", summary.GetProperty("label").GetString());
        Assert.Equal(JsonValueKind.Null, summary.GetProperty("name").ValueKind);
        var cover = summary.GetProperty("coverFaceId").GetInt64();
        Assert.Equal($"/api/faces/{cover}/thumbnail", summary.GetProperty("coverUrl").GetString());
        var paged = await GetAsync(Analyst, $"/api/network/identities?case={Case}&limit=1&offset=1");
        Assert.Equal(Id(listed[1]), Id(Assert.Single(paged.GetProperty("identities").EnumerateArray())));

        var detail = await GetAsync(Analyst, $"/api/network/identities/{obama}?case={Case}");
        Assert.Equal(obama, Id(detail.GetProperty("identity")));
        var faces = detail.GetProperty("faces").EnumerateArray().ToList();
        Assert.Equal(summary.GetProperty("faces").GetInt32(), faces.Count);
        var obamaFaces = server.Faces.Where(f => f.Key.Contains("Barack_Obama", StringComparison.Ordinal)).Select(f => f.Value[0]).ToList();
        Assert.Subset(faces.Select(f => f.GetProperty("faceId").GetInt64()).ToHashSet(), obamaFaces.ToHashSet());
        var qualities = faces.Select(f => f.GetProperty("quality").GetSingle()).ToList();
        Assert.Equal(qualities.OrderDescending(), qualities);
        var first = faces[0];
        Assert.Equal($"/api/faces/{first.GetProperty("faceId").GetInt64()}/thumbnail", first.GetProperty("thumbnailUrl").GetString());
        Assert.Equal($"/api/images/{first.GetProperty("imageId").GetInt64()}/preview", first.GetProperty("imageUrl").GetString());
        // The URLs are the gallery's, which the analyst may read.
        using (var thumbnail = await Analyst.GetAsync(first.GetProperty("thumbnailUrl").GetString()))
        {
            Assert.Equal(HttpStatusCode.OK, thumbnail.StatusCode);
            Assert.Equal("image/jpeg", thumbnail.Content.Headers.ContentType?.MediaType);
        }

        using (var preview = await Analyst.GetAsync(first.GetProperty("imageUrl").GetString()))
        {
            Assert.Equal(HttpStatusCode.OK, preview.StatusCode);
        }

        // The timeline: every sighting by capture date, unknown dates last, with its source and the page's domain.
        var timeline = detail.GetProperty("timeline").EnumerateArray().ToList();
        Assert.Equal(faces.Count, timeline.Count);
        var dates = timeline.Select(t => t.GetProperty("capturedAt").ValueKind == JsonValueKind.Null ? (DateTimeOffset?)null : t.GetProperty("capturedAt").GetDateTimeOffset()).ToList();
        var known = dates.TakeWhile(d => d is not null).ToList();
        Assert.All(dates.Skip(known.Count), d => Assert.Null(d));
        Assert.Equal(known.Order(), known);
        Assert.Equal(new DateTimeOffset(2008, 8, 23, 0, 0, 0, TimeSpan.Zero), dates[0]);
        var inauguration = Assert.Single(timeline, t => t.GetProperty("imageId").GetInt64() == server.Images[Obama]);
        Assert.Equal(Face(Obama), inauguration.GetProperty("faceId").GetInt64());
        Assert.Equal(new DateTimeOffset(2009, 1, 20, 0, 0, 0, TimeSpan.Zero), inauguration.GetProperty("capturedAt").GetDateTimeOffset());
        Assert.Equal("https://photos.example.org/obama.jpg", inauguration.GetProperty("sourceUrl").GetString());
        Assert.Equal("https://news.example.org/2009/inauguration", inauguration.GetProperty("pageUrl").GetString());
        Assert.Equal("news.example.org", inauguration.GetProperty("domain").GetString());
        Assert.Equal(NetworkServer.Collection, inauguration.GetProperty("collection").GetString());
        var local = Assert.Single(timeline, t => t.GetProperty("imageId").GetInt64() == server.Images["faceaisharp/images/Barack_Obama/Barack_Obama_03.jpg"]);
        Assert.Equal(JsonValueKind.Null, local.GetProperty("domain").ValueKind);

        // From a search candidate (a face) to its identity in one call.
        var ofFace = await GetAsync(Analyst, $"/api/network/faces/{Face(Obama)}/identity?case={Case}");
        Assert.Equal(obama, Id(ofFace));
        Assert.Equal(summary.GetProperty("faces").GetInt32(), ofFace.GetProperty("faces").GetInt32());

        await Http.ProblemAsync(await Analyst.GetAsync($"/api/network/identities/999999?case={Case}"), HttpStatusCode.NotFound);
        await Http.ProblemAsync(await Analyst.GetAsync($"/api/network/faces/999999/identity?case={Case}"), HttpStatusCode.NotFound);
    }

    [SkippableFact]
    [Trait("Category", "Data")]
    public async Task Associates_at_one_and_two_hops_edges_with_their_evidence_paths_and_communities()
    {
        RequireData();
        var obama = await IdentityOfAsync(Obama);
        var biden = await IdentityOfAsync(Biden);
        var tiger = await IdentityOfAsync(Tiger);
        var family = new HashSet<long>();
        foreach (var face in server.Faces[Family])
        {
            family.Add(await IdentityOfAsync(face));
        }

        Assert.True(family.Remove(obama), "Obama's face in the family photo is not in his identity");
        Assert.NotEmpty(family);

        // One hop from Biden: Obama (their photo), Tiger Woods (a page), and whoever else the detector found in Biden's
        // photos; the family photo's people, never photographed with Biden, are two hops away.
        var stored = await StoredEdgesAsync();
        var ring1 = Neighbours(stored, biden);
        var ring2 = ring1.SelectMany(r => Neighbours(stored, r)).Where(i => i != biden && !ring1.Contains(i)).ToHashSet();
        var daughters = family.Where(f => !ring1.Contains(f)).ToHashSet();
        Assert.NotEmpty(daughters);
        Assert.Subset(ring2, daughters);

        var one = await GetAsync(Analyst, $"/api/network/identities/{biden}/associates?case={Case}&hops=1");
        Assert.Equal((biden, 1), (Id(one.GetProperty("identity")), one.GetProperty("hops").GetInt32()));
        var direct = one.GetProperty("associates").EnumerateArray().ToDictionary(a => Id(a.GetProperty("identity")));
        Assert.Equal(ring1.Order(), direct.Keys.Order());
        Assert.Contains(obama, direct.Keys);
        Assert.Contains(tiger, direct.Keys);
        Assert.All(direct.Values, a => Assert.Equal((1, biden), (a.GetProperty("hops").GetInt32(), a.GetProperty("via").GetInt64())));
        foreach (var (id, associate) in direct)
        {
            var link = stored.Single(e => (e.A, e.B) == Pair(biden, id));
            Assert.Equal((link.Photos, link.Pages, link.Weight),
                (associate.GetProperty("photos").GetInt32(), associate.GetProperty("pages").GetInt32(), associate.GetProperty("weight").GetDouble()));
        }

        Assert.Equal((1, 0, 1.0), (direct[obama].GetProperty("photos").GetInt32(), direct[obama].GetProperty("pages").GetInt32(), direct[obama].GetProperty("weight").GetDouble()));
        Assert.Equal((0, 1, 0.5), (direct[tiger].GetProperty("photos").GetInt32(), direct[tiger].GetProperty("pages").GetInt32(), direct[tiger].GetProperty("weight").GetDouble()));
        // Strongest first.
        var weights = one.GetProperty("associates").EnumerateArray().Select(a => a.GetProperty("weight").GetDouble()).ToList();
        Assert.Equal(weights.OrderDescending(), weights);
        var graph = one.GetProperty("graph");
        var within = ring1.Append(biden).ToHashSet();
        Assert.Equal(within.Order(), graph.GetProperty("nodes").EnumerateArray().Select(Id).Order());
        Assert.Equal(
            stored.Where(e => within.Contains(e.A) && within.Contains(e.B)).Select(e => (e.A, e.B)).Order(),
            EdgePairs(graph.GetProperty("edges")).Order());
        Assert.Contains(Pair(biden, tiger), EdgePairs(graph.GetProperty("edges")));

        var two = await GetAsync(Analyst, $"/api/network/identities/{biden}/associates?case={Case}&hops=2");
        var reached = two.GetProperty("associates").EnumerateArray().ToDictionary(a => Id(a.GetProperty("identity")));
        Assert.Equal(ring1.Concat(ring2).Order(), reached.Keys.Order());
        Assert.All(ring1, r => Assert.Equal(1, reached[r].GetProperty("hops").GetInt32()));
        Assert.All(ring2, r => Assert.Equal(2, reached[r].GetProperty("hops").GetInt32()));
        Assert.All(ring2, r => Assert.Contains(reached[r].GetProperty("via").GetInt64(), ring1));
        Assert.All(daughters, d => Assert.Contains(Pair(obama, d), EdgePairs(two.GetProperty("graph").GetProperty("edges"))));
        // Every edge among them, those between two identities of the outer ring too (the family photo's people).
        var reach = within.Concat(ring2).ToHashSet();
        Assert.Equal(reach.Order(), two.GetProperty("graph").GetProperty("nodes").EnumerateArray().Select(Id).Order());
        Assert.Equal(
            stored.Where(e => reach.Contains(e.A) && reach.Contains(e.B)).Select(e => (e.A, e.B)).Order(),
            EdgePairs(two.GetProperty("graph").GetProperty("edges")).Order());

        // The hop limit is the server's.
        foreach (var hops in new[] { 0, 3 })
        {
            Http.Detail(await Http.ProblemAsync(await Analyst.GetAsync($"/api/network/identities/{biden}/associates?case={Case}&hops={hops}"), HttpStatusCode.BadRequest));
        }

        // The edge of the photo of both, read from either end.
        var edge = await GetAsync(Analyst, $"/api/network/edges/{obama}/{biden}?case={Case}");
        Assert.Equal((obama, biden, 1, 0), (Id(edge.GetProperty("a")), Id(edge.GetProperty("b")), edge.GetProperty("photos").GetInt32(), edge.GetProperty("pages").GetInt32()));
        var photo = Assert.Single(edge.GetProperty("evidence").EnumerateArray());
        var image = server.Images[Together];
        Assert.Equal(("photo", image, image), (photo.GetProperty("kind").GetString(), photo.GetProperty("imageId").GetInt64(), photo.GetProperty("otherImageId").GetInt64()));
        Assert.Equal(obama, await IdentityOfAsync(photo.GetProperty("faceId").GetInt64()));
        Assert.Equal(biden, await IdentityOfAsync(photo.GetProperty("otherFaceId").GetInt64()));
        Assert.Equal("https://news.example.org/2008/ticket", photo.GetProperty("pageUrl").GetString());
        Assert.Equal(new DateTimeOffset(2008, 8, 23, 0, 0, 0, TimeSpan.Zero), photo.GetProperty("capturedAt").GetDateTimeOffset());
        Assert.Equal($"/api/images/{image}/preview", photo.GetProperty("imageUrl").GetString());
        Assert.Equal($"/api/faces/{photo.GetProperty("faceId").GetInt64()}/thumbnail", photo.GetProperty("faceUrl").GetString());
        Assert.Equal($"/api/faces/{photo.GetProperty("otherFaceId").GetInt64()}/thumbnail", photo.GetProperty("otherFaceUrl").GetString());
        using (var evidence = await Analyst.GetAsync(photo.GetProperty("imageUrl").GetString()))
        {
            Assert.Equal(HttpStatusCode.OK, evidence.StatusCode);
        }

        var reverse = await GetAsync(Analyst, $"/api/network/edges/{biden}/{obama}?case={Case}");
        Assert.Equal((biden, obama), (Id(reverse.GetProperty("a")), Id(reverse.GetProperty("b"))));
        var reversed = Assert.Single(reverse.GetProperty("evidence").EnumerateArray());
        Assert.Equal(photo.GetProperty("faceId").GetInt64(), reversed.GetProperty("otherFaceId").GetInt64());
        Assert.Equal(photo.GetProperty("otherFaceId").GetInt64(), reversed.GetProperty("faceId").GetInt64());

        // The page: a photo of each on it.
        var page = await GetAsync(Analyst, $"/api/network/edges/{biden}/{tiger}?case={Case}");
        Assert.Equal((0, 1, 0.5), (page.GetProperty("photos").GetInt32(), page.GetProperty("pages").GetInt32(), page.GetProperty("weight").GetDouble()));
        var pageEvidence = Assert.Single(page.GetProperty("evidence").EnumerateArray());
        Assert.Equal(("page", NetworkServer.SharedPage), (pageEvidence.GetProperty("kind").GetString(), pageEvidence.GetProperty("pageUrl").GetString()));
        Assert.Equal((server.Images[Biden], server.Images[Tiger]), (pageEvidence.GetProperty("imageId").GetInt64(), pageEvidence.GetProperty("otherImageId").GetInt64()));
        Assert.Equal((Face(Biden), Face(Tiger)), (pageEvidence.GetProperty("faceId").GetInt64(), pageEvidence.GetProperty("otherFaceId").GetInt64()));

        // Known identities never seen together, and an unknown one.
        Assert.DoesNotContain(daughters.First(), Neighbours(stored, tiger));
        var never = Http.Detail(await Http.ProblemAsync(await Analyst.GetAsync($"/api/network/edges/{tiger}/{daughters.First()}?case={Case}"), HttpStatusCode.NotFound));
        Assert.Contains("never seen together", never, StringComparison.Ordinal);
        await Http.ProblemAsync(await Analyst.GetAsync($"/api/network/edges/{tiger}/999999?case={Case}"), HttpStatusCode.NotFound);
        await Http.ProblemAsync(await Analyst.GetAsync($"/api/network/edges/{tiger}/{tiger}?case={Case}"), HttpStatusCode.BadRequest);

        // The shortest evidenced path from Tiger Woods to Obama goes through Biden; one hop does not reach.
        var path = await GetAsync(Analyst, $"/api/network/path?case={Case}&from={tiger}&to={obama}&maxHops=4");
        Assert.True(path.GetProperty("found").GetBoolean());
        Assert.Equal([tiger, biden, obama], path.GetProperty("identities").EnumerateArray().Select(Id));
        Assert.Equal([Pair(biden, tiger), Pair(biden, obama)], path.GetProperty("edges").EnumerateArray().Select(e => (e.GetProperty("a").GetInt64(), e.GetProperty("b").GetInt64())));
        var unreached = await GetAsync(Analyst, $"/api/network/path?case={Case}&from={tiger}&to={obama}&maxHops=1");
        Assert.False(unreached.GetProperty("found").GetBoolean());
        Assert.Empty(unreached.GetProperty("identities").EnumerateArray());
        await Http.ProblemAsync(await Analyst.GetAsync($"/api/network/path?case={Case}&from={tiger}&to={obama}&maxHops=5"), HttpStatusCode.BadRequest);
        await Http.ProblemAsync(await Analyst.GetAsync($"/api/network/path?case={Case}&from={tiger}"), HttpStatusCode.BadRequest);
        await Http.ProblemAsync(await Analyst.GetAsync($"/api/network/path?case={Case}&from={tiger}&to=999999"), HttpStatusCode.NotFound);

        var communities = (await GetAsync(Analyst, $"/api/network/communities?case={Case}")).GetProperty("communities").EnumerateArray()
            .Select(c => c.GetProperty("identities").EnumerateArray().Select(Id).ToHashSet()).ToList();
        Assert.NotEmpty(communities);
        Assert.All(communities, c => Assert.True(c.Count >= 2));
        Assert.Single(communities, c => c.Contains(obama));
        Assert.Equal(communities.Select(c => c.Count).OrderDescending(), communities.Select(c => c.Count));
        Assert.Single((await GetAsync(Analyst, $"/api/network/communities?case={Case}&limit=1")).GetProperty("communities").EnumerateArray());
    }

    [SkippableFact]
    [Trait("Category", "Data")]
    public async Task GraphML_and_GEXF_exports_carry_the_identities_and_edges_and_are_audited_as_exports()
    {
        RequireData();
        var obama = await IdentityOfAsync(Obama);
        var biden = await IdentityOfAsync(Biden);
        var tiger = await IdentityOfAsync(Tiger);
        var before = (await Factory.Engine.Audit.ReadEventsAsync(1, 1_000_000)).Count;

        using var graphml = await Analyst.GetAsync($"/api/network/export?case={Case}&format=graphml");
        Assert.Equal(HttpStatusCode.OK, graphml.StatusCode);
        Assert.Equal(NetworkExport.GraphMlMediaType, graphml.Content.Headers.ContentType?.MediaType);
        Assert.Equal(NetworkApi.GraphMlFileName, graphml.Content.Headers.ContentDisposition?.FileName?.Trim('"'));
        Assert.Equal("no-store", graphml.Headers.CacheControl?.ToString());
        var g = XDocument.Parse(await graphml.Content.ReadAsStringAsync());
        XNamespace gns = "http://graphml.graphdrawing.org/xmlns";
        var nodes = g.Descendants(gns + "node").Select(n => (string)n.Attribute("id")!).ToHashSet();
        Assert.Superset(new[] { $"i{obama}", $"i{biden}", $"i{tiger}" }.ToHashSet(), nodes);
        var edges = g.Descendants(gns + "edge").ToList();
        var obamaBiden = Assert.Single(edges, e => (string)e.Attribute("id")! == EdgeId(obama, biden));
        Assert.Contains($"photo:{server.Images[Together]}", obamaBiden.Elements(gns + "data").Single(d => (string)d.Attribute("key")! == "evidence").Value, StringComparison.Ordinal);
        Assert.All(edges, e => Assert.Contains((string)e.Attribute("source")!, nodes));

        using var gexf = await Analyst.GetAsync($"/api/network/export?case={Case}&format=GEXF&identity={biden}&hops=1");
        Assert.Equal(HttpStatusCode.OK, gexf.StatusCode);
        Assert.Equal(NetworkExport.GexfMediaType, gexf.Content.Headers.ContentType?.MediaType);
        Assert.Equal(NetworkApi.GexfFileName, gexf.Content.Headers.ContentDisposition?.FileName?.Trim('"'));
        var x = XDocument.Parse(await gexf.Content.ReadAsStringAsync());
        XNamespace xns = "http://gexf.net/1.3";
        var stored = await StoredEdgesAsync();
        var within = Neighbours(stored, biden).Append(biden).ToHashSet();
        Assert.Subset(within, new[] { biden, obama, tiger }.ToHashSet());
        Assert.Equal(within.Select(i => $"i{i}").Order(), x.Descendants(xns + "node").Select(n => (string)n.Attribute("id")!).Order());
        Assert.Equal(
            stored.Where(e => within.Contains(e.A) && within.Contains(e.B)).Select(e => EdgeId(e.A, e.B)).Order(),
            x.Descendants(xns + "edge").Select(e => (string)e.Attribute("id")!).Order());
        // The whole graph: every stored edge.
        Assert.Equal(stored.Select(e => EdgeId(e.A, e.B)).Order(), edges.Select(e => (string)e.Attribute("id")!).Order());
        Assert.Equal("0.5", (string)x.Descendants(xns + "edge").Single(e => (string)e.Attribute("id")! == EdgeId(biden, tiger)).Attribute("weight")!);

        await Http.ProblemAsync(await Analyst.GetAsync($"/api/network/export?case={Case}&format=pdf"), HttpStatusCode.BadRequest);
        await Http.ProblemAsync(await Analyst.GetAsync($"/api/network/export?case={Case}"), HttpStatusCode.BadRequest);
        await Http.ProblemAsync(await Analyst.GetAsync($"/api/network/export?case={Case}&format=gexf&identity={biden}&hops=3"), HttpStatusCode.BadRequest);
        await Http.ProblemAsync(await Analyst.GetAsync($"/api/network/export?case={Case}&format=gexf&identity=999999"), HttpStatusCode.NotFound);
        await RefusedAsync(await As("n-outsider").GetAsync($"/api/network/export?case={Case}&format=graphml"), "not_assigned");

        // Exports are audited as exports, with the format; a refused one as a refused network query.
        var events = (await Factory.Engine.Audit.ReadEventsAsync(1, 1_000_000)).Skip(before).ToList();
        var exports = events.Where(e => e.Action == AuditActions.Export).ToList();
        Assert.Equal(
            [("n-analyst", "network:all", "graphml", Case), ("n-analyst", $"network:identity:{biden}", "gexf", Case)],
            exports.Select(e => (e.Actor, e.Subject, e.Details["format"]?.Text, e.Details["case"]?.Text)));
        var refused = Assert.Single(events, e => e.Actor == "n-outsider");
        Assert.Equal((NetworkActions.Query, "export", "refused", "not_assigned", Case),
            (refused.Action, refused.Details["query"]?.Text, refused.Details["outcome"]?.Text, refused.Details["refusal"]?.Text, refused.Details["case"]?.Text));
    }

    [SkippableFact]
    [Trait("Category", "Data")]
    public async Task Corrections_change_what_the_identity_shows_are_audited_and_survive_a_full_reclustering()
    {
        RequireData();
        var tiger = await IdentityOfAsync(Tiger);
        var (first, second) = (Face(Tiger), Face(Tiger2));
        Assert.Equal(tiger, await IdentityOfAsync(second));
        var before = (await Factory.Engine.Audit.ReadEventsAsync(1, 1_000_000)).Count;

        async Task<List<long>> FacesOfAsync(long identity) =>
            [.. (await GetAsync(Analyst, $"/api/network/identities/{identity}?case={Case}")).GetProperty("faces").EnumerateArray().Select(f => f.GetProperty("faceId").GetInt64()).Order()];
        List<long> both = [.. new[] { first, second }.Order()];

        // Split the second photo off: a new identity, returned.
        var split = await Http.JsonAsync(await Analyst.PostAsJsonAsync($"/api/network/identities/{tiger}/split", new { @case = Case, faces = new[] { second }, reason = "different person" }));
        var splitOff = Id(split);
        Assert.NotEqual(tiger, splitOff);
        Assert.Equal((1, true), (split.GetProperty("faces").GetInt32(), split.GetProperty("locked").GetBoolean()));
        Assert.Equal([first], await FacesOfAsync(tiger));
        Assert.Equal([second], await FacesOfAsync(splitOff));

        // Merge it back.
        var merged = await Http.JsonAsync(await Analyst.PostAsJsonAsync($"/api/network/identities/{tiger}/merge", new { @case = Case, from = splitOff, reason = "same person after all" }));
        Assert.Equal((tiger, 2), (Id(merged), merged.GetProperty("faces").GetInt32()));
        Assert.Equal(both, await FacesOfAsync(tiger));
        await Http.ProblemAsync(await Analyst.GetAsync($"/api/network/identities/{splitOff}?case={Case}"), HttpStatusCode.NotFound);

        // Split again and move the face back instead: the emptied identity goes.
        var again = Id(await Http.JsonAsync(await Analyst.PostAsJsonAsync($"/api/network/identities/{tiger}/split", new { @case = Case, faces = new[] { second } })));
        var moved = await Http.JsonAsync(await Analyst.PostAsJsonAsync($"/api/network/faces/{second}/move", new { @case = Case, identity = tiger, reason = "same person" }));
        Assert.Equal((tiger, 2), (Id(moved), moved.GetProperty("faces").GetInt32()));
        await Http.ProblemAsync(await Analyst.GetAsync($"/api/network/identities/{again}?case={Case}"), HttpStatusCode.NotFound);

        // Name it; a blank name clears it, and it is named again.
        var named = await Http.JsonAsync(await Analyst.PutAsJsonAsync($"/api/network/identities/{tiger}/name", new { @case = Case, name = "Tiger Woods" }));
        Assert.Equal(("Tiger Woods", "Tiger Woods"), (named.GetProperty("name").GetString(), named.GetProperty("label").GetString()));
        var cleared = await Http.JsonAsync(await Analyst.PutAsJsonAsync($"/api/network/identities/{tiger}/name", new { @case = Case, name = " " }));
        Assert.Equal((JsonValueKind.Null, $"identity {tiger}"), (cleared.GetProperty("name").ValueKind, cleared.GetProperty("label").GetString()));
        await Http.JsonAsync(await Analyst.PutAsJsonAsync($"/api/network/identities/{tiger}/name", new { @case = Case, name = "Tiger Woods" }));
        var identity = (await GetAsync(Analyst, $"/api/network/identities/{tiger}?case={Case}")).GetProperty("identity");
        Assert.Equal(("Tiger Woods", true), (identity.GetProperty("name").GetString(), identity.GetProperty("locked").GetBoolean()));

        // Bad corrections change nothing.
        await Http.ProblemAsync(await Analyst.PostAsJsonAsync($"/api/network/identities/{tiger}/merge", new { @case = Case }), HttpStatusCode.BadRequest);
        await Http.ProblemAsync(await Analyst.PostAsJsonAsync($"/api/network/identities/{tiger}/merge", new { @case = Case, from = tiger }), HttpStatusCode.BadRequest);
        await Http.ProblemAsync(await Analyst.PostAsJsonAsync($"/api/network/identities/{tiger}/merge", new { @case = Case, from = 999999 }), HttpStatusCode.NotFound);
        await Http.ProblemAsync(await Analyst.PostAsJsonAsync($"/api/network/identities/{tiger}/split", new { @case = Case, faces = new[] { Face(Obama) } }), HttpStatusCode.BadRequest);
        await Http.ProblemAsync(await Analyst.PostAsJsonAsync($"/api/network/identities/{tiger}/split", new { @case = Case, faces = new[] { first, second } }), HttpStatusCode.BadRequest);
        await Http.ProblemAsync(await Analyst.PostAsJsonAsync($"/api/network/faces/{first}/move", new { @case = Case }), HttpStatusCode.BadRequest);
        await Http.ProblemAsync(await Analyst.PostAsync($"/api/network/identities/{tiger}/merge", new StringContent("{not json", Encoding.UTF8, "application/json")), HttpStatusCode.BadRequest);
        await RefusedAsync(await Analyst.PostAsJsonAsync($"/api/network/identities/{tiger}/split", new { faces = new[] { second } }), "no_case");
        await RefusedAsync(await As("n-outsider").PostAsJsonAsync($"/api/network/identities/{tiger}/split", new { @case = Case, faces = new[] { second } }), "not_assigned");
        await Http.ProblemAsync(await As("n-reviewer").PutAsJsonAsync($"/api/network/identities/{tiger}/name", new { @case = Case, name = "x" }), HttpStatusCode.Forbidden);
        Assert.Equal(both, await FacesOfAsync(tiger));

        // Every correction is audited under the analyst's name.
        var corrections = (await Factory.Engine.Audit.ReadEventsAsync(1, 1_000_000)).Skip(before).Where(e => e.Action == NetworkActions.Correct).ToList();
        Assert.All(corrections, e => Assert.Equal("n-analyst", e.Actor));
        Assert.Equal(["split", "merge", "split", "move", "name", "name", "name"], corrections.Select(e => e.Details["kind"]?.Text));

        // A full re-clustering keeps the corrections: the same identity, both faces, the name.
        var full = await Http.JsonAsync(await As("n-admin").PostAsync("/api/network/cluster?full=true", null));
        Assert.True(full.GetProperty("full").GetBoolean());
        Assert.Equal(0, full.GetProperty("facesMoved").GetInt32());
        Assert.Equal(tiger, await IdentityOfAsync(first));
        Assert.Equal(both, await FacesOfAsync(tiger));
        Assert.Equal("Tiger Woods", (await GetAsync(Analyst, $"/api/network/identities/{tiger}?case={Case}")).GetProperty("identity").GetProperty("name").GetString());
    }

    [Fact]
    public async Task Queries_outside_an_open_assigned_case_are_refused_with_the_reason_and_audited()
    {
        var before = (await Factory.Engine.Audit.ReadEventsAsync(1, 1_000_000)).Count;
        await RefusedAsync(await As("n-outsider").GetAsync($"/api/network/identities?case={Case}"), "not_assigned");
        await RefusedAsync(await As("n-nocase").GetAsync("/api/network/identities"), "no_case");
        await RefusedAsync(await Analyst.GetAsync("/api/network/identities/1/associates?case=%20"), "no_case");
        await RefusedAsync(await As("n-expired").GetAsync("/api/network/identities/1?case=N-OLD"), "authorisation_expired");
        await RefusedAsync(await Analyst.GetAsync("/api/network/path?case=N-NONE&from=1&to=2"), "unknown_case");
        await RefusedAsync(await As("n-outsider").GetAsync($"/api/network/communities?case={Case}"), "not_assigned");
        await RefusedAsync(await As("n-outsider").GetAsync($"/api/network/edges/1/2?case={Case}"), "not_assigned");
        await RefusedAsync(await As("n-outsider").GetAsync($"/api/network/faces/1/identity?case={Case}"), "not_assigned");

        // Within the case: allowed (a supervisor assigned to it too), and audited.
        await GetAsync(Analyst, $"/api/network/identities?case={Case}");
        await GetAsync(As("n-sup"), $"/api/network/identities?case={Case}&minFaces=1");
        await GetAsync(As("n-sup"), "/api/network/status");

        var events = (await Factory.Engine.Audit.ReadEventsAsync(1, 1_000_000)).Skip(before).Where(e => e.Action == NetworkActions.Query).ToList();
        Assert.Equal(
            [
                ("n-outsider", "identities", Case, "not_assigned"), ("n-nocase", "identities", "", "no_case"), ("n-analyst", "associates", "", "no_case"),
                ("n-expired", "identity", "N-OLD", "authorisation_expired"), ("n-analyst", "path", "N-NONE", "unknown_case"),
                ("n-outsider", "communities", Case, "not_assigned"), ("n-outsider", "edge", Case, "not_assigned"),
                ("n-outsider", "identity-of-face", Case, "not_assigned"), ("n-analyst", "identities", Case, null), ("n-sup", "identities", Case, null),
            ],
            events.Select(e => (e.Actor, e.Details["query"]?.Text, e.Details["case"]?.Text, e.Details["refusal"]?.Text)));
        Assert.All(events.Take(8), e => Assert.Equal("refused", e.Details["outcome"]?.Text));
        Assert.Equal("identity:1", events[3].Subject);
    }

    [Fact]
    public async Task Roles_without_the_network_permission_are_refused_before_the_case_gate_and_leave_no_query_event()
    {
        var before = (await Factory.Engine.Audit.ReadEventsAsync(1, 1_000_000)).Count;
        foreach (var user in new[] { "n-reviewer", "n-auditor", "n-admin" })
        {
            foreach (var url in new[] { "/api/network/status", $"/api/network/identities?case={Case}", $"/api/network/identities/1/associates?case={Case}&hops=1" })
            {
                var problem = await Http.ProblemAsync(await As(user).GetAsync(url), HttpStatusCode.Forbidden, "Not allowed");
                Assert.False(problem.TryGetProperty("refusal", out _), problem.ToString());
            }
        }

        Assert.DoesNotContain(
            (await Factory.Engine.Audit.ReadEventsAsync(1, 1_000_000)).Skip(before),
            e => e.Action == NetworkActions.Query && e.Actor is "n-reviewer" or "n-auditor" or "n-admin");
    }

    [Fact]
    public async Task Malformed_queries_are_answered_400_before_the_gate()
    {
        var before = (await Factory.Engine.Audit.ReadEventsAsync(1, 1_000_000)).Count;
        foreach (var url in new[]
        {
            $"/api/network/identities?case={Case}&limit=0", $"/api/network/identities?case={Case}&limit=1001", $"/api/network/identities?case={Case}&minFaces=0",
            $"/api/network/identities?case={Case}&offset=-1", $"/api/network/identities?case={Case}&limit=many", $"/api/network/identities/0?case={Case}",
            $"/api/network/identities/1/associates?case={Case}&hops=3", $"/api/network/path?case={Case}&from=1&to=2&maxHops=0",
            $"/api/network/path?case={Case}&to=2", $"/api/network/edges/-1/2?case={Case}", $"/api/network/communities?case={Case}&limit=0",
            $"/api/network/export?case={Case}&format=csv",
        })
        {
            Http.Detail(await Http.ProblemAsync(await Analyst.GetAsync(url), HttpStatusCode.BadRequest));
        }

        Http.Detail(await Http.ProblemAsync(await As("n-admin").PostAsync("/api/network/cluster?full=maybe", null), HttpStatusCode.BadRequest));
        Assert.DoesNotContain((await Factory.Engine.Audit.ReadEventsAsync(1, 1_000_000)).Skip(before), e => e.Action == NetworkActions.Query);
    }

    [Fact]
    public void The_status_of_a_gallery_never_clustered_has_no_date_and_the_configured_parameters()
    {
        var status = NetworkStatusDto.From(null, ClusteringParameters.Default);
        Assert.Equal((0, 0, 0L, (DateTimeOffset?)null, 0L), (status.Identities, status.Faces, status.Version, status.ClusteredAt, status.ClusteredThroughFaceId));
        Assert.Equal(ClusteringParametersDto.From(ClusteringParameters.Default), status.Parameters);
        var json = JsonSerializer.Serialize(status, JsonSerializerOptions.Web);
        Assert.Contains("\"clusteredAt\":null", json, StringComparison.Ordinal);
        Assert.Contains("\"edgeThreshold\":0.3", json, StringComparison.Ordinal);
    }

    private static (long, long) Pair(long a, long b) => a < b ? (a, b) : (b, a);

    private static string EdgeId(long a, long b) => string.Create(CultureInfo.InvariantCulture, $"e{Math.Min(a, b)}-{Math.Max(a, b)}");
}

/// <summary>A server with the background clustering job on (the default period) and an admin who ingests through the API.</summary>
public sealed class ClusteringJobServer : ServerFixture
{
    protected override string Name => "clustering-job";

    protected override IReadOnlyDictionary<string, string> Settings => new Dictionary<string, string> { ["Lineup:Server:ClusteringMinutes"] = "10" };
}

/// <summary>The background clustering job: when it runs, and that an ingest job of the server is followed by a clustering.</summary>
public sealed class ClusteringJobTests(ClusteringJobServer server) : IClassFixture<ClusteringJobServer>
{
    private static readonly ClusteringState s_state = new("model", ClusteringParameters.Default, 100, 3, DateTimeOffset.UnixEpoch, 10, 100);

    private static CatalogStats Stats(long faces, long maxFaceId) => new(1, faces, faces, maxFaceId, 10);

    [Fact]
    public void It_clusters_only_when_faces_arrived_or_the_parameters_or_model_changed()
    {
        var p = ClusteringParameters.Default;
        Assert.False(ClusteringJob.NeedsClustering(null, Stats(0, 0), p, "model"));
        Assert.True(ClusteringJob.NeedsClustering(null, Stats(1, 1), p, "model"));
        Assert.False(ClusteringJob.NeedsClustering(s_state, Stats(100, 100), p, "model"));
        // An erasure lowers the newest id: nothing to add.
        Assert.False(ClusteringJob.NeedsClustering(s_state, Stats(90, 99), p, "model"));
        Assert.True(ClusteringJob.NeedsClustering(s_state, Stats(101, 101), p, "model"));
        Assert.True(ClusteringJob.NeedsClustering(s_state, Stats(100, 100), p with { MergeThreshold = 0.5f }, "model"));
        Assert.True(ClusteringJob.NeedsClustering(s_state, Stats(100, 100), p, "other-model"));
    }

    [Fact]
    public void The_period_is_read_from_the_servers_options_and_zero_turns_the_job_off()
    {
        var job = server.Factory.Services.GetServices<IHostedService>().OfType<ClusteringJob>().Single();
        Assert.Equal(TimeSpan.FromMinutes(10), job.Period);
        Assert.Null(new ClusteringJob(server.Factory.Services, server.Factory.Services.GetRequiredService<IngestJobs>(),
            Microsoft.Extensions.Options.Options.Create(new ServerOptions { ClusteringMinutes = 0 }), Microsoft.Extensions.Logging.Abstractions.NullLogger<ClusteringJob>.Instance).Period);
        Assert.Throws<System.ComponentModel.DataAnnotations.ValidationException>(() => new ServerOptions { ClusteringMinutes = -1 }.Validate());
    }

    [SkippableFact]
    [Trait("Category", "Data")]
    public async Task An_ingest_job_is_followed_by_a_clustering_of_its_faces()
    {
        var factory = server.Factory;
        var folder = server.Scratch.Combine("incoming");
        Directory.CreateDirectory(folder);
        foreach (var photo in new[] { "lfw_deepfunneled/images/Tiger_Woods/Tiger_Woods_0001.jpg", "lfw_deepfunneled/images/Tiger_Woods/Tiger_Woods_0002.jpg" })
        {
            File.Copy(TestPaths.Face(photo), Path.Combine(folder, photo.Replace('/', '_')));
        }

        var engine = factory.Engine;
        Assert.Null(await engine.Network.Store.GetClusteringStateAsync());
        var jobs = factory.Services.GetRequiredService<IngestJobs>();
        var job = jobs.Enqueue(folder, "incoming", "job", "integration test", "DE", "tests", deleteWhenDone: false);

        // A guard against a job that never runs, not a performance bound: the job looks for finished ingests every 15 s.
        var deadline = DateTime.UtcNow.AddMinutes(3);
        ClusteringState? state;
        while ((state = await engine.Network.Store.GetClusteringStateAsync()) is null)
        {
            Assert.True(DateTime.UtcNow < deadline, $"no clustering after the ingest job ({job.Snapshot()})");
            await Task.Delay(250);
        }

        Assert.Equal(IngestJobStatus.Completed, job.Status);
        var stats = await engine.Catalog.GetStatsAsync();
        Assert.Equal(2L, stats.Faces);
        Assert.Equal(stats.MaxFaceId, state.ClusteredThroughFaceId);
        var run = Assert.Single(await engine.Audit.ReadEventsAsync(1, 1_000_000), e => e.Action == NetworkActions.Cluster);
        Assert.Equal(ClusteringJob.Actor, run.Actor);
    }
}
