using Lineup.Core.Catalog;
using Lineup.Storage.Postgres;

namespace Lineup.Storage.Tests;

/// <summary>
/// <see cref="IPictureStore"/> on both backends: previews and thumbnails are written with their image and faces, read
/// back byte for byte, and go when their image or face goes.
/// </summary>
public abstract class PictureStoreContract<TCatalog>(ICatalogBackend<TCatalog> backend) : IAsyncLifetime
    where TCatalog : class, ICatalog, IIngestLedger, IPictureStore
{
    private readonly Random _random = new(2468);

    protected ICatalogBackend<TCatalog> Backend { get; } = backend;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await Backend.DisposeAsync();

    private Picture RandomPicture(int width, int height)
    {
        var bytes = new byte[_random.Next(500, 5000)];
        _random.NextBytes(bytes);
        return new Picture(width, height, bytes);
    }

    private async Task<(TCatalog Catalog, long CollectionId)> OpenAsync()
    {
        var catalog = await Backend.OpenAsync();
        var collection = await catalog.EnsureCollectionAsync("press", "public-interest", "GB");
        return (catalog, collection.Id);
    }

    [SkippableFact]
    public async Task Pictures_written_with_an_image_and_its_faces_read_back_equal_after_reopening()
    {
        var preview = RandomPicture(640, 427);
        var thumbnails = new[] { RandomPicture(112, 112), RandomPicture(96, 112) };
        var faceless = RandomPicture(300, 200);
        IReadOnlyList<StoredImage> stored;
        var (catalog, collectionId) = await OpenAsync();
        await using (catalog)
        {
            var image = TestData.Image(collectionId, _random, faces: 3);
            image = image with
            {
                Preview = preview,
                Faces = [image.Faces[0] with { Thumbnail = thumbnails[0] }, image.Faces[1] with { Thumbnail = thumbnails[1] }, image.Faces[2]],
            };
            stored = await catalog.AddImagesAsync([image, TestData.Image(collectionId, _random, faces: 0) with { Preview = faceless }]);
        }

        await using var reopened = await Backend.OpenAsync();
        IPictureStore pictures = reopened;
        AssertEqual(preview, await pictures.GetImagePreviewAsync(stored[0].ImageId));
        AssertEqual(faceless, await pictures.GetImagePreviewAsync(stored[1].ImageId));
        AssertEqual(thumbnails[0], await pictures.GetFaceThumbnailAsync(stored[0].FaceIds[0]));
        AssertEqual(thumbnails[1], await pictures.GetFaceThumbnailAsync(stored[0].FaceIds[1]));

        // A face stored without a thumbnail, and ids that do not exist, read as null.
        Assert.Null(await pictures.GetFaceThumbnailAsync(stored[0].FaceIds[2]));
        Assert.Null(await pictures.GetFaceThumbnailAsync(stored[0].FaceIds[2] + 1000));
        Assert.Null(await pictures.GetImagePreviewAsync(stored[1].ImageId + 1000));
    }

    [SkippableFact]
    public async Task An_image_without_a_preview_reads_null_and_the_same_bytes_again_keep_the_first_pictures()
    {
        var (catalog, collectionId) = await OpenAsync();
        await using (catalog)
        {
            var bare = TestData.Image(collectionId, _random, faces: 1);
            var first = TestData.Image(collectionId, _random, faces: 1) with { Preview = RandomPicture(640, 480) };
            var stored = await catalog.AddImagesAsync([bare, first]);
            Assert.Null(await catalog.GetImagePreviewAsync(stored[0].ImageId));
            Assert.Null(await catalog.GetFaceThumbnailAsync(stored[0].FaceIds[0]));

            // The same bytes with other pictures only gain a sighting: nothing is written twice or replaced.
            var again = first with { Preview = RandomPicture(320, 240), Provenance = new Provenance("https://example.net/b.jpg") };
            var repeat = Assert.Single(await catalog.AddImagesAsync([again]));
            Assert.True(repeat.AlreadyPresent);
            AssertEqual(first.Preview, await catalog.GetImagePreviewAsync(stored[1].ImageId));
        }
    }

    [SkippableFact]
    public async Task An_ingest_commit_stores_the_pictures_and_a_near_duplicate_keeps_its_preview()
    {
        var (catalog, collectionId) = await OpenAsync();
        await using (catalog)
        {
            var run = await catalog.StartRunAsync(collectionId, "folder", "/data/photos");
            var original = TestData.Image(collectionId, _random, faces: 1);
            original = original with { Preview = RandomPicture(640, 480), Faces = [original.Faces[0] with { Thumbnail = RandomPicture(112, 112) }] };
            var stored = await catalog.CommitAsync(run.Id, [new IngestEntry(0, "big", IngestStatus.Ingested, Image: original)]);
            var originalId = stored[0].ImageId!.Value;

            // What the pipeline writes for a smaller copy: no faces (they stay with the original), its own preview.
            var copy = TestData.Image(collectionId, _random, faces: 0) with { Preview = RandomPicture(320, 240), NearDuplicateOf = originalId };
            var linked = await catalog.CommitAsync(run.Id, [new IngestEntry(1, "small", IngestStatus.NearDuplicate, "near-duplicate", copy)]);

            AssertEqual(original.Preview, await catalog.GetImagePreviewAsync(originalId));
            AssertEqual(original.Faces[0].Thumbnail, await catalog.GetFaceThumbnailAsync(stored[0].FaceIds[0]));
            AssertEqual(copy.Preview, await catalog.GetImagePreviewAsync(linked[0].ImageId!.Value));
        }
    }

    [SkippableFact]
    public async Task Deleting_an_image_or_a_face_takes_its_pictures_with_it()
    {
        var (catalog, collectionId) = await OpenAsync();
        await using (catalog)
        {
            var image = TestData.Image(collectionId, _random, faces: 2);
            image = image with
            {
                Preview = RandomPicture(640, 480),
                Faces = [.. image.Faces.Select(f => f with { Thumbnail = RandomPicture(112, 112) })],
            };
            var other = TestData.Image(collectionId, _random, faces: 1);
            other = other with { Preview = RandomPicture(500, 500), Faces = [other.Faces[0] with { Thumbnail = RandomPicture(112, 112) }] };
            var stored = await catalog.AddImagesAsync([image, other]);
            Assert.Equal(3, await CountAsync("face_thumbnails"));
            Assert.Equal(2, await CountAsync("image_previews"));

            await ExecuteAsync("DELETE FROM faces WHERE id = @id", stored[0].FaceIds[1]);
            Assert.Null(await catalog.GetFaceThumbnailAsync(stored[0].FaceIds[1]));
            Assert.NotNull(await catalog.GetFaceThumbnailAsync(stored[0].FaceIds[0]));

            await ExecuteAsync("DELETE FROM images WHERE id = @id", stored[0].ImageId);
            Assert.Null(await catalog.GetImagePreviewAsync(stored[0].ImageId));
            Assert.Null(await catalog.GetFaceThumbnailAsync(stored[0].FaceIds[0]));
            Assert.Equal(1, await CountAsync("face_thumbnails"));
            Assert.Equal(1, await CountAsync("image_previews"));

            // The other image keeps its own.
            Assert.NotNull(await catalog.GetImagePreviewAsync(stored[1].ImageId));
            Assert.NotNull(await catalog.GetFaceThumbnailAsync(stored[1].FaceIds[0]));
        }
    }

    [Fact]
    public void A_picture_must_have_a_size_and_bytes()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new Picture(0, 10, [1]));
        Assert.Throws<ArgumentOutOfRangeException>(() => new Picture(10, -1, [1]));
        Assert.Throws<ArgumentException>(() => new Picture(10, 10, []));
    }

    private static void AssertEqual(Picture? expected, Picture? actual)
    {
        Assert.NotNull(expected);
        Assert.NotNull(actual);
        Assert.Equal((expected.Width, expected.Height), (actual.Width, actual.Height));
        Assert.Equal(expected.Jpeg, actual.Jpeg);
    }

    private async Task ExecuteAsync(string sql, long id) => Assert.Equal(1, await BackendSql.ExecuteAsync(Backend, sql, id));

    private Task<long> CountAsync(string table) => BackendSql.ScalarAsync(Backend, $"SELECT count(*) FROM {table}");
}

public sealed class SqlitePictureStoreTests() : PictureStoreContract<SqliteCatalog>(new SqliteBackend());

public sealed class PostgresPictureStoreTests() : PictureStoreContract<PostgresCatalog>(new PostgresBackend());
