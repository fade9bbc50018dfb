using Lineup.Core.Catalog;
using Lineup.Core.Faces;
using Lineup.Core.Numerics;
using Lineup.Storage.Postgres;

namespace Lineup.Storage.Tests;

/// <summary>
/// The <see cref="ICatalog"/> contract: collections, images, faces with their embeddings, statistics. Runs against
/// SQLite and PostgreSQL; what only SQLite has (its file, WAL, migrations) is in <see cref="SqliteCatalogTests"/>.
/// </summary>
public abstract class CatalogContract<TCatalog>(ICatalogBackend<TCatalog> backend) : IAsyncLifetime
    where TCatalog : class, ICatalog
{
    private readonly Random _random = new(1234);

    protected ICatalogBackend<TCatalog> Backend { get; } = backend;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await Backend.DisposeAsync();

    private Task<TCatalog> OpenAsync() => Backend.OpenAsync();

    [SkippableFact]
    public async Task A_new_catalog_is_empty_and_reports_the_latest_schema_version()
    {
        await using var catalog = await OpenAsync();
        Assert.Equal(new CatalogStats(0, 0, 0, 0, Migrations.LatestVersion), await catalog.GetStatsAsync());
        Assert.Empty(await catalog.ListCollectionsAsync());
        Assert.Empty(await catalog.ReadEmbeddingsAsync().ToListAsync());
    }

    [SkippableFact]
    public async Task Collection_image_face_provenance_and_embedding_round_trip()
    {
        var captured = new DateTimeOffset(2023, 5, 6, 7, 8, 9, 123, TimeSpan.FromHours(2)).AddTicks(4567);
        var fetched = new DateTimeOffset(2024, 1, 2, 3, 4, 5, TimeSpan.Zero);
        var provenance = new Provenance("https://example.org/img.jpg", "https://example.org/page", captured, fetched, "/data/a/img.jpg");

        long imageId;
        IReadOnlyList<long> faceIds;
        NewImage image;
        await using (var catalog = await OpenAsync())
        {
            var collection = await catalog.EnsureCollectionAsync("press", "public-interest", "GB");
            Assert.Equal("press", collection.Name);
            Assert.Equal("public-interest", collection.LawfulBasis);
            Assert.Equal("GB", collection.Jurisdiction);

            image = TestData.Image(collection.Id, _random, faces: 3, provenance);
            var stored = Assert.Single(await catalog.AddImagesAsync([image]));
            Assert.False(stored.AlreadyPresent);
            Assert.Equal(3, stored.FaceIds.Count);
            Assert.True(stored.FaceIds.SequenceEqual(stored.FaceIds.Order()));
            imageId = stored.ImageId;
            faceIds = stored.FaceIds;
        }

        // Reopen: everything survives dispose.
        await using var reopened = await OpenAsync();
        var record = await reopened.GetImageAsync(imageId);
        Assert.NotNull(record);
        Assert.Equal(Convert.ToHexStringLower(image.Sha256), record.Sha256Hex);
        Assert.Equal(image.ByteLength, record.ByteLength);
        Assert.Equal("jpeg", record.Format);
        Assert.Equal((640, 480), (record.Width, record.Height));
        Assert.Equal(provenance, record.Provenance);
        Assert.Equal(captured.UtcTicks, record.Provenance.CapturedAt!.Value.UtcTicks);
        Assert.Equal(record, await reopened.FindImageAsync(image.Sha256));

        var faces = await reopened.GetFacesOfImageAsync(imageId);
        Assert.Equal(faceIds, faces.Select(f => f.Id));
        for (var i = 0; i < faces.Count; i++)
        {
            var expected = image.Faces[i];
            Assert.Equal(expected.Box, faces[i].Box);
            Assert.Equal(expected.Landmarks, faces[i].Landmarks);
            Assert.Equal(expected.DetectorScore, faces[i].DetectorScore);
            Assert.Equal(TestData.Model, faces[i].ModelId);
            Assert.Equal(imageId, faces[i].ImageId);
            Assert.Equal(faces[i], await reopened.GetFaceAsync(faces[i].Id));
        }

        var embeddings = await reopened.ReadEmbeddingsAsync().ToListAsync();
        Assert.Equal(faceIds, embeddings.Select(e => e.FaceId));
        for (var i = 0; i < embeddings.Count; i++)
        {
            var original = image.Faces[i].Embedding;
            Assert.Equal(original.Length, embeddings[i].Vector.Length);
            for (var d = 0; d < original.Length; d++)
            {
                Assert.InRange(embeddings[i].Vector[d] - original[d], -1e-3f, 1e-3f);
            }
        }

        var withImages = await reopened.GetFacesWithImagesAsync([faceIds[2], 999_999, faceIds[0]]);
        Assert.Equal([faceIds[2], faceIds[0]], withImages.Select(p => p.Face.Id));
        Assert.All(withImages, p => Assert.Equal(record, p.Image));

        // The re-rank's read: in the order asked, unknown ids left out, each id once, the same vectors as the stream.
        var asked = await reopened.GetEmbeddingsAsync([faceIds[1], 999_999, faceIds[2], faceIds[1]]);
        Assert.Equal([faceIds[1], faceIds[2]], asked.Select(e => e.FaceId));
        Assert.Equal(embeddings[1].Vector, asked[0].Vector);
        Assert.Equal(embeddings[2].Vector, asked[1].Vector);
        Assert.Empty(await reopened.GetEmbeddingsAsync([]));

        var stats = await reopened.GetStatsAsync();
        Assert.Equal(new CatalogStats(1, 1, 3, faceIds[^1], Migrations.LatestVersion), stats);
    }

    [SkippableFact]
    public async Task Embeddings_are_stored_as_int8_with_a_scale_as_in_sqlite()
    {
        await using var catalog = await OpenAsync();
        var collection = await catalog.EnsureCollectionAsync("c", "consent", null);
        var image = TestData.Image(collection.Id, _random, faces: 1);
        var original = image.Faces[0].Embedding.ToArray();
        var stored = Assert.Single(await catalog.AddImagesAsync([image]));

        // The stored blob is exactly what EmbeddingCodec makes (517 bytes for 512 components): rows read the same on both backends.
        Assert.Equal(517, await BackendSql.ScalarAsync(Backend, "SELECT length(embedding) FROM faces WHERE id = @id", stored.FaceIds[0]));
        var embedding = Assert.Single(await catalog.GetEmbeddingsOfImageAsync(stored.ImageId));
        Assert.Equal(stored.FaceIds[0], embedding.FaceId);
        Assert.Equal(EmbeddingCodec.Decode(EmbeddingCodec.Encode(original)), embedding.Vector);

        // The write replaced the face's vector in place with what the catalog gives back.
        Assert.Equal(embedding.Vector, image.Faces[0].Embedding);
        Assert.True(VectorMath.CosineOfUnit(original, embedding.Vector) > 0.999f);
    }

    [SkippableFact]
    public async Task A_catalog_of_schema_10_has_its_float16_embeddings_re_encoded_on_open()
    {
        NewImage image;
        IReadOnlyList<long> faceIds;
        await using (var catalog = await OpenAsync())
        {
            var collection = await catalog.EnsureCollectionAsync("c", "consent", null);
            image = TestData.Image(collection.Id, _random, faces: 2);
            faceIds = Assert.Single(await catalog.AddImagesAsync([image])).FaceIds;
        }

        // Put the store back as schema 10 left it: float16 embeddings (two bytes a component), version 10.
        for (var f = 0; f < faceIds.Count; f++)
        {
            Assert.Equal(1, await BackendSql.ExecuteAsync(
                Backend, "UPDATE faces SET embedding = @blob WHERE id = @id", faceIds[f], VectorMath.ToHalfBlob(image.Faces[f].Embedding)));
        }

        await BackendSql.ExecuteAsync(Backend, "DELETE FROM schema_version WHERE version > 10");
        await BackendSql.ExecuteAsync(Backend, "DROP TABLE embedding_bases");
        await BackendSql.ExecuteAsync(Backend,
            "INSERT INTO schema_version(version, description, applied_at) SELECT 10, 'schema 10', '2026-11-01T00:00:00.0000000Z' " +
            "WHERE NOT EXISTS (SELECT 1 FROM schema_version WHERE version = 10)");

        await using (var reopened = await OpenAsync())
        {
            Assert.Equal(Migrations.LatestVersion, (await reopened.GetStatsAsync()).SchemaVersion);
            var embeddings = await reopened.ReadEmbeddingsAsync().ToListAsync();
            Assert.Equal(faceIds, embeddings.Select(e => e.FaceId));
            for (var f = 0; f < faceIds.Count; f++)
            {
                Assert.Equal(517, await BackendSql.ScalarAsync(Backend, "SELECT length(embedding) FROM faces WHERE id = @id", faceIds[f]));
                Assert.True(VectorMath.CosineOfUnit(image.Faces[f].Embedding, embeddings[f].Vector) > 0.999f);
            }
        }
    }

    [SkippableFact]
    public async Task A_schema_10_row_that_is_not_a_float16_embedding_stops_migration_11_naming_the_face_and_changes_nothing()
    {
        IReadOnlyList<long> faceIds;
        await using (var catalog = await OpenAsync())
        {
            var collection = await catalog.EnsureCollectionAsync("c", "consent", null);
            faceIds = Assert.Single(await catalog.AddImagesAsync([TestData.Image(collection.Id, _random, faces: 2)])).FaceIds;
        }

        var half = VectorMath.ToHalfBlob(TestData.UnitVector(_random));
        await BackendSql.ExecuteAsync(Backend, "UPDATE faces SET embedding = @blob WHERE id = @id", faceIds[0], half);
        await BackendSql.ExecuteAsync(Backend, "UPDATE faces SET embedding = @blob WHERE id = @id", faceIds[1], [1, 2, 3]);
        await BackendSql.ExecuteAsync(Backend, "DELETE FROM schema_version WHERE version > 10");
        await BackendSql.ExecuteAsync(Backend, "DROP TABLE embedding_bases");
        await BackendSql.ExecuteAsync(Backend,
            "INSERT INTO schema_version(version, description, applied_at) SELECT 10, 'schema 10', '2026-11-01T00:00:00.0000000Z' " +
            "WHERE NOT EXISTS (SELECT 1 FROM schema_version WHERE version = 10)");

        var ex = await Assert.ThrowsAnyAsync<Exception>(async () => await (await OpenAsync()).DisposeAsync());
        Assert.Contains($"Face {faceIds[1]}: its float16 embedding has 3 bytes", ex.Message, StringComparison.Ordinal);

        // The migration is one transaction: the good row is still float16 and the schema still 10.
        Assert.Equal(10, await BackendSql.ScalarAsync(Backend, "SELECT max(version) FROM schema_version"));
        Assert.Equal(1024, await BackendSql.ScalarAsync(Backend, "SELECT length(embedding) FROM faces WHERE id = @id", faceIds[0]));
    }

    [SkippableTheory]
    [InlineData(new byte[] { 1, 0, 0 }, "more than 5 bytes")]
    [InlineData(new byte[] { 9, 0, 0, 0, 0, 1, 2, 3 }, "this one starts with 9")]
    [InlineData(new byte[] { 1, 0, 0, 0xC0, 0x7F, 1, 2, 3 }, "scale")]
    [InlineData(new byte[] { 2, 9, 0, 0, 0, 0, 0, 1, 2, 3 }, "stored in basis 9, which the catalog does not have")]
    public async Task A_stored_embedding_that_cannot_be_read_fails_naming_the_face(byte[] blob, string reason)
    {
        await using var catalog = await OpenAsync();
        var collection = await catalog.EnsureCollectionAsync("c", "consent", null);
        var stored = Assert.Single(await catalog.AddImagesAsync([TestData.Image(collection.Id, _random, faces: 1)]));
        Assert.Equal(1, await BackendSql.ExecuteAsync(Backend, "UPDATE faces SET embedding = @blob WHERE id = @id", stored.FaceIds[0], blob));

        var ex = await Assert.ThrowsAsync<CatalogException>(() => catalog.GetEmbeddingsOfImageAsync(stored.ImageId));
        Assert.Contains($"Face {stored.FaceIds[0]}:", ex.Message, StringComparison.Ordinal);
        Assert.Contains(reason, ex.Message, StringComparison.Ordinal);

        // The damaged row does not keep the catalog from opening; reading it still fails the same way.
        await using var reopened = await OpenAsync();
        var again = await Assert.ThrowsAsync<CatalogException>(() => reopened.GetEmbeddingsOfImageAsync(stored.ImageId));
        Assert.Contains($"Face {stored.FaceIds[0]}:", again.Message, StringComparison.Ordinal);
    }

    /// <summary>Embedding length of the basis tests: 4 × 32 = 128 faces make a sample (512-d would need 2,048).</summary>
    private const int BasisDimensions = 32;

    /// <summary>Directions the basis tests' embeddings span.</summary>
    private const int BasisSpan = 8;

    private async Task<(Collection Collection, float[][] Directions, List<(long FaceId, float[] Original)> Faces)> LowRankFacesAsync(
        TCatalog catalog, int count)
    {
        var collection = await catalog.EnsureCollectionAsync("low-rank", "consent", null);
        var directions = TestData.Directions(_random, BasisDimensions, BasisSpan);
        var faces = new List<(long, float[])>();
        for (var done = 0; done < count; done += 50)
        {
            var images = Enumerable.Range(0, Math.Min(50, count - done)).Select(_ => TestData.LowRankImage(collection.Id, _random, directions)).ToList();
            var originals = images.Select(i => i.Faces[0].Embedding.ToArray()).ToList();
            var stored = await catalog.AddImagesAsync(images);
            faces.AddRange(stored.Select((s, i) => (s.FaceIds[0], originals[i])));
        }

        return (collection, directions, faces);
    }

    [SkippableFact]
    public async Task The_embedding_basis_is_fitted_once_the_model_has_enough_faces_and_later_faces_are_stored_in_it()
    {
        EmbeddingBasisInfo basis;
        long inBasis, outside;
        float[] inBasisStored;
        await using (var catalog = await OpenAsync())
        {
            var bases = (IEmbeddingBases)catalog;
            var (collection, directions, _) = await LowRankFacesAsync(catalog, 100);
            Assert.Null(await bases.GetEmbeddingBasisAsync());
            Assert.Null(await bases.EnsureEmbeddingBasisAsync(0)); // 100 faces: a 32-d sample takes 128
            await catalog.AddImagesAsync([.. Enumerable.Range(0, 100).Select(_ => TestData.LowRankImage(collection.Id, _random, directions))]);
            Assert.Null(await bases.EnsureEmbeddingBasisAsync(1_000)); // 200 faces: fewer than asked for

            basis = (await bases.EnsureEmbeddingBasisAsync(0))!;
            Assert.NotNull(basis);
            Assert.Equal((TestData.Model, BasisDimensions, BasisSpan, 200), (basis.ModelId, basis.Dimensions, basis.Components, basis.SampleFaces));
            Assert.Equal(basis, await bases.GetEmbeddingBasisAsync());
            Assert.Equal(basis, await bases.EnsureEmbeddingBasisAsync(0)); // fitted once: never refitted

            // A face written now is stored in the basis, and its vector replaced in place with what the catalog gives back.
            var image = TestData.LowRankImage(collection.Id, _random, directions);
            var original = image.Faces[0].Embedding.ToArray();
            inBasis = Assert.Single(await catalog.AddImagesAsync([image])).FaceIds[0];
            inBasisStored = image.Faces[0].Embedding;
            Assert.NotEqual(original, inBasisStored);
            Assert.True(System.Numerics.Tensors.TensorPrimitives.CosineSimilarity(original, inBasisStored) > 0.9999f);
            Assert.Equal(EmbeddingCodec.BasisEncodedLength(BasisSpan), await BackendSql.ScalarAsync(Backend, "SELECT length(embedding) FROM faces WHERE id = @id", inBasis));
            Assert.Equal(inBasisStored, Assert.Single(await catalog.GetEmbeddingsAsync([inBasis])).Vector);

            // One outside it is stored in full.
            var stranger = TestData.WithFace(TestData.Image(collection.Id, _random, faces: 1), TestData.UnitVector(_random, BasisDimensions));
            outside = Assert.Single(await catalog.AddImagesAsync([stranger])).FaceIds[0];
            Assert.Equal(EmbeddingCodec.HeaderBytes + BasisDimensions, await BackendSql.ScalarAsync(Backend, "SELECT length(embedding) FROM faces WHERE id = @id", outside));
            Assert.Equal(stranger.Faces[0].Embedding, Assert.Single(await catalog.GetEmbeddingsAsync([outside])).Vector);
        }

        // Reopened: the same basis, the same vectors, and the length of the model's embeddings read through it.
        await using var reopened = await OpenAsync();
        Assert.Equal(basis, await ((IEmbeddingBases)reopened).GetEmbeddingBasisAsync());
        var all = await reopened.ReadEmbeddingsAsync().ToListAsync();
        Assert.Equal(inBasisStored, all.Single(e => e.FaceId == inBasis).Vector);
        var collectionId = (await reopened.ListCollectionsAsync())[0].Id;
        var wrongLength = await Assert.ThrowsAsync<CatalogException>(() => reopened.AddImagesAsync([TestData.Image(collectionId, _random, faces: 1)]));
        Assert.Contains($"have {BasisDimensions} dimensions", wrongLength.Message, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task Compaction_re_encodes_the_faces_written_before_the_basis_and_leaves_those_outside_it()
    {
        await using var catalog = await OpenAsync();
        var bases = (IEmbeddingBases)catalog;
        var (collection, _, faces) = await LowRankFacesAsync(catalog, 150);
        var refused = await Assert.ThrowsAsync<CatalogException>(() => bases.CompactEmbeddingsAsync());
        Assert.Contains("has no embedding basis yet", refused.Message, StringComparison.Ordinal);

        // Fitted on the 150; a face unlike them, written after, is stored in full (in the sample, it would have given the
        // basis a direction of its own).
        var basis = (await bases.EnsureEmbeddingBasisAsync(0))!;
        var stranger = TestData.WithFace(TestData.Image(collection.Id, _random, faces: 1), TestData.UnitVector(_random, BasisDimensions));
        var strangerId = Assert.Single(await catalog.AddImagesAsync([stranger])).FaceIds[0];
        var reports = new List<EmbeddingCompaction>();
        var result = await bases.CompactEmbeddingsAsync(new SynchronousProgress<EmbeddingCompaction>(reports.Add));

        Assert.Equal(new EmbeddingCompaction(151, 150, 1), result);
        Assert.Equal(result, reports[^1]);
        var stored = (await catalog.GetEmbeddingsAsync([.. faces.Select(f => f.FaceId)])).ToDictionary(e => e.FaceId, e => e.Vector);
        foreach (var (faceId, original) in faces)
        {
            Assert.Equal(EmbeddingCodec.BasisEncodedLength(basis.Components), await BackendSql.ScalarAsync(Backend, "SELECT length(embedding) FROM faces WHERE id = @id", faceId));
            // Cosine, not a dot product: the int8 rows these were re-encoded from have norms a few thousandths off 1 at 32 dimensions.
            var cosine = System.Numerics.Tensors.TensorPrimitives.CosineSimilarity(original, stored[faceId]);
            Assert.True(cosine > 0.9999f, $"face {faceId}: cosine {cosine}");
        }

        Assert.Equal(EmbeddingCodec.HeaderBytes + BasisDimensions, await BackendSql.ScalarAsync(Backend, "SELECT length(embedding) FROM faces WHERE id = @id", strangerId));

        // Run again: nothing left to do.
        Assert.Equal(new EmbeddingCompaction(151, 0, 1), await bases.CompactEmbeddingsAsync());
    }

    [SkippableFact]
    public async Task A_damaged_basis_row_stops_the_catalog_from_opening_naming_the_basis()
    {
        EmbeddingBasisInfo basis;
        await using (var catalog = await OpenAsync())
        {
            await LowRankFacesAsync(catalog, 150);
            basis = (await ((IEmbeddingBases)catalog).EnsureEmbeddingBasisAsync(0))!;
        }

        // Scales of the right length, but negative: every row stored in the basis would decode wrongly.
        var negative = new byte[4 * basis.Components];
        for (var i = 0; i < basis.Components; i++)
        {
            System.Buffers.Binary.BinaryPrimitives.WriteSingleLittleEndian(negative.AsSpan(4 * i), -1f);
        }

        Assert.Equal(1, await BackendSql.ExecuteAsync(Backend, "UPDATE embedding_bases SET scales = @blob WHERE id = @id", basis.Id, negative));
        var ex = await Assert.ThrowsAnyAsync<Exception>(async () => await (await OpenAsync()).DisposeAsync());
        Assert.Contains($"embedding basis {basis.Id} (model '{TestData.Model}') cannot be read", ex.Message, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task Two_catalogs_fitting_at_once_agree_on_one_basis_and_read_each_others_rows()
    {
        await using var first = await OpenAsync();
        await using var second = await OpenAsync();
        var (collection, directions, _) = await LowRankFacesAsync(first, 200);

        // Opened before there is a basis: it reads the bases again when it meets a row stored in one it has not seen.
        await using var early = await OpenAsync();

        var fitted = await Task.WhenAll(
            Task.Run(() => ((IEmbeddingBases)first).EnsureEmbeddingBasisAsync(0)),
            Task.Run(() => ((IEmbeddingBases)second).EnsureEmbeddingBasisAsync(0)));

        Assert.NotNull(fitted[0]);
        Assert.Equal(fitted[0], fitted[1]);
        Assert.Equal(1, await BackendSql.ScalarAsync(Backend, "SELECT count(*) FROM embedding_bases"));

        var image = TestData.LowRankImage(collection.Id, _random, directions);
        var faceId = Assert.Single(await second.AddImagesAsync([image])).FaceIds[0];
        Assert.Equal(EmbeddingCodec.BasisEncodedLength(BasisSpan), await BackendSql.ScalarAsync(Backend, "SELECT length(embedding) FROM faces WHERE id = @id", faceId));
        Assert.Equal(image.Faces[0].Embedding, Assert.Single(await early.GetEmbeddingsAsync([faceId])).Vector);
    }

    [SkippableFact]
    public async Task Every_write_of_images_bumps_the_gallery_version()
    {
        await using var catalog = await OpenAsync();
        var collection = await catalog.EnsureCollectionAsync("c", "consent", null);
        var before = await GalleryVersionAsync();
        var image = TestData.Image(collection.Id, _random);
        await catalog.AddImagesAsync([image]);
        Assert.Equal(before + 1, await GalleryVersionAsync());

        // A batch that fails changes nothing, the version included.
        await Assert.ThrowsAsync<CatalogException>(() => catalog.AddImagesAsync([TestData.Image(collection.Id + 41, _random)]));
        Assert.Equal(before + 1, await GalleryVersionAsync());

        Task<long> GalleryVersionAsync() => BackendSql.ScalarAsync(Backend, "SELECT version FROM gallery_state WHERE id = 1");
    }

    [SkippableFact]
    public async Task Duplicate_bytes_are_reported_already_present_and_add_no_rows()
    {
        await using var catalog = await OpenAsync();
        var collection = await catalog.EnsureCollectionAsync("c", "consent", null);
        var image = TestData.Image(collection.Id, _random);
        var first = Assert.Single(await catalog.AddImagesAsync([image]));

        // Again, in a later batch and twice inside one batch with a new image.
        var other = TestData.Image(collection.Id, _random);
        var second = await catalog.AddImagesAsync([image, other, other]);

        Assert.Equal(first.ImageId, second[0].ImageId);
        Assert.True(second[0].AlreadyPresent);
        Assert.Empty(second[0].FaceIds);
        Assert.False(second[1].AlreadyPresent);
        Assert.True(second[2].AlreadyPresent);
        Assert.Equal(second[1].ImageId, second[2].ImageId);

        var stats = await catalog.GetStatsAsync();
        Assert.Equal(2, stats.Images);
        Assert.Equal(4, stats.Faces);
    }

    [SkippableFact]
    public async Task A_batch_with_one_invalid_item_stores_nothing()
    {
        await using var catalog = await OpenAsync();
        var collection = await catalog.EnsureCollectionAsync("c", "consent", null);

        var good = TestData.Image(collection.Id, _random);
        var badFace = TestData.Face(_random) with { Embedding = new float[512] };
        badFace.Embedding[7] = float.NaN;
        var bad = TestData.Image(collection.Id, _random) with { Faces = [badFace] };
        var ex = await Assert.ThrowsAsync<CatalogException>(() => catalog.AddImagesAsync([good, bad]));
        Assert.Contains("non-finite", ex.Message, StringComparison.Ordinal);

        var wrongDims = TestData.Image(collection.Id, _random) with { Faces = [TestData.Face(_random, 128)] };
        ex = await Assert.ThrowsAsync<CatalogException>(() => catalog.AddImagesAsync([good, wrongDims]));
        Assert.Contains("dimensions", ex.Message, StringComparison.Ordinal);

        // Passes validation, fails inside the transaction after the good image was inserted.
        var unknownCollection = TestData.Image(collection.Id + 41, _random);
        ex = await Assert.ThrowsAsync<CatalogException>(() => catalog.AddImagesAsync([good, unknownCollection]));
        Assert.Contains("collection", ex.Message, StringComparison.Ordinal);

        var stats = await catalog.GetStatsAsync();
        Assert.Equal(0, stats.Images);
        Assert.Equal(0, stats.Faces);
        Assert.Null(await catalog.FindImageAsync(good.Sha256));

        // The catalog is still usable and the good image goes in on its own.
        Assert.False(Assert.Single(await catalog.AddImagesAsync([good])).AlreadyPresent);
    }

    [SkippableFact]
    public async Task Embedding_dimensions_are_fixed_by_the_first_faces_written()
    {
        await using (var catalog = await OpenAsync())
        {
            var collection = await catalog.EnsureCollectionAsync("c", "consent", null);
            await catalog.AddImagesAsync([TestData.Image(collection.Id, _random)]);
        }

        await using var reopened = await OpenAsync();
        var id = (await reopened.FindCollectionAsync("c"))!.Id;
        var wrongDims = TestData.Image(id, _random) with { Faces = [TestData.Face(_random, 256)] };
        var ex = await Assert.ThrowsAsync<CatalogException>(() => reopened.AddImagesAsync([wrongDims]));
        Assert.Contains("512", ex.Message, StringComparison.Ordinal);

        // The right length still goes in after the refusal.
        Assert.Equal(2, Assert.Single(await reopened.AddImagesAsync([TestData.Image(id, _random)])).FaceIds.Count);
    }

    [SkippableFact]
    public async Task EnsureCollection_returns_the_existing_one_and_refuses_a_conflicting_basis()
    {
        await using var catalog = await OpenAsync();
        var first = await catalog.EnsureCollectionAsync("arrests", "law-enforcement", "UK");
        var again = await catalog.EnsureCollectionAsync("arrests", "law-enforcement", "UK");
        Assert.Equal(first, again);

        var ex = await Assert.ThrowsAsync<CatalogException>(() => catalog.EnsureCollectionAsync("arrests", "consent", "UK"));
        Assert.Contains("lawful basis", ex.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<CatalogException>(() => catalog.EnsureCollectionAsync("arrests", "law-enforcement", "FR"));

        await Assert.ThrowsAnyAsync<ArgumentException>(() => catalog.EnsureCollectionAsync("", "consent", null));
        await Assert.ThrowsAnyAsync<ArgumentException>(() => catalog.EnsureCollectionAsync("x", " ", null));

        Assert.Equal(first, await catalog.FindCollectionAsync("arrests"));
        Assert.Null(await catalog.FindCollectionAsync("missing"));
        await catalog.EnsureCollectionAsync("a-first", "consent", null);
        Assert.Equal(["a-first", "arrests"], (await catalog.ListCollectionsAsync()).Select(c => c.Name));
    }

    [SkippableFact]
    public async Task Concurrent_writers_and_readers_all_land()
    {
        await using var catalog = await OpenAsync();
        var collection = await catalog.EnsureCollectionAsync("c", "consent", null);
        const int Writers = 6, BatchesPerWriter = 8, ImagesPerBatch = 5;

        var writers = Enumerable.Range(0, Writers).Select(w => Task.Run(async () =>
        {
            var random = new Random(w);
            for (var b = 0; b < BatchesPerWriter; b++)
            {
                var batch = Enumerable.Range(0, ImagesPerBatch).Select(_ => TestData.Image(collection.Id, random)).ToArray();
                var stored = await catalog.AddImagesAsync(batch);
                Assert.All(stored, s => Assert.False(s.AlreadyPresent));
            }
        }));
        var readers = Enumerable.Range(0, 3).Select(_ => Task.Run(async () =>
        {
            for (var i = 0; i < 20; i++)
            {
                await catalog.GetStatsAsync();
                await foreach (var e in catalog.ReadEmbeddingsAsync())
                {
                    Assert.Equal(512, e.Vector.Length);
                }
            }
        }));
        await Task.WhenAll(writers.Concat(readers));

        var stats = await catalog.GetStatsAsync();
        Assert.Equal(Writers * BatchesPerWriter * ImagesPerBatch, stats.Images);
        Assert.Equal(stats.Images * 2, stats.Faces);
    }

    [SkippableFact]
    public async Task ReadEmbeddings_streams_in_id_order_across_pages_and_resumes_after_an_id()
    {
        await using var catalog = await OpenAsync();
        var collection = await catalog.EnsureCollectionAsync("c", "consent", null);

        // More than one keyset page (the same page size on both backends), written in several batches.
        Assert.Equal(SqliteCatalog.EmbeddingPageSize, PostgresCatalog.EmbeddingPageSize);
        var total = SqliteCatalog.EmbeddingPageSize + 300;
        var faceIds = new List<long>();
        var vectors = new Dictionary<long, float[]>();
        for (var written = 0; written < total;)
        {
            var batch = Enumerable.Range(0, 250).Select(_ => TestData.Image(collection.Id, _random, faces: 2)).ToArray();
            var stored = await catalog.AddImagesAsync(batch);
            for (var i = 0; i < batch.Length; i++)
            {
                for (var f = 0; f < stored[i].FaceIds.Count; f++)
                {
                    faceIds.Add(stored[i].FaceIds[f]);
                    vectors[stored[i].FaceIds[f]] = batch[i].Faces[f].Embedding;
                }
            }

            written += batch.Length * 2;
        }

        var all = await catalog.ReadEmbeddingsAsync().ToListAsync();
        Assert.Equal(faceIds, all.Select(e => e.FaceId));
        // Each write replaced its faces' vectors in place with what the catalog gives back: the stream gives exactly those.
        Assert.All(all, e => Assert.Equal(vectors[e.FaceId], e.Vector));

        var resumeAfter = faceIds[1000];
        var rest = await catalog.ReadEmbeddingsAsync(resumeAfter).Select(e => e.FaceId).ToListAsync();
        Assert.Equal(faceIds.Skip(1001), rest);
        Assert.Empty(await catalog.ReadEmbeddingsAsync(faceIds[^1]).ToListAsync());
    }

    [SkippableFact]
    public async Task Embeddings_of_another_model_are_not_streamed()
    {
        long firstModelFace;
        await using (var catalog = await OpenAsync())
        {
            var collection = await catalog.EnsureCollectionAsync("c", "consent", null);
            firstModelFace = (await catalog.AddImagesAsync([TestData.Image(collection.Id, _random, faces: 1)]))[0].FaceIds[0];
        }

        await using var other = await Backend.OpenAsync(modelId: "other-model");
        Assert.Empty(await other.ReadEmbeddingsAsync().ToListAsync());
        Assert.Equal("other-model", other.ModelId);
        Assert.Equal(TestData.Model, (await other.GetFaceAsync(firstModelFace))!.ModelId);
    }

    [SkippableFact]
    public async Task Invalid_arguments_are_rejected_before_any_write()
    {
        await using var catalog = await OpenAsync();
        var collection = await catalog.EnsureCollectionAsync("c", "consent", null);
        var shortSha = TestData.Image(collection.Id, _random) with { Sha256 = new byte[5] };
        var ex = await Assert.ThrowsAsync<CatalogException>(() => catalog.AddImagesAsync([shortSha]));
        Assert.Contains("SHA-256", ex.Message, StringComparison.Ordinal);
        Assert.Empty(await catalog.AddImagesAsync([]));
        await Assert.ThrowsAnyAsync<ArgumentException>(() => Backend.OpenAsync(modelId: ""));
    }

    [SkippableFact]
    public async Task Faces_are_deleted_with_their_image_and_ids_are_not_reused()
    {
        await using var catalog = await OpenAsync();
        var collection = await catalog.EnsureCollectionAsync("c", "consent", null);
        var stored = (await catalog.AddImagesAsync([TestData.Image(collection.Id, _random, faces: 2)]))[0];

        Assert.Equal(1, await BackendSql.ExecuteAsync(Backend, "DELETE FROM images WHERE id = @id", stored.ImageId));

        Assert.Equal(0, (await catalog.GetStatsAsync()).Faces);
        var next = (await catalog.AddImagesAsync([TestData.Image(collection.Id, _random, faces: 1)]))[0];
        Assert.True(next.FaceIds[0] > stored.FaceIds[^1]);
    }

    [SkippableFact]
    public async Task A_face_box_survives_as_float()
    {
        await using var catalog = await OpenAsync();
        var collection = await catalog.EnsureCollectionAsync("c", "consent", null);
        var face = TestData.Face(_random) with { Box = new BoxF(1.1f, 2.2f, 3.3f, 4.4f), DetectorScore = 0.987654f };
        var image = TestData.Image(collection.Id, _random) with { Faces = [face] };
        var id = (await catalog.AddImagesAsync([image]))[0].FaceIds[0];
        var read = await catalog.GetFaceAsync(id);
        Assert.Equal(face.Box, read!.Box);
        Assert.Equal(face.DetectorScore, read.DetectorScore);
    }
}

/// <summary>An <see cref="IProgress{T}"/> that reports on the caller's thread, so a test sees every report before the call returns.</summary>
internal sealed class SynchronousProgress<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}

public sealed class SqliteCatalogContractTests() : CatalogContract<SqliteCatalog>(new SqliteBackend());

public sealed class PostgresCatalogContractTests() : CatalogContract<PostgresCatalog>(new PostgresBackend());
