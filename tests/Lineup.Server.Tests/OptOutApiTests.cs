using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Lineup.Core.Audit;
using Lineup.Core.Security;
using Lineup.Hosting;
using Lineup.Ingest;
using Lineup.Ingest.Sources;

namespace Lineup.Server.Tests;

/// <summary>
/// The opt-out registry over the API and a small real gallery: an admin records a request from photos, the person's
/// gallery faces are erased with a receipt, the analyst's searches for them are withheld, others' are not, bad forms are
/// answered with a problem and record nothing, and no answer carries an embedding.
/// </summary>
[Trait("Category", "Data")]
public sealed class OptOutApiTests : IAsyncLifetime
{
    private const string PersonDirectory = "lfw_deepfunneled/images/Ari_Fleischer/";

    private readonly OptOutServer _server = new();

    public Task InitializeAsync() => _server.InitializeAsync();

    public Task DisposeAsync() => _server.DisposeAsync();

    [SkippableFact]
    public async Task An_admin_records_a_request_the_persons_faces_are_erased_and_searches_for_them_are_withheld()
    {
        var factory = _server.Factory;
        var engine = factory.Engine;
        var admin = await factory.UserWithKeyAsync("o-admin", Role.Admin);
        await factory.AssignToCaseAsync("o-analyst", Http.TestCase, Role.Analyst);
        var analyst = factory.KeyClient(await factory.AddKeyAsync("o-analyst"));

        var person = Enumerable.Range(1, 4).Select(Ari).ToList();
        var others = new[]
        {
            "lfw_deepfunneled/images/Tiger_Woods/Tiger_Woods_0001.jpg", "lfw_deepfunneled/images/Tiger_Woods/Tiger_Woods_0002.jpg",
            "lfw_deepfunneled/images/Carlos_Menem/Carlos_Menem_0001.jpg", "lfw_deepfunneled/images/Carlos_Menem/Carlos_Menem_0002.jpg",
        };
        var folder = _server.Scratch.Combine("gallery");
        Directory.CreateDirectory(folder);
        foreach (var photo in person.Concat(others))
        {
            File.Copy(TestPaths.Face(photo), Path.Combine(folder, photo.Replace('/', '_')));
        }

        var outcomes = new List<IngestOutcome>();
        await engine.IngestAsync(
            new FolderSource(folder, engine.Options.Limits.MaxBytes), await engine.Catalog.EnsureCollectionAsync("optout", "integration test", "DE"),
            new IngestObserver { Item = outcomes.Add });
        var personImages = outcomes.Where(o => o.Name.Contains("Ari_Fleischer", StringComparison.Ordinal)).Select(o => o.ImageId!.Value).ToHashSet();
        var personFaces = new List<long>();
        foreach (var image in personImages)
        {
            personFaces.AddRange((await engine.Catalog.GetFacesOfImageAsync(image)).Select(f => f.Id));
        }

        Assert.Equal(person.Count, personFaces.Count);

        // Not an admin: refused, nothing recorded.
        using (var refused = await analyst.PostAsync("/api/optouts", Form("REQ-X", null, ("photo.jpg", await Photo(Ari(5))))))
        {
            Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        }

        // One photo of the person that is not in the gallery, and one without a face: recorded from the first.
        long id;
        using (var response = await admin.PostAsync("/api/optouts", Form(
            "REQ-API-1", "by letter", ("ari.jpg", await Photo(Ari(5))), ("blank.jpg", TestImages.Jpeg(320, 240)))))
        {
            var text = await response.Content.ReadAsStringAsync();
            var body = await Http.JsonAsync(response, HttpStatusCode.Created);
            AssertNoVector(text);
            var request = body.GetProperty("request");
            id = request.GetProperty("id").GetInt64();
            Assert.Equal($"/api/optouts/{id}", response.Headers.Location?.OriginalString);
            Assert.Equal(("REQ-API-1", "by letter", "o-admin"),
                (request.GetProperty("reference").GetString(), request.GetProperty("note").GetString(), request.GetProperty("recordedBy").GetString()));
            Assert.Equal(1, request.GetProperty("photos").GetInt32());
            Assert.Equal(person.Count, request.GetProperty("facesErased").GetInt64());
            var photos = body.GetProperty("photos").EnumerateArray().ToList();
            Assert.Equal(JsonValueKind.Null, photos[0].GetProperty("refusal").ValueKind);
            Assert.Equal(("blank.jpg", "no face was found"), (photos[1].GetProperty("name").GetString(), photos[1].GetProperty("refusal").GetString()));
            var receipt = body.GetProperty("receipt");
            Assert.Equal(personFaces.Order(), receipt.GetProperty("faces").EnumerateArray().Select(f => f.GetInt64()));
            var logged = Assert.Single(await engine.Audit.ReadEventsAsync(receipt.GetProperty("auditSeq").GetInt64(), 1));
            Assert.Equal((AuditActions.Erasure, $"optout:{id}", "o-admin"), (logged.Action, logged.Subject, logged.Actor));
        }

        Assert.Single(await engine.Audit.ReadEventsAsync(1, 10_000), e => e.Action == AuditActions.Admin && e.Subject == $"optout:{id}");
        Assert.All(personFaces, f => Assert.False(engine.Index.Contains(f)));

        using (var response = await admin.GetAsync("/api/optouts"))
        {
            var text = await response.Content.ReadAsStringAsync();
            var registry = await Http.JsonAsync(response);
            AssertNoVector(text);
            var threshold = registry.GetProperty("threshold").GetSingle();
            Assert.True(threshold < registry.GetProperty("searchThreshold").GetSingle(), text);
            Assert.Equal(engine.OptOutThreshold, threshold);
            Assert.True(registry.GetProperty("thresholdFmr").GetDouble() > 0, text);
            var only = Assert.Single(registry.GetProperty("requests").EnumerateArray());
            Assert.Equal(id, only.GetProperty("id").GetInt64());
        }

        Assert.Equal("REQ-API-1", (await Http.JsonAsync(await admin.GetAsync($"/api/optouts/{id}"))).GetProperty("reference").GetString());
        await Http.ProblemAsync(await admin.GetAsync("/api/optouts/999999"), HttpStatusCode.NotFound);

        // The analyst's searches: the person (another photo again) is withheld, someone else is found.
        using (var response = await analyst.PostAsync("/api/search", Http.SearchForm(await Photo(Ari(6)), fields: [("top", "100")])))
        {
            var result = await Http.JsonAsync(response);
            Assert.Equal("withheldOptOut", result.GetProperty("outcome").GetString());
            Assert.Empty(result.GetProperty("candidates").EnumerateArray());
        }

        using (var response = await analyst.PostAsync("/api/search", Http.SearchForm(await Photo("lfw_deepfunneled/images/Tiger_Woods/Tiger_Woods_0003.jpg"), fields: [("top", "100")])))
        {
            var result = await Http.JsonAsync(response);
            Assert.Equal("candidates", result.GetProperty("outcome").GetString());
            Assert.DoesNotContain(result.GetProperty("candidates").EnumerateArray(), c => personImages.Contains(c.GetProperty("imageId").GetInt64()));
        }

        // Bad forms: a problem each, and nothing more is recorded.
        var blank = TestImages.Jpeg(320, 240);
        await Http.ProblemAsync(await admin.PostAsync("/api/optouts", Form(null, null, ("a.jpg", await Photo(Ari(7))))), HttpStatusCode.BadRequest);
        await Http.ProblemAsync(await admin.PostAsync("/api/optouts", Http.Fields(("reference", "REQ-NONE"))), HttpStatusCode.BadRequest);
        var eleven = Enumerable.Range(0, 11).Select(i => (string.Create(CultureInfo.InvariantCulture, $"{i}.jpg"), blank)).ToArray();
        Assert.Contains("11", Http.Detail(await Http.ProblemAsync(await admin.PostAsync("/api/optouts", Form("REQ-11", null, eleven)), HttpStatusCode.BadRequest)), StringComparison.Ordinal);
        var noFace = await Http.ProblemAsync(await admin.PostAsync("/api/optouts", Form("REQ-BLANK", null, ("only.jpg", blank))), HttpStatusCode.UnprocessableEntity);
        Assert.Contains("only.jpg", Http.Detail(noFace), StringComparison.Ordinal);
        await Http.ProblemAsync(await admin.PostAsync("/api/optouts", Form("REQ-TEXT", null, ("notes.jpg", "not a photo"u8.ToArray()))), HttpStatusCode.UnsupportedMediaType);
        await Http.ProblemAsync(await admin.PostAsync("/api/optouts", Form("REQ\u0007BELL", null, ("a.jpg", await Photo(Ari(7))))), HttpStatusCode.BadRequest);
        var large = new byte[OptOutServer.MaxPhotoBytes + 1];
        await Http.ProblemAsync(await admin.PostAsync("/api/optouts", Form("REQ-LARGE", null, ("large.jpg", large))), HttpStatusCode.RequestEntityTooLarge);
        Assert.Single(await engine.OptOuts.ListOptOutsAsync());
    }

    private static string Ari(int i) => string.Create(CultureInfo.InvariantCulture, $"{PersonDirectory}Ari_Fleischer_{i:0000}.jpg");

    private static Task<byte[]> Photo(string photo) => File.ReadAllBytesAsync(TestPaths.Face(photo));

    /// <summary>The opt-out form: reference and note when given, each photo in a field named <c>photos</c>.</summary>
    private static MultipartFormDataContent Form(string? reference, string? note, params (string Name, byte[] Bytes)[] photos)
    {
        var form = new MultipartFormDataContent();
        if (reference is not null)
        {
            form.Add(new StringContent(reference), "reference");
        }

        if (note is not null)
        {
            form.Add(new StringContent(note), "note");
        }

        foreach (var (name, bytes) in photos)
        {
            var file = new ByteArrayContent(bytes);
            file.Headers.ContentType = MediaTypeHeaderValue.Parse("image/jpeg");
            form.Add(file, "photos", name);
        }

        return form;
    }

    /// <summary>No array of many numbers (an embedding's shape) and no property named like one, anywhere in the answer.</summary>
    private static void AssertNoVector(string json)
    {
        static void Walk(JsonElement element)
        {
            if (element.ValueKind == JsonValueKind.Array)
            {
                Assert.False(element.GetArrayLength() >= 64 && element.EnumerateArray().All(e => e.ValueKind == JsonValueKind.Number), "an array of numbers");
                foreach (var item in element.EnumerateArray())
                {
                    Walk(item);
                }
            }
            else if (element.ValueKind == JsonValueKind.Object)
            {
                foreach (var property in element.EnumerateObject())
                {
                    Assert.DoesNotContain("embedding", property.Name, StringComparison.OrdinalIgnoreCase);
                    Assert.DoesNotContain("vector", property.Name, StringComparison.OrdinalIgnoreCase);
                    Walk(property.Value);
                }
            }
        }

        Walk(JsonDocument.Parse(json).RootElement);
    }

    private sealed class OptOutServer : ServerFixture
    {
        public const long MaxPhotoBytes = 200_000;

        protected override string Name => "optout";

        protected override IReadOnlyDictionary<string, string> Settings => new Dictionary<string, string>
        {
            ["Lineup:Server:MaxProbeBytes"] = MaxPhotoBytes.ToString(CultureInfo.InvariantCulture),
        };
    }
}
