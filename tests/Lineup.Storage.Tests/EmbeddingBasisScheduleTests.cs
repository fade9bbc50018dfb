using Lineup.Core.Catalog;
using Lineup.Core.Numerics;

namespace Lineup.Storage.Tests;

/// <summary><see cref="EmbeddingBasisSchedule"/> against a real catalog: when a writer's commits fit the model's basis.</summary>
public sealed class EmbeddingBasisScheduleTests
{
    [Fact]
    public async Task A_writer_fits_the_basis_at_the_first_look_after_the_catalog_holds_enough_faces_and_then_stops_looking()
    {
        await using var backend = new SqliteBackend();
        await using var catalog = await backend.OpenAsync();
        var random = new Random(21);
        var collection = await catalog.EnsureCollectionAsync("c", "consent", null);
        var directions = TestData.Directions(random, 32, 8);

        // Fit at 160 faces, looking every 50 committed faces (the interval doubles after a look that finds none).
        var schedule = new EmbeddingBasisSchedule(catalog, fitAt: 160, checkEvery: 50);
        var looks = new List<(int Faces, EmbeddingBasisInfo? Basis)>();
        var written = 0;
        for (var batch = 0; batch < 16; batch++)
        {
            await catalog.AddImagesAsync([.. Enumerable.Range(0, 25).Select(_ => TestData.LowRankImage(collection.Id, random, directions))]);
            written += 25;
            looks.Add((written, await schedule.CommittedAsync(25)));
        }

        // Looks at 50 (too few), then 100 later at 150 (too few), then 200 later at 350: fitted there, never again.
        Assert.Equal([350], looks.Where(l => l.Basis is not null).Select(l => l.Faces));
        var basis = (await ((IEmbeddingBases)catalog).GetEmbeddingBasisAsync())!;
        Assert.Equal(350, basis.SampleFaces);

        // Faces written after it are stored in it.
        var image = TestData.LowRankImage(collection.Id, random, directions);
        var faceId = Assert.Single(await catalog.AddImagesAsync([image])).FaceIds[0];
        Assert.Equal(EmbeddingCodec.BasisEncodedLength(basis.Components), await BackendSql.ScalarAsync(backend, "SELECT length(embedding) FROM faces WHERE id = @id", faceId));
    }

    [Fact]
    public async Task A_catalog_that_keeps_no_bases_is_left_alone()
    {
        var schedule = new EmbeddingBasisSchedule(new NoBases(), fitAt: 1, checkEvery: 1);
        Assert.Null(await schedule.CommittedAsync(1_000));
    }

    /// <summary>An <see cref="ICatalog"/> that is not <see cref="IEmbeddingBases"/>: every member is out of reach of the schedule.</summary>
    private sealed class NoBases : ICatalog
    {
        public string ModelId => "none";

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;

        public Task<Collection> EnsureCollectionAsync(string name, string lawfulBasis, string? jurisdiction, CancellationToken ct = default) => throw new NotSupportedException();

        public Task<Collection?> FindCollectionAsync(string name, CancellationToken ct = default) => throw new NotSupportedException();

        public Task<IReadOnlyList<Collection>> ListCollectionsAsync(CancellationToken ct = default) => throw new NotSupportedException();

        public Task<ImageRecord?> FindImageAsync(byte[] sha256, CancellationToken ct = default) => throw new NotSupportedException();

        public Task<IReadOnlyList<StoredImage>> AddImagesAsync(IReadOnlyList<NewImage> images, CancellationToken ct = default) => throw new NotSupportedException();

        public Task<ImageRecord?> GetImageAsync(long imageId, CancellationToken ct = default) => throw new NotSupportedException();

        public Task<FaceRecord?> GetFaceAsync(long faceId, CancellationToken ct = default) => throw new NotSupportedException();

        public Task<IReadOnlyList<(FaceRecord Face, ImageRecord Image)>> GetFacesWithImagesAsync(IReadOnlyList<long> faceIds, CancellationToken ct = default) => throw new NotSupportedException();

        public Task<IReadOnlyList<FaceRecord>> GetFacesOfImageAsync(long imageId, CancellationToken ct = default) => throw new NotSupportedException();

        public Task<IReadOnlyList<StoredEmbedding>> GetEmbeddingsAsync(IReadOnlyList<long> faceIds, CancellationToken ct = default) => throw new NotSupportedException();

        public IAsyncEnumerable<StoredEmbedding> ReadEmbeddingsAsync(long afterFaceId = 0, CancellationToken ct = default) => throw new NotSupportedException();

        public Task<CatalogStats> GetStatsAsync(CancellationToken ct = default) => throw new NotSupportedException();

        public Task<IReadOnlyList<Sighting>> GetSightingsAsync(long imageId, CancellationToken ct = default) => throw new NotSupportedException();

        public IAsyncEnumerable<ImageHash> ReadPerceptualHashesAsync(long afterImageId = 0, CancellationToken ct = default) => throw new NotSupportedException();

        public Task<IReadOnlyList<StoredEmbedding>> GetEmbeddingsOfImageAsync(long imageId, CancellationToken ct = default) => throw new NotSupportedException();
    }
}
