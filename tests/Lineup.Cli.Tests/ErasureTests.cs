using System.Runtime.InteropServices;
using Lineup.Core.Audit;
using Lineup.Core.Catalog;
using Lineup.Core.Numerics;
using Lineup.Hosting;
using Lineup.Index;
using Lineup.Ingest;
using Lineup.Ingest.Sources;
using Lineup.TestSupport;
using Microsoft.Data.Sqlite;
using SkiaSharp;
using Xunit.Abstractions;

namespace Lineup.Cli.Tests;

/// <summary>
/// Erasure of an image, a face and a person found by a probe, through the real engine (models, SQLite, USearch):
/// what is erased is gone from the catalog, the index and search, and no byte of it (thumbnail, preview, embedding)
/// is left in any file of the data directory.
/// </summary>
public sealed class ErasureTests(ITestOutputHelper output)
{
    private static readonly string[] TigerWoods =
        [.. Enumerable.Range(1, 4).Select(i => $"lfw_deepfunneled/images/Tiger_Woods/Tiger_Woods_{i:0000}.jpg")];

    private const string TigerProbe = "lfw_deepfunneled/images/Tiger_Woods/Tiger_Woods_0005.jpg";

    private const string GroupPhoto = "azure_face_samples/groups/identification1.jpg";

    private static readonly string[] Others =
    [
        "deepface/images/Angelina_Jolie/img1.jpg",
        "deepface/images/Angelina_Jolie/img10.jpg",
        "lfw_deepfunneled/images/Carlos_Menem/Carlos_Menem_0001.jpg",
        "lfw_deepfunneled/images/Carlos_Menem/Carlos_Menem_0002.jpg",
        "lfw_deepfunneled/images/Carlos_Menem/Carlos_Menem_0003.jpg",
        "lfw_deepfunneled/images/Nicole_Kidman/Nicole_Kidman_0001.jpg",
        "lfw_deepfunneled/images/Nicole_Kidman/Nicole_Kidman_0002.jpg",
        "lfw_deepfunneled/images/Nicole_Kidman/Nicole_Kidman_0003.jpg",
        "lfw_deepfunneled/images/Mahathir_Mohamad/Mahathir_Mohamad_0001.jpg",
        "lfw_deepfunneled/images/Mahathir_Mohamad/Mahathir_Mohamad_0002.jpg",
        "lfw_deepfunneled/images/Mahathir_Mohamad/Mahathir_Mohamad_0003.jpg",
        "lfw_deepfunneled/images/Ari_Fleischer/Ari_Fleischer_0001.jpg",
        "lfw_deepfunneled/images/Ari_Fleischer/Ari_Fleischer_0002.jpg",
        "lfw_deepfunneled/images/Ari_Fleischer/Ari_Fleischer_0003.jpg",
        GroupPhoto,
    ];

    [SkippableFact]
    [Trait("Category", "Data")]
    public async Task An_erased_image_leaves_no_byte_of_its_thumbnails_preview_or_embeddings_in_the_data_directory()
    {
        using var dir = new TempDirectory("erase-image");
        var folder = Engines.Gallery(dir, "gallery", [.. TigerWoods, .. Others]);

        // A re-encoded copy of the photo to erase: filed as its near-duplicate, so erasing the photo erases the copy too.
        var target = TigerWoods[0];
        var copyName = "zz-copy-of-" + target.Replace('/', '_');
        using (var bitmap = SKBitmap.Decode(TestPaths.Face(target)))
        using (var encoded = bitmap.Encode(SKEncodedImageFormat.Jpeg, 70))
        {
            await File.WriteAllBytesAsync(Path.Combine(folder, copyName), encoded.ToArray());
        }

        var options = await Engines.OptionsAsync(dir);
        var data = options.FullDataDirectory;
        var engine = await LineupEngine.OpenAsync(options);
        Needle[] needles;
        long imageId, copyId;
        IReadOnlyList<long> faceIds;
        try
        {
            var outcomes = await IngestAsync(engine, folder);
            imageId = outcomes[target.Replace('/', '_')].ImageId!.Value;
            Assert.Equal(IngestStatus.NearDuplicate, outcomes[copyName].Status);
            copyId = outcomes[copyName].ImageId!.Value;
            Assert.Equal(imageId, (await engine.Catalog.GetImageAsync(copyId))!.NearDuplicateOf);

            faceIds = (await engine.Catalog.GetFacesOfImageAsync(imageId)).Select(f => f.Id).ToList();
            Assert.NotEmpty(faceIds);
            needles = await NeedlesAsync(engine, data, imageId, copyId, faceIds);

            // The control: before the erasure, the scan finds every needle, and each embedding in the index file too.
            var before = Scan(data, needles);
            var missed = needles.Where(n => n.Required && !before.ContainsKey(n.Name)).Select(n => n.Name).ToList();
            Assert.True(missed.Count == 0, "the scan misses: " + string.Join(", ", missed));
            foreach (var group in needles.Where(n => !n.Required).GroupBy(n => n.Group))
            {
                // A picture larger than a page is stored across overflow pages, each with a 4-byte link: a slice that
                // straddles one is not contiguous on disk, but nearly every other slice must be found.
                var hits = group.Count(n => before.ContainsKey(n.Name));
                Assert.True(hits >= group.Count() * 9 / 10, $"{group.Key}: the scan finds {hits} of {group.Count()} slices");
            }

            foreach (var needle in needles.Where(n => n.Name.StartsWith("embedding f16", StringComparison.Ordinal) && n.Name == n.Group))
            {
                Assert.Contains(Path.GetRelativePath(data, FaceIndexStore.IndexPath(options.IndexDirectory)), before[needle.Name]);
            }

            var facesBefore = (await engine.Catalog.GetStatsAsync()).Faces;
            var erased = await engine.EraseImageAsync(imageId, "test:erasure");
            output.WriteLine($"image {imageId} erased ({erased.Receipt.Faces.Count} faces, {erased.Receipt.Sightings} sightings) " +
                $"in {erased.Elapsed.TotalMilliseconds:0} ms, index: {erased.IndexReport}");

            Assert.Equal([imageId, copyId], erased.Receipt.Images.Order());
            Assert.Equal(faceIds, erased.Receipt.Faces);
            Assert.True(erased.Receipt.Sightings >= 2, $"{erased.Receipt.Sightings} sightings");
            Assert.Null(await engine.Catalog.GetImageAsync(imageId));
            Assert.Null(await engine.Catalog.GetImageAsync(copyId));
            Assert.Empty(await engine.Catalog.GetSightingsAsync(imageId));
            Assert.Null(await engine.Pictures.GetImagePreviewAsync(imageId));
            foreach (var face in faceIds)
            {
                Assert.Null(await engine.Catalog.GetFaceAsync(face));
                Assert.Null(await engine.Pictures.GetFaceThumbnailAsync(face));
                Assert.False(engine.Index.Contains(face));
            }

            var stats = await engine.Catalog.GetStatsAsync();
            Assert.Equal(facesBefore - faceIds.Count, stats.Faces);
            Assert.Equal(stats.Faces, engine.Index.Count);

            // The receipt is in the audit log, with ids and counts only.
            var receipt = Assert.Single(await engine.Audit.ReadEventsAsync(erased.Receipt.AuditSeq!.Value, 1));
            Assert.Equal(AuditActions.Erasure, receipt.Action);
            Assert.Equal($"image:{imageId}", receipt.Subject);
            Assert.Equal("test:erasure", receipt.Actor);
            Assert.Contains($"\"faces\":{faceIds.Count}", receipt.Details.ToCanonicalJson(), StringComparison.Ordinal);

            // A search with the erased photo itself never returns an erased face.
            await TestCases.PrepareAsync(engine);
            var search = await engine.SearchAsync(TestCases.Request(await File.ReadAllBytesAsync(TestPaths.Face(target))) with { Top = 50 });
            Assert.DoesNotContain(search.Candidates, c => faceIds.Contains(c.FaceId));
        }
        finally
        {
            await engine.DisposeAsync();
        }

        // The ingest ledger keeps the record that both files were processed, without the link to the erased images.
        Assert.Equal(2, CountRows(data, "SELECT count(*) FROM ingest_items WHERE name IN ($a, $b) AND image_id IS NULL",
            target.Replace('/', '_'), copyName));

        var after = Scan(data, needles);
        Assert.True(after.Count == 0, "erased bytes still on disk: " + string.Join("; ", after.Select(a => $"{a.Key} in {string.Join(", ", a.Value)}")));

        // Reopened, the gallery is consistent: the index (rebuilt at the erasure) loads as saved and matches the catalog.
        await using var reopened = await LineupEngine.OpenAsync(options);
        Assert.Equal((await reopened.Catalog.GetStatsAsync()).Faces, reopened.Index.Count);
        Assert.All(faceIds, f => Assert.False(reopened.Index.Contains(f)));

        // The erased photo can be catalogued again (nothing of it is left to collide with).
        var again = await IngestAsync(reopened, folder);
        Assert.Equal(IngestStatus.Ingested, again[target.Replace('/', '_')].Status);
    }

    [SkippableFact]
    [Trait("Category", "Data")]
    public async Task Erasing_a_face_or_a_person_found_by_a_probe_removes_exactly_those_faces_and_unknown_ids_are_refused()
    {
        using var dir = new TempDirectory("erase-faces");
        var folder = Engines.Gallery(dir, "gallery", [.. TigerWoods, .. Others]);
        var options = await Engines.OptionsAsync(dir);
        await using var engine = await LineupEngine.OpenAsync(options);
        var outcomes = await IngestAsync(engine, folder);

        // Unknown ids: refused, naming them, and nothing is erased.
        var someFace = (await engine.Catalog.GetFacesOfImageAsync(outcomes[Others[0].Replace('/', '_')].ImageId!.Value))[0].Id;
        var facesAtStart = (await engine.Catalog.GetStatsAsync()).Faces;
        var unknownImage = await Assert.ThrowsAsync<CatalogException>(() => engine.EraseImageAsync(999_999, "test"));
        Assert.Contains("999999", unknownImage.Message, StringComparison.Ordinal);
        var unknownFace = await Assert.ThrowsAsync<CatalogException>(() => engine.EraseFacesAsync([someFace, 888_888], "test"));
        Assert.Contains("888888", unknownFace.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(someFace.ToString(System.Globalization.CultureInfo.InvariantCulture), unknownFace.Message, StringComparison.Ordinal);
        Assert.NotNull(await engine.Catalog.GetFaceAsync(someFace));
        Assert.Equal(facesAtStart, (await engine.Catalog.GetStatsAsync()).Faces);
        Assert.Equal(facesAtStart, engine.Index.Count);

        // One face of the group photo: only that face goes; the image and its other faces stay.
        var groupId = outcomes[GroupPhoto.Replace('/', '_')].ImageId!.Value;
        var groupFaces = await engine.Catalog.GetEmbeddingsOfImageAsync(groupId);
        Assert.True(groupFaces.Count >= 2, $"the group photo has {groupFaces.Count} faces");
        var victim = groupFaces[0];
        var face = await engine.EraseFacesAsync([victim.FaceId], "test");
        output.WriteLine($"face {victim.FaceId} erased in {face.Elapsed.TotalMilliseconds:0} ms");
        Assert.Equal([victim.FaceId], face.Receipt.Faces);
        Assert.Empty(face.Receipt.Images);
        Assert.NotNull(await engine.Catalog.GetImageAsync(groupId));
        Assert.NotNull(await engine.Pictures.GetImagePreviewAsync(groupId));
        Assert.Equal(groupFaces.Skip(1).Select(f => f.FaceId), (await engine.Catalog.GetFacesOfImageAsync(groupId)).Select(f => f.Id));
        Assert.Null(await engine.Pictures.GetFaceThumbnailAsync(victim.FaceId));
        Assert.False(engine.Index.Contains(victim.FaceId));
        var hits = new Lineup.Core.Indexing.VectorHit[20];
        var found = engine.Index.Search(victim.Vector, hits);
        Assert.True(found > 0);
        Assert.DoesNotContain(hits.Take(found), h => h.Key == victim.FaceId);
        Assert.Equal(facesAtStart - 1, (await engine.Catalog.GetStatsAsync()).Faces);
        Assert.Equal(facesAtStart - 1, engine.Index.Count);

        // A person found by a probe (a photo not in the gallery): every gallery face of that person goes, others stay.
        var probe = await File.ReadAllBytesAsync(TestPaths.Face(TigerProbe));
        var tigerImages = TigerWoods.Select(p => outcomes[p.Replace('/', '_')].ImageId!.Value).ToHashSet();
        var listed = await engine.FindPersonAsync(probe);
        Assert.Equal(tigerImages.Order(), listed.Matches.Select(m => m.ImageId).Distinct().Order());
        Assert.Equal(facesAtStart - 1, (await engine.Catalog.GetStatsAsync()).Faces);

        var person = await engine.ErasePersonAsync(probe, "test");
        output.WriteLine($"person erased: {person.Receipt!.Faces.Count} faces of {person.Found.Compared} compared, in {person.Elapsed.TotalMilliseconds:0} ms");
        Assert.Equal(listed.Matches.Select(m => m.FaceId).Order(), person.Receipt.Faces);
        Assert.StartsWith("person:probe-", Assert.Single(await engine.Audit.ReadEventsAsync(person.Receipt.AuditSeq!.Value, 1)).Subject, StringComparison.Ordinal);
        foreach (var match in listed.Matches)
        {
            Assert.Null(await engine.Catalog.GetFaceAsync(match.FaceId));
            Assert.False(engine.Index.Contains(match.FaceId));
        }

        Assert.All(tigerImages, id => Assert.NotNull(engine.Catalog.GetImageAsync(id).Result));
        Assert.Equal(facesAtStart - 1 - listed.Matches.Count, (await engine.Catalog.GetStatsAsync()).Faces);
        Assert.Equal(facesAtStart - 1 - listed.Matches.Count, engine.Index.Count);
        Assert.NotNull(await engine.Catalog.GetFaceAsync(someFace));

        // Search after the erasures: no erased face, and no candidate above the threshold for the erased person.
        var erased = listed.Matches.Select(m => m.FaceId).Append(victim.FaceId).ToHashSet();
        await TestCases.PrepareAsync(engine);
        var search = await engine.SearchAsync(TestCases.Request(probe) with { Top = 100 });
        Assert.DoesNotContain(search.Candidates, c => erased.Contains(c.FaceId));
        Assert.DoesNotContain(search.Candidates, c => c.AboveThreshold);

        // Nothing left to find: a second person erasure erases nothing.
        Assert.Null((await engine.ErasePersonAsync(probe, "test")).Receipt);
    }

    /// <summary>
    /// Why an erasure rebuilds the index: USearch's remove marks the node deleted and the saved file still holds the
    /// vector's bytes; only an index rebuilt without it (what the engine does) has none.
    /// </summary>
    [Fact]
    public void Usearch_remove_leaves_the_vector_bytes_in_the_saved_file_and_a_rebuilt_index_has_none()
    {
        using var dir = new TempDirectory("erase-usearch");
        var options = new USearchOptions { Dimensions = 64, Threads = 1 };
        var random = new Random(7);
        var vectors = Enumerable.Range(0, 200).Select(_ => Unit(random, options.Dimensions)).ToList();
        var needle = HalfBytes(vectors[42]);

        using (var index = new USearchVectorIndex(options))
        {
            for (var i = 0; i < vectors.Count; i++)
            {
                index.Add(i, vectors[i]);
            }

            var path = dir.Combine("removed.usearch");
            index.Save(path);
            Assert.True(ByteScan.Contains(File.ReadAllBytes(path), needle), "control: the saved index holds the f16 bytes of vector 42");

            Assert.True(index.Remove(42));
            index.Save(path);
            Assert.True(ByteScan.Contains(File.ReadAllBytes(path), needle), "USearch now erases removed vectors from its file; the rebuild after an erasure may be unnecessary");
        }

        using (var rebuilt = new USearchVectorIndex(options))
        {
            for (var i = 0; i < vectors.Count; i++)
            {
                if (i != 42)
                {
                    rebuilt.Add(i, vectors[i]);
                }
            }

            var path = dir.Combine("rebuilt.usearch");
            rebuilt.Save(path);
            Assert.False(ByteScan.Contains(File.ReadAllBytes(path), needle));
        }
    }

    private static async Task<Dictionary<string, IngestOutcome>> IngestAsync(LineupEngine engine, string folder)
    {
        var collection = await engine.Catalog.EnsureCollectionAsync("erasure", "unit test", "DE");
        var outcomes = new List<IngestOutcome>();
        await engine.IngestAsync(new FolderSource(folder, engine.Options.Limits.MaxBytes), collection, new IngestObserver { Item = outcomes.Add });
        return outcomes.ToDictionary(o => o.Name);
    }

    /// <summary>
    /// What must not survive the erasure: each face's thumbnail and stored embedding (int8 with a scale, as the catalog keeps
    /// it), the same vector converted to f16 as the index stores it (ingest indexes the vector as the catalog gives it back), and the previews of the image and its copy; each whole and
    /// as a 64-byte slice from its middle (a JPEG's first bytes are headers that every thumbnail shares).
    /// </summary>
    private static async Task<Needle[]> NeedlesAsync(LineupEngine engine, string data, long imageId, long copyId, IReadOnlyList<long> faceIds)
    {
        var needles = new List<Needle>();
        void Add(string name, byte[] bytes)
        {
            // Small enough to sit in one page: whole and its middle slice must both be found before the erasure.
            var inPage = bytes.Length <= 3000;
            needles.Add(new Needle(name, bytes, name, inPage));
            needles.Add(new Needle(name + " (64-byte slice)", bytes.AsSpan(bytes.Length / 2 - 32, 64).ToArray(), name, inPage));
            if (!inPage)
            {
                // Larger pictures span overflow pages: 64-byte slices every 256 bytes, past the JPEG headers (quantisation
                // and Huffman tables that every picture of the same quality shares).
                for (var offset = 1024; offset + 64 <= bytes.Length; offset += 256)
                {
                    needles.Add(new Needle($"{name} (slice at {offset})", bytes.AsSpan(offset, 64).ToArray(), name, Required: false));
                }
            }
        }

        Add($"preview of image {imageId}", (await engine.Pictures.GetImagePreviewAsync(imageId))!.Jpeg);
        Add($"preview of copy {copyId}", (await engine.Pictures.GetImagePreviewAsync(copyId))!.Jpeg);
        var embeddings = (await engine.Catalog.GetEmbeddingsOfImageAsync(imageId)).ToDictionary(e => e.FaceId);
        using var connection = new SqliteConnection($"Data Source={Path.Combine(data, "catalog.db")};Mode=ReadOnly;Pooling=False");
        connection.Open();
        foreach (var face in faceIds)
        {
            Add($"thumbnail of face {face}", (await engine.Pictures.GetFaceThumbnailAsync(face))!.Jpeg);
            using var command = connection.CreateCommand();
            command.CommandText = "SELECT embedding FROM faces WHERE id = $id";
            command.Parameters.AddWithValue("$id", face);
            var blob = (byte[])command.ExecuteScalar()!;
            Assert.Equal(EmbeddingCodec.EncodedLength(embeddings[face].Vector.Length), blob.Length);
            Add($"embedding blob of face {face}", blob);
            Add($"embedding f16 of face {face}", HalfBytes(embeddings[face].Vector));
        }

        return [.. needles];
    }

    private static Dictionary<string, List<string>> Scan(string root, Needle[] needles) => ByteScan.Files(root, needles.Select(n => (n.Name, n.Bytes)));

    private static long CountRows(string data, string sql, string a, string b)
    {
        using var connection = new SqliteConnection($"Data Source={Path.Combine(data, "catalog.db")};Mode=ReadOnly;Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.Parameters.AddWithValue("$a", a);
        command.Parameters.AddWithValue("$b", b);
        return (long)command.ExecuteScalar()!;
    }

    private static byte[] HalfBytes(ReadOnlySpan<float> vector)
    {
        var halves = new Half[vector.Length];
        for (var i = 0; i < vector.Length; i++)
        {
            halves[i] = (Half)vector[i];
        }

        return MemoryMarshal.AsBytes(halves.AsSpan()).ToArray();
    }

    private static float[] Unit(Random random, int dimensions)
    {
        var v = new float[dimensions];
        for (var i = 0; i < v.Length; i++)
        {
            v[i] = (float)(random.NextDouble() * 2 - 1);
        }

        var norm = MathF.Sqrt(v.Sum(x => x * x));
        return [.. v.Select(x => x / norm)];
    }

    /// <param name="Group">The picture or embedding the needle is cut from.</param>
    /// <param name="Required">Whether the control scan must find it (false for slices of a blob that spans pages).</param>
    private sealed record Needle(string Name, byte[] Bytes, string Group, bool Required);
}
