using Lineup.Core.Audit;
using Lineup.Core.Catalog;
using Lineup.Core.Oversight;
using Lineup.Storage.Postgres;
using Microsoft.Extensions.Time.Testing;

namespace Lineup.Storage.Tests;

/// <summary>
/// <see cref="IOptOutStore"/> on each backend: a request keeps its embeddings (and nothing of the erased faces), is
/// audited without them, erases the faces it is given with the previews of their images in one receipt, and requests
/// recorded at once from many writers erase each face once and keep the version a prefix.
/// </summary>
public abstract class OptOutStoreContract<TCatalog>(ICatalogBackend<TCatalog> backend) : IAsyncLifetime
    where TCatalog : class, ICatalog, IPictureStore, IOptOutStore, ISearchLog, IAuditLog
{
    private static readonly DateTimeOffset s_start = DateTimeOffset.Parse("2025-05-06T07:08:09.1234567Z");

    private readonly Random _random = new(97531);
    private readonly FakeTimeProvider _clock = new(s_start);

    protected ICatalogBackend<TCatalog> Backend { get; } = backend;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await Backend.DisposeAsync();

    [SkippableFact]
    public async Task A_request_without_matches_keeps_its_embeddings_and_is_audited_without_them_or_its_note()
    {
        await using var catalog = await Backend.OpenAsync(_clock);
        float[][] embeddings = [TestData.UnitVector(_random), TestData.UnitVector(_random)];
        var version = await catalog.GalleryVersionAsync();
        Assert.Equal(0, await catalog.OptOutVersionAsync());
        Assert.Empty(await catalog.ListOptOutsAsync());

        var registration = await catalog.AddOptOutAsync(new NewOptOut("  REQ-1  ", "  letter of 3 May\nsecond line ", embeddings), [], "dpo");

        Assert.Null(registration.Receipt);
        var request = registration.Request;
        Assert.Equal(("REQ-1", "letter of 3 May\nsecond line", s_start, "dpo", 2, 0L),
            (request.Reference, request.Note, request.RecordedAt, request.RecordedBy, request.Photos, request.FacesErased));
        Assert.Equal(request, await catalog.GetOptOutAsync(request.Id));
        Assert.Null(await catalog.GetOptOutAsync(request.Id + 1));
        Assert.Equal(request.Id, await catalog.OptOutVersionAsync());
        Assert.Equal(version + 1, await catalog.GalleryVersionAsync());

        // The embeddings come back exactly as computed (float32), in order, tagged with their request.
        var stored = await catalog.ReadOptOutEmbeddingsAsync();
        Assert.Equal([request.Id, request.Id], stored.Select(e => e.OptOutId));
        Assert.Equal(embeddings[0], stored[0].Vector);
        Assert.Equal(embeddings[1], stored[1].Vector);

        var logged = (await catalog.ReadEventsAsync()).Last();
        Assert.Equal((AuditActions.Admin, $"optout:{request.Id}", "dpo"), (logged.Action, logged.Subject, logged.Actor));
        Assert.Equal("REQ-1", logged.Details["reference"]!.Value.Text);
        Assert.Equal((2L, 0L, 0L), (logged.Details["photos"]!.Value.Integer, logged.Details["faces_erased"]!.Value.Integer, logged.Details["previews_erased"]!.Value.Integer));
        Assert.DoesNotContain("letter", logged.Details.ToCanonicalJson(), StringComparison.Ordinal);

        // A newer request is listed first and becomes the version.
        _clock.Advance(TimeSpan.FromMinutes(1));
        var second = (await catalog.AddOptOutAsync(new NewOptOut("REQ-2", "   ", [TestData.UnitVector(_random)]), [], "dpo-b")).Request;
        Assert.Null(second.Note);
        Assert.Equal(s_start.AddMinutes(1), second.RecordedAt);
        Assert.Equal([second.Id, request.Id], (await catalog.ListOptOutsAsync()).Select(o => o.Id));
        Assert.Equal(second.Id, await catalog.OptOutVersionAsync());
        Assert.Equal(3, (await catalog.ReadOptOutEmbeddingsAsync()).Count);
    }

    [SkippableFact]
    public async Task A_request_erases_the_matching_faces_and_the_previews_of_their_images_in_one_receipt()
    {
        await using var catalog = await Backend.OpenAsync(_clock);
        var collection = await catalog.EnsureCollectionAsync("press", "public-interest", "GB");
        var stored = await catalog.AddImagesAsync([WithPictures(collection.Id, 2), WithPictures(collection.Id, 1), WithPictures(collection.Id, 1)]);
        var (a, b, c) = (stored[0], stored[1], stored[2]);
        var version = await catalog.GalleryVersionAsync();
        var vector = TestData.UnitVector(_random);

        // A face erased twice in the list, and one no longer in the catalog, are passed over.
        var registration = await catalog.AddOptOutAsync(new NewOptOut("REQ-9", null, [vector]), [b.FaceIds[0], a.FaceIds[0], a.FaceIds[0], c.FaceIds[0] + 1000], "dpo");

        var request = registration.Request;
        var receipt = Assert.IsType<ErasureReceipt>(registration.Receipt);
        Assert.Equal(2, request.FacesErased);
        Assert.Equal([a.FaceIds[0], b.FaceIds[0]], receipt.Faces);
        Assert.Empty(receipt.Images);
        Assert.Equal(0, receipt.Sightings);

        // The faces and their pictures are gone, with the previews of their images; the images and other faces stay.
        foreach (var faceId in new[] { a.FaceIds[0], b.FaceIds[0] })
        {
            Assert.Null(await catalog.GetFaceAsync(faceId));
            Assert.Null(await catalog.GetFaceThumbnailAsync(faceId));
        }

        Assert.NotNull(await catalog.GetImageAsync(a.ImageId));
        Assert.NotNull(await catalog.GetImageAsync(b.ImageId));
        Assert.Null(await catalog.GetImagePreviewAsync(a.ImageId));
        Assert.Null(await catalog.GetImagePreviewAsync(b.ImageId));
        Assert.NotNull(await catalog.GetImagePreviewAsync(c.ImageId));
        Assert.NotNull(await catalog.GetFaceThumbnailAsync(a.FaceIds[1]));
        var remaining = new List<long>();
        await foreach (var e in catalog.ReadEmbeddingsAsync())
        {
            remaining.Add(e.FaceId);
        }

        Assert.Equal([a.FaceIds[1], c.FaceIds[0]], remaining);
        Assert.Equal([a.FaceIds[1]], (await catalog.GetEmbeddingsAsync([a.FaceIds[0], a.FaceIds[1], b.FaceIds[0]])).Select(e => e.FaceId));
        Assert.Equal(version + 1, await catalog.GalleryVersionAsync());

        // The registry keeps the request's embedding only: nothing of the erased faces.
        var kept = Assert.Single(await catalog.ReadOptOutEmbeddingsAsync());
        Assert.Equal(request.Id, kept.OptOutId);
        Assert.Equal(vector, kept.Vector);

        // The request's event, then the erasure receipt, both under the request's subject, committed together.
        var events = await catalog.ReadEventsAsync(receipt.AuditSeq!.Value - 1, 2);
        Assert.Equal([(AuditActions.Admin, $"optout:{request.Id}"), (AuditActions.Erasure, $"optout:{request.Id}")], events.Select(e => (e.Action, e.Subject)));
        Assert.Equal((2L, 2L), (events[0].Details["faces_erased"]!.Value.Integer, events[0].Details["previews_erased"]!.Value.Integer));
        Assert.Equal($"{a.FaceIds[0]},{b.FaceIds[0]}", events[1].Details["face_ids"]!.Value.Text);
        Assert.Equal(receipt.AuditSeq, (await catalog.TreeHeadAsync()).TreeSize);
    }

    [SkippableFact]
    public async Task Invalid_requests_are_refused_and_record_and_erase_nothing()
    {
        await using var catalog = await Backend.OpenAsync(_clock);
        var collection = await catalog.EnsureCollectionAsync("press", "public-interest", "GB");
        var face = (await catalog.AddImagesAsync([TestData.Image(collection.Id, _random, 1)]))[0].FaceIds[0];
        var events = (await catalog.TreeHeadAsync()).TreeSize;
        var v = TestData.UnitVector(_random);
        var nan = TestData.UnitVector(_random);
        nan[7] = float.NaN;

        NewOptOut[] invalid =
        [
            new(" ", null, [v]),
            new(new string('r', NewOptOut.MaxReferenceLength + 1), null, [v]),
            new("REQ\u0007", null, [v]),
            new("REQ", new string('n', NewOptOut.MaxNoteLength + 1), [v]),
            new("REQ", "bad\u0001note", [v]),
            new("REQ", null, []),
            new("REQ", null, [.. Enumerable.Range(0, NewOptOut.MaxEmbeddings + 1).Select(_ => v)]),
            new("REQ", null, [v, TestData.UnitVector(_random, 256)]),
            new("REQ", null, [v, nan]),
            new("REQ", null, [v, null!]),
        ];
        foreach (var request in invalid)
        {
            await Assert.ThrowsAsync<ArgumentException>(() => catalog.AddOptOutAsync(request, [], "dpo"));
            await Assert.ThrowsAsync<ArgumentException>(() => catalog.AddOptOutAsync(request, [face], "dpo"));
        }

        await Assert.ThrowsAsync<ArgumentException>(() => catalog.AddOptOutAsync(new NewOptOut("REQ", null, [v]), [face], " "));

        Assert.Empty(await catalog.ListOptOutsAsync());
        Assert.Empty(await catalog.ReadOptOutEmbeddingsAsync());
        Assert.Equal(0, await catalog.OptOutVersionAsync());
        Assert.Equal(events, (await catalog.TreeHeadAsync()).TreeSize);
        Assert.NotNull(await catalog.GetFaceAsync(face));
    }

    [SkippableFact]
    public async Task Requests_recorded_at_once_erase_each_face_once_and_the_version_is_the_newest()
    {
        await using var catalog = await Backend.OpenAsync(_clock);
        var collection = await catalog.EnsureCollectionAsync("press", "public-interest", "GB");
        var stored = (await catalog.AddImagesAsync([TestData.Image(collection.Id, _random, 3)]))[0];
        var vectors = Enumerable.Range(0, 6).Select(_ => TestData.UnitVector(_random)).ToArray();

        var registrations = await Task.WhenAll(vectors.Select((vector, i) => Task.Run(() =>
            catalog.AddOptOutAsync(new NewOptOut($"REQ-{i}", null, [vector]), stored.FaceIds, "dpo"))));

        Assert.Equal(3, registrations.Sum(r => r.Request.FacesErased));
        Assert.Equal(stored.FaceIds.Order(), registrations.SelectMany(r => r.Receipt?.Faces ?? []).Order());
        Assert.Equal(6, registrations.Select(r => r.Request.Id).Distinct().Count());
        Assert.Equal(registrations.Max(r => r.Request.Id), await catalog.OptOutVersionAsync());
        Assert.Equal(6, (await catalog.ReadOptOutEmbeddingsAsync()).Count);
        Assert.Empty(await catalog.GetFacesOfImageAsync(stored.ImageId));
    }

    [SkippableFact]
    public async Task Stored_face_embeddings_come_back_for_the_faces_still_in_the_catalog()
    {
        await using var catalog = await Backend.OpenAsync(_clock);
        var collection = await catalog.EnsureCollectionAsync("press", "public-interest", "GB");
        var image = TestData.Image(collection.Id, _random, 2);
        var stored = (await catalog.AddImagesAsync([image]))[0];

        Assert.Empty(await catalog.GetEmbeddingsAsync([]));
        var read = await catalog.GetEmbeddingsAsync([stored.FaceIds[1], stored.FaceIds[1] + 1000, stored.FaceIds[0]]);
        Assert.Equal([stored.FaceIds[1], stored.FaceIds[0]], read.Select(e => e.FaceId));

        // Faces are stored at half precision: each component within its rounding of the float32 written.
        for (var i = 0; i < 2; i++)
        {
            var written = image.Faces[stored.FaceIds.ToList().IndexOf(read[i].FaceId)].Embedding;
            Assert.Equal(written.Length, read[i].Vector.Length);
            Assert.All(written.Zip(read[i].Vector), p => Assert.Equal(p.First, p.Second, 1e-3));
        }
    }

    private NewImage WithPictures(long collectionId, int faces)
    {
        var image = TestData.Image(collectionId, _random, faces) with { Preview = RandomPicture(640, 480) };
        return image with { Faces = [.. image.Faces.Select(f => f with { Thumbnail = RandomPicture(112, 112) })] };
    }

    private Picture RandomPicture(int width, int height)
    {
        var bytes = new byte[_random.Next(500, 2000)];
        _random.NextBytes(bytes);
        return new Picture(width, height, bytes);
    }
}

public sealed class SqliteOptOutStoreTests() : OptOutStoreContract<SqliteCatalog>(new SqliteBackend());

public sealed class PostgresOptOutStoreTests() : OptOutStoreContract<PostgresCatalog>(new PostgresBackend());
