using System.Net;
using Lineup.Core.Audit;
using Lineup.Core.Security;
using Lineup.Ingest.Sources;

namespace Lineup.Server.Tests;

/// <summary>DELETE /api/images/{id} and /api/faces/{id} over a small real gallery: the receipt, the 404s, the audit event.</summary>
[Trait("Category", "Data")]
public sealed class ErasureApiTests : IAsyncLifetime
{
    private readonly ErasureServer _server = new();

    public Task InitializeAsync() => _server.InitializeAsync();

    public Task DisposeAsync() => _server.DisposeAsync();

    [SkippableFact]
    public async Task An_admin_erases_a_face_and_an_image_and_gets_the_receipt_and_unknown_ids_are_404()
    {
        var engine = _server.Factory.Engine;
        var admin = await _server.Factory.UserWithKeyAsync("e-admin", Role.Admin);
        var folder = _server.Scratch.Combine("gallery");
        Directory.CreateDirectory(folder);
        foreach (var photo in new[] { "lfw_deepfunneled/images/Tiger_Woods/Tiger_Woods_0001.jpg", "azure_face_samples/groups/identification1.jpg" })
        {
            File.Copy(TestPaths.Face(photo), Path.Combine(folder, photo.Replace('/', '_')));
        }

        var collection = await engine.Catalog.EnsureCollectionAsync("erasure", "integration test", "DE");
        var outcomes = new List<Lineup.Ingest.IngestOutcome>();
        await engine.IngestAsync(new FolderSource(folder, engine.Options.Limits.MaxBytes), collection, new Lineup.Hosting.IngestObserver { Item = outcomes.Add });
        var group = outcomes.Single(o => o.Name.StartsWith("azure", StringComparison.Ordinal)).ImageId!.Value;
        var single = outcomes.Single(o => o.Name.StartsWith("lfw", StringComparison.Ordinal)).ImageId!.Value;
        var groupFaces = await engine.Catalog.GetFacesOfImageAsync(group);
        Assert.True(groupFaces.Count >= 2);
        var victim = groupFaces[0].Id;

        using (var response = await admin.DeleteAsync($"/api/faces/{victim}"))
        {
            var receipt = await Http.JsonAsync(response);
            Assert.Equal([victim], receipt.GetProperty("faces").EnumerateArray().Select(e => e.GetInt64()));
            Assert.Empty(receipt.GetProperty("images").EnumerateArray());
            var seq = receipt.GetProperty("auditSeq").GetInt64();
            var logged = Assert.Single(await engine.Audit.ReadEventsAsync(seq, 1));
            Assert.Equal((AuditActions.Erasure, $"face:{victim}", "e-admin"), (logged.Action, logged.Subject, logged.Actor));
        }

        await Http.ProblemAsync(await admin.GetAsync($"/api/faces/{victim}"), HttpStatusCode.NotFound);
        Assert.Contains($"{victim}", Http.Detail(await Http.ProblemAsync(await admin.DeleteAsync($"/api/faces/{victim}"), HttpStatusCode.NotFound)), StringComparison.Ordinal);
        Assert.Equal(groupFaces.Count - 1, (await engine.Catalog.GetFacesOfImageAsync(group)).Count);

        var singleFaces = (await engine.Catalog.GetFacesOfImageAsync(single)).Select(f => f.Id).ToList();
        using (var response = await admin.DeleteAsync($"/api/images/{single}"))
        {
            var receipt = await Http.JsonAsync(response);
            Assert.Equal([single], receipt.GetProperty("images").EnumerateArray().Select(e => e.GetInt64()));
            Assert.Equal(singleFaces, receipt.GetProperty("faces").EnumerateArray().Select(e => e.GetInt64()));
            Assert.Equal(1, receipt.GetProperty("sightings").GetInt64());
        }

        await Http.ProblemAsync(await admin.GetAsync($"/api/images/{single}"), HttpStatusCode.NotFound);
        await Http.ProblemAsync(await admin.GetAsync($"/api/images/{single}/preview"), HttpStatusCode.NotFound);
        Assert.Contains($"{single}", Http.Detail(await Http.ProblemAsync(await admin.DeleteAsync($"/api/images/{single}"), HttpStatusCode.NotFound)), StringComparison.Ordinal);
        Assert.Equal((await engine.Catalog.GetStatsAsync()).Faces, engine.Index.Count);
        Assert.NotNull(await engine.Catalog.GetImageAsync(group));
    }

    private sealed class ErasureServer : ServerFixture
    {
        protected override string Name => "erasure";
    }
}
