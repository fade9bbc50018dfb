using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;
using Lineup.Core.Security;
using Lineup.Server.Api;
using SkiaSharp;

namespace Lineup.Server.Tests;

/// <summary>
/// A small gallery of shared photos (two of each of five people, one each of five others), copied into an ingest
/// root outside the repository and ingested through the API (POST /api/ingest/paths, then polling the job).
/// Without the shared photos nothing is ingested and the tests skip.
/// </summary>
public sealed class GalleryServer : ServerFixture
{
    /// <summary>Two gallery photos and a third as the probe, per person.</summary>
    public static readonly (string[] Gallery, string Probe)[] People =
    [
        (["deepface/images/Angelina_Jolie/img1.jpg", "deepface/images/Angelina_Jolie/img10.jpg"], "deepface/images/Angelina_Jolie/img11.jpg"),
        (["lfw_deepfunneled/images/Tiger_Woods/Tiger_Woods_0001.jpg", "lfw_deepfunneled/images/Tiger_Woods/Tiger_Woods_0002.jpg"], "lfw_deepfunneled/images/Tiger_Woods/Tiger_Woods_0003.jpg"),
        (["lfw_deepfunneled/images/Carlos_Menem/Carlos_Menem_0001.jpg", "lfw_deepfunneled/images/Carlos_Menem/Carlos_Menem_0002.jpg"], "lfw_deepfunneled/images/Carlos_Menem/Carlos_Menem_0003.jpg"),
        (["lfw_deepfunneled/images/Nicole_Kidman/Nicole_Kidman_0001.jpg", "lfw_deepfunneled/images/Nicole_Kidman/Nicole_Kidman_0002.jpg"], "lfw_deepfunneled/images/Nicole_Kidman/Nicole_Kidman_0003.jpg"),
        (["lfw_deepfunneled/images/Mahathir_Mohamad/Mahathir_Mohamad_0001.jpg", "lfw_deepfunneled/images/Mahathir_Mohamad/Mahathir_Mohamad_0002.jpg"], "lfw_deepfunneled/images/Mahathir_Mohamad/Mahathir_Mohamad_0003.jpg"),
    ];

    /// <summary>Other people, one photo each, so that the right answer has to beat someone.</summary>
    public static readonly string[] Distractors =
    [
        "lfw_deepfunneled/images/Richard_Gere/Richard_Gere_0001.jpg",
        "lfw_deepfunneled/images/Ian_Thorpe/Ian_Thorpe_0001.jpg",
        "lfw_deepfunneled/images/Jeb_Bush/Jeb_Bush_0001.jpg",
        "lfw_deepfunneled/images/Ari_Fleischer/Ari_Fleischer_0001.jpg",
        "lfw_deepfunneled/images/Tang_Jiaxuan/Tang_Jiaxuan_0001.jpg",
    ];

    public bool HasData { get; private set; }

    public string GalleryFolder => Scratch.Combine("roots", "gallery");

    /// <summary>Identity of each gallery file by its name in <see cref="GalleryFolder"/>.</summary>
    public Dictionary<string, string> IdentityOfFile { get; } = new(StringComparer.Ordinal);

    public Dictionary<string, string> Identities { get; } = new(StringComparer.Ordinal);

    public HttpClient Admin { get; private set; } = null!;

    public HttpClient Supervisor { get; private set; } = null!;

    public JsonElement Accepted { get; private set; }

    public string? Location { get; private set; }

    public JsonElement Job { get; private set; }

    public List<JsonElement> Snapshots { get; } = [];

    public static int GallerySize => (People.Length * 2) + Distractors.Length;

    protected override string Name => "gallery";

    protected override IReadOnlyDictionary<string, string> Settings => new Dictionary<string, string>
    {
        ["Lineup:Server:IngestRoots:0"] = Scratch.Combine("roots"),
    };

    protected override async Task SeedAsync(LineupFactory factory)
    {
        await factory.AssignToCaseAsync("g-analyst", Http.TestCase, Role.Analyst);
        Admin = await factory.UserWithKeyAsync("g-admin", Role.Admin);
        Supervisor = await factory.UserWithKeyAsync("g-supervisor", Role.Supervisor);
        var manifest = Path.Combine(TestPaths.FacesDirectory, "manifest.csv");
        if (!File.Exists(manifest))
        {
            return;
        }

        foreach (var line in File.ReadLines(manifest).Skip(1))
        {
            var fields = line.Split(',');
            Identities[fields[0]] = fields[1];
        }

        Directory.CreateDirectory(GalleryFolder);
        foreach (var photo in People.SelectMany(p => p.Gallery).Concat(Distractors))
        {
            var name = photo.Replace('/', '_');
            File.Copy(Path.Combine(TestPaths.FacesDirectory, photo), Path.Combine(GalleryFolder, name));
            IdentityOfFile[name] = Identities[photo];
        }

        using var response = await Admin.PostAsJsonAsync("/api/ingest/paths", new
        {
            path = GalleryFolder, collection = "people", lawfulBasis = "integration test", jurisdiction = "DE",
        });
        Accepted = await Http.JsonAsync(response, HttpStatusCode.Accepted);
        Location = response.Headers.Location?.OriginalString;
        Job = await Jobs.WaitAsync(Admin, Location!, Snapshots);
        HasData = true;
    }
}

/// <summary>The analyst's path through the API over a real gallery: search, probe faces, verification, the gallery's records.</summary>
[Trait("Category", "Data")]
public sealed class SearchApiTests(GalleryServer server) : IClassFixture<GalleryServer>
{
    private LineupFactory Factory => server.Factory;

    [SkippableFact]
    public async Task An_ingest_job_started_through_the_api_reports_its_progress_and_fills_the_gallery()
    {
        RequireData();
        var job = server.Job;
        var id = server.Accepted.GetProperty("id").GetInt64();
        Assert.Equal($"/api/ingest/jobs/{id}", server.Location);
        Assert.Contains(server.Accepted.GetProperty("status").GetString(), new[] { "queued", "running", "completed" });
        Assert.Equal(server.GalleryFolder, server.Accepted.GetProperty("source").GetString());

        Assert.True(job.GetProperty("status").GetString() == "completed", job.ToString());
        Assert.Equal(id, job.GetProperty("id").GetInt64());
        Assert.Equal("people", job.GetProperty("collection").GetString());
        Assert.Equal(GalleryServer.GallerySize, job.GetProperty("total").GetInt64());
        Assert.Equal(GalleryServer.GallerySize, job.GetProperty("processed").GetInt64());
        Assert.Equal(GalleryServer.GallerySize, job.GetProperty("ingested").GetInt64());
        Assert.True(job.GetProperty("faces").GetInt64() >= GalleryServer.GallerySize, job.ToString());
        Assert.Equal(0, job.GetProperty("duplicates").GetInt64() + job.GetProperty("refused").GetInt64() + job.GetProperty("failed").GetInt64());
        Assert.True(job.GetProperty("runId").GetInt64() > 0);
        Assert.True(job.GetProperty("itemsPerSecond").GetDouble() > 0);
        Assert.Equal(JsonValueKind.Null, job.GetProperty("error").ValueKind);
        Assert.True(job.GetProperty("finishedAt").GetDateTimeOffset() >= job.GetProperty("startedAt").GetDateTimeOffset());

        // The counters only move forward while the job runs, and never past the total.
        var processed = server.Snapshots.Select(s => s.GetProperty("processed").GetInt64()).ToList();
        Assert.Equal(processed.Order(), processed);
        Assert.All(server.Snapshots.Where(s => s.GetProperty("total").ValueKind == JsonValueKind.Number),
            s => Assert.True(s.GetProperty("processed").GetInt64() <= s.GetProperty("total").GetInt64(), s.ToString()));

        var jobs = await Http.JsonAsync(await server.Admin.GetAsync("/api/ingest/jobs"));
        Assert.Contains(jobs.EnumerateArray(), j => j.GetProperty("id").GetInt64() == id && j.GetProperty("status").GetString() == "completed");

        var stats = await Http.JsonAsync(await server.Supervisor.GetAsync("/api/stats"));
        Assert.Equal(GalleryServer.GallerySize, stats.GetProperty("images").GetInt64());
        Assert.Equal(job.GetProperty("faces").GetInt64(), stats.GetProperty("faces").GetInt64());
        Assert.Equal(stats.GetProperty("faces").GetInt64(), stats.GetProperty("indexedFaces").GetInt64());
        var collections = await Http.JsonAsync(await server.Supervisor.GetAsync("/api/collections"));
        var people = Assert.Single(collections.EnumerateArray(), c => c.GetProperty("name").GetString() == "people");
        Assert.Equal("integration test", people.GetProperty("lawfulBasis").GetString());
        Assert.Equal("DE", people.GetProperty("jurisdiction").GetString());
    }

    [SkippableFact]
    public async Task A_search_puts_the_probe_identity_first_with_what_an_analyst_needs_to_judge_it()
    {
        RequireData();
        var analyst = await Factory.SignInAsync("g-analyst");
        var searches = new List<(long Id, string Sha256, int Candidates)>();
        foreach (var (_, probePath) in GalleryServer.People)
        {
            var probe = await File.ReadAllBytesAsync(TestPaths.Face(probePath));
            using var response = await analyst.PostAsync("/api/search", Http.SearchForm(probe, fileName: Path.GetFileName(probePath)));
            var result = await Http.JsonAsync(response);

            Assert.Equal(SearchApi.Disclaimer, result.GetProperty("disclaimer").GetString());
            Assert.Contains("not an identification", result.GetProperty("disclaimer").GetString(), StringComparison.Ordinal);
            Assert.Equal("candidates", result.GetProperty("outcome").GetString());
            var probeFaces = result.GetProperty("probeFaces").GetArrayLength();
            Assert.InRange(result.GetProperty("searchedFace").GetInt32(), 1, probeFaces);
            Assert.False(string.IsNullOrWhiteSpace(result.GetProperty("faceChoice").GetString()));
            using (var bitmap = SKBitmap.Decode(probe))
            {
                Assert.Equal(bitmap.Width, result.GetProperty("probe").GetProperty("width").GetInt32());
                Assert.Equal(bitmap.Height, result.GetProperty("probe").GetProperty("height").GetInt32());
            }

            var threshold = result.GetProperty("threshold").GetSingle();
            var candidates = result.GetProperty("candidates").EnumerateArray().ToList();
            Assert.NotEmpty(candidates);
            var similarities = candidates.Select(c => c.GetProperty("similarity").GetSingle()).ToList();
            Assert.Equal(similarities.OrderDescending(), similarities);
            Assert.Equal(Enumerable.Range(1, candidates.Count), candidates.Select(c => c.GetProperty("rank").GetInt32()));

            var top = candidates[0];
            var image = await Http.JsonAsync(await analyst.GetAsync(top.GetProperty("imageUrl").GetString()!));
            var file = Path.GetFileName(image.GetProperty("provenance").GetProperty("originalPath").GetString()!);
            Assert.True(server.IdentityOfFile[file] == server.Identities[probePath],
                $"{probePath}: the first candidate is {file} ({server.IdentityOfFile[file]}), similarity {top.GetProperty("similarity")}");

            Assert.InRange(top.GetProperty("similarity").GetSingle(), threshold, 1.0001f);
            Assert.True(top.GetProperty("aboveThreshold").GetBoolean());
            Assert.InRange(top.GetProperty("estimatedFmr").GetDouble(), 0, 1);
            Assert.True(top.GetProperty("seenAt").GetInt32() >= 1);
            Assert.Equal("people", top.GetProperty("collection").GetString());
            Assert.Equal($"/api/images/{image.GetProperty("id").GetInt64()}", top.GetProperty("imageUrl").GetString());
            Assert.Contains(image.GetProperty("faces").EnumerateArray(), f => f.GetProperty("id").GetInt64() == top.GetProperty("faceId").GetInt64());
            await AssertJpegAsync(analyst, top.GetProperty("thumbnailUrl").GetString()!);
            Assert.Equal(Factory.Engine.Index.Count, result.GetProperty("gallerySize").GetInt64());
            searches.Add((result.GetProperty("searchId").GetInt64(), Convert.ToHexStringLower(SHA256.HashData(probe)), candidates.Count));
        }

        // Every search is on the record, under the analyst's name, for supervisors.
        var log = (await Http.JsonAsync(await server.Supervisor.GetAsync("/api/searches?limit=50"))).EnumerateArray().ToList();
        foreach (var (id, sha256, count) in searches)
        {
            var record = Assert.Single(log, r => r.GetProperty("id").GetInt64() == id);
            Assert.Equal("g-analyst", record.GetProperty("by").GetString());
            Assert.Equal(sha256, record.GetProperty("probeSha256").GetString());
            Assert.Equal("candidates", record.GetProperty("outcome").GetString());
            Assert.Equal(count, record.GetProperty("candidates").GetInt32());
        }
    }

    [SkippableFact]
    public async Task Probe_face_detection_reports_each_face_with_its_quality_and_records_nothing()
    {
        RequireData();
        var analyst = await Factory.SignInAsync("g-analyst");
        var searches = (await Factory.Engine.SearchLog.ListSearchesAsync(10_000)).Count;
        var probe = await File.ReadAllBytesAsync(TestPaths.Face(GalleryServer.People[0].Probe));

        var result = await Http.JsonAsync(await analyst.PostAsync("/api/search/faces", Http.Form("photo", probe)));

        var width = result.GetProperty("probe").GetProperty("width").GetInt32();
        var height = result.GetProperty("probe").GetProperty("height").GetInt32();
        var floor = result.GetProperty("qualityFloor").GetSingle();
        Assert.Equal("jpeg", result.GetProperty("probe").GetProperty("format").GetString());
        var faces = result.GetProperty("faces").EnumerateArray().ToList();
        Assert.NotEmpty(faces);
        for (var i = 0; i < faces.Count; i++)
        {
            var face = faces[i];
            Assert.Equal(i + 1, face.GetProperty("number").GetInt32());
            var quality = face.GetProperty("quality");
            Assert.Equal(JsonValueKind.Object, quality.ValueKind);
            var score = quality.GetProperty("score").GetSingle();
            Assert.InRange(score, 0, 100);
            Assert.Equal(score < floor, face.GetProperty("belowFloor").GetBoolean());
            Assert.True(face.GetProperty("interEyeDistance").GetSingle() > 0);
            var box = face.GetProperty("box");
            Assert.InRange(box.GetProperty("x1").GetSingle(), -0.05f * width, box.GetProperty("x2").GetSingle());
            Assert.InRange(box.GetProperty("x2").GetSingle(), box.GetProperty("x1").GetSingle(), 1.05f * width);
            Assert.InRange(box.GetProperty("y1").GetSingle(), -0.05f * height, box.GetProperty("y2").GetSingle());
            Assert.InRange(box.GetProperty("y2").GetSingle(), box.GetProperty("y1").GetSingle(), 1.05f * height);
        }

        Assert.Equal(searches, (await Factory.Engine.SearchLog.ListSearchesAsync(10_000)).Count);
    }

    [SkippableFact]
    public async Task Verification_tells_the_same_person_from_different_people()
    {
        RequireData();
        var analyst = await Factory.SignInAsync("g-analyst");
        var tiger = GalleryServer.People[1];
        var nicole = GalleryServer.People[3];

        var same = await VerifyAsync(analyst, tiger.Gallery[0], tiger.Probe);
        var different = await VerifyAsync(analyst, tiger.Probe, nicole.Probe);

        Assert.True(same.GetProperty("samePerson").GetBoolean(), same.ToString());
        Assert.False(different.GetProperty("samePerson").GetBoolean(), different.ToString());
        var threshold = same.GetProperty("threshold").GetSingle();
        Assert.True(same.GetProperty("similarity").GetSingle() >= threshold);
        Assert.True(different.GetProperty("similarity").GetSingle() < threshold);
        Assert.True(different.GetProperty("estimatedFmr").GetDouble() > same.GetProperty("estimatedFmr").GetDouble());
        Assert.Equal(JsonValueKind.Object, same.GetProperty("faceA").GetProperty("quality").ValueKind);
        Assert.Equal(JsonValueKind.Object, same.GetProperty("faceB").GetProperty("box").ValueKind);
    }

    [SkippableFact]
    public async Task An_image_record_has_its_provenance_faces_sightings_and_preview_but_not_the_original()
    {
        RequireData();
        var analyst = await Factory.SignInAsync("g-analyst");
        // The largest photo of the gallery (2.3 MB), so that the preview is a real downscale.
        var photo = GalleryServer.People[0].Gallery[0];
        var path = Path.Combine(server.GalleryFolder, photo.Replace('/', '_'));
        var id = await ImageIdAsync(path);

        var image = await Http.JsonAsync(await analyst.GetAsync($"/api/images/{id}"));

        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(await File.ReadAllBytesAsync(path))), image.GetProperty("sha256").GetString());
        Assert.Equal("people", image.GetProperty("collection").GetProperty("name").GetString());
        Assert.Equal(path, image.GetProperty("provenance").GetProperty("originalPath").GetString());
        var runId = server.Job.GetProperty("runId").GetInt64();
        var sighting = Assert.Single(image.GetProperty("sightings").EnumerateArray());
        Assert.Equal(runId, sighting.GetProperty("runId").GetInt64());
        Assert.Equal(path, sighting.GetProperty("originalPath").GetString());
        Assert.Equal("people", sighting.GetProperty("collection").GetString());

        var faces = image.GetProperty("faces").EnumerateArray().ToList();
        Assert.NotEmpty(faces);
        foreach (var face in faces)
        {
            await AssertJpegAsync(analyst, face.GetProperty("thumbnailUrl").GetString()!);
            var detail = await Http.JsonAsync(await analyst.GetAsync($"/api/faces/{face.GetProperty("id").GetInt64()}"));
            Assert.Equal(id, detail.GetProperty("imageId").GetInt64());
            Assert.InRange(detail.GetProperty("quality").GetProperty("score").GetSingle(), 0, 100);
            Assert.Equal(face.GetProperty("box").ToString(), detail.GetProperty("box").ToString());
        }

        var width = image.GetProperty("width").GetInt32();
        var height = image.GetProperty("height").GetInt32();
        Assert.True(Math.Max(width, height) > 640, $"{width}×{height}");
        var preview = image.GetProperty("preview");
        var (previewWidth, previewHeight) = await AssertJpegAsync(analyst, image.GetProperty("previewUrl").GetString()!);
        Assert.Equal(preview.GetProperty("width").GetInt32(), previewWidth);
        Assert.Equal(preview.GetProperty("height").GetInt32(), previewHeight);
        Assert.InRange(Math.Max(previewWidth, previewHeight), 320, 640);
        Assert.InRange(previewWidth / (double)previewHeight, width / (double)height * 0.98, width / (double)height * 1.02);

        // Originals stay where they are unless the operator allows serving them.
        await Http.ProblemAsync(await analyst.GetAsync($"/api/images/{id}/original"), HttpStatusCode.NotFound, "Originals are not served");
    }

    private void RequireData()
    {
        TestPaths.RequireFaces();
        Assert.True(server.HasData, "the gallery was not ingested");
    }

    private static async Task<JsonElement> VerifyAsync(Session analyst, string a, string b)
    {
        using var form = Http.Form("a", await File.ReadAllBytesAsync(TestPaths.Face(a)), fileName: "a.jpg");
        form.Add(new ByteArrayContent(await File.ReadAllBytesAsync(TestPaths.Face(b))) { Headers = { ContentType = new("image/jpeg") } }, "b", "b.jpg");
        var result = await Http.JsonAsync(await analyst.PostAsync("/api/verify", form));
        Assert.Equal(SearchApi.Disclaimer, result.GetProperty("disclaimer").GetString());
        return result;
    }

    /// <summary>The catalog id of a gallery file's image (its recorded original path).</summary>
    private async Task<long> ImageIdAsync(string path)
    {
        var stats = await Factory.Engine.Catalog.GetStatsAsync();
        for (long id = 1; id <= stats.Images + 10; id++)
        {
            if (await Factory.Engine.Catalog.GetImageAsync(id) is { } image && image.Provenance.OriginalPath == path)
            {
                return id;
            }
        }

        Assert.Fail($"{path} is not in the catalog");
        return 0;
    }

    private static async Task<(int Width, int Height)> AssertJpegAsync(Session client, string url)
    {
        using var response = await client.GetAsync(url);
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{url}: {(int)response.StatusCode}");
        Assert.Equal("image/jpeg", response.Content.Headers.ContentType?.MediaType);
        var bytes = await response.Content.ReadAsByteArrayAsync();
        Assert.True(bytes is [0xFF, 0xD8, ..], $"{url} is not a JPEG");
        using var bitmap = SKBitmap.Decode(bytes);
        Assert.NotNull(bitmap);
        return (bitmap.Width, bitmap.Height);
    }
}
