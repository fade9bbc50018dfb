using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using Lineup.Core.Audit;
using Lineup.Core.Catalog;
using Lineup.Core.Numerics;
using Lineup.Core.Oversight;
using Lineup.Hosting;
using Lineup.Ingest;
using Lineup.Ingest.Sources;
using Lineup.TestSupport;
using Microsoft.Data.Sqlite;
using Xunit.Abstractions;

namespace Lineup.Cli.Tests;

/// <summary>
/// The opt-out registry through the real engine (models, SQLite, USearch) and the shared photos: recording a request erases
/// the person's gallery faces with a receipt, their probes are withheld from then on, their faces are refused at ingest,
/// other people are unaffected, and no embedding reaches the audit log or an answer.
/// </summary>
public sealed class OptOutTests(ITestOutputHelper output)
{
    private const string Person = "Ari_Fleischer";

    /// <summary>The request's one photo; it is also in the gallery.</summary>
    private const string RequestPhoto = "lfw_deepfunneled/images/Ari_Fleischer/Ari_Fleischer_0001.jpg";

    /// <summary>The person's photos in the gallery before the request (the request's photo among them).</summary>
    private static readonly string[] PersonInGallery = [.. Enumerable.Range(1, 8).Select(Ari)];

    /// <summary>Photos of the person that are neither the request's nor in the gallery: the probes, and the later ingest.</summary>
    private static readonly string[] PersonElsewhere = [.. Enumerable.Range(9, 5).Select(Ari)];

    private static readonly string[] Others =
    [
        "lfw_deepfunneled/images/Tiger_Woods/Tiger_Woods_0001.jpg",
        "lfw_deepfunneled/images/Tiger_Woods/Tiger_Woods_0002.jpg",
        "lfw_deepfunneled/images/Tiger_Woods/Tiger_Woods_0003.jpg",
        "lfw_deepfunneled/images/Tiger_Woods/Tiger_Woods_0004.jpg",
        "lfw_deepfunneled/images/Carlos_Menem/Carlos_Menem_0001.jpg",
        "lfw_deepfunneled/images/Carlos_Menem/Carlos_Menem_0002.jpg",
        "lfw_deepfunneled/images/Carlos_Menem/Carlos_Menem_0003.jpg",
        "lfw_deepfunneled/images/Nicole_Kidman/Nicole_Kidman_0001.jpg",
        "lfw_deepfunneled/images/Nicole_Kidman/Nicole_Kidman_0002.jpg",
        "lfw_deepfunneled/images/Nicole_Kidman/Nicole_Kidman_0003.jpg",
        "lfw_deepfunneled/images/Mahathir_Mohamad/Mahathir_Mohamad_0001.jpg",
        "lfw_deepfunneled/images/Mahathir_Mohamad/Mahathir_Mohamad_0002.jpg",
        "lfw_deepfunneled/images/Mahathir_Mohamad/Mahathir_Mohamad_0003.jpg",
        "deepface/images/Angelina_Jolie/img1.jpg",
        "deepface/images/Angelina_Jolie/img10.jpg",
        "azure_face_samples/groups/identification1.jpg",
    ];

    /// <summary>Other people's probes (not in the gallery) with the identity their best candidate must have.</summary>
    private static readonly (string Photo, string Identity)[] OtherProbes =
    [
        ("lfw_deepfunneled/images/Tiger_Woods/Tiger_Woods_0005.jpg", "Tiger_Woods"),
        ("lfw_deepfunneled/images/Carlos_Menem/Carlos_Menem_0004.jpg", "Carlos_Menem"),
        ("lfw_deepfunneled/images/Nicole_Kidman/Nicole_Kidman_0004.jpg", "Nicole_Kidman"),
    ];

    [SkippableFact]
    [Trait("Category", "Data")]
    public async Task An_opted_out_person_is_erased_never_returned_by_search_and_refused_at_ingest_while_others_are_unaffected()
    {
        using var dir = new TempDirectory("optout");
        var folder = Engines.Gallery(dir, "gallery", [.. PersonInGallery, .. Others]);
        var options = await Engines.OptionsAsync(dir);
        await using var engine = await LineupEngine.OpenAsync(options);
        await TestCases.PrepareAsync(engine);
        var gallery = await IngestAsync(engine, folder, "gallery");
        var identityOfImage = gallery.Values.Where(o => o.ImageId is not null)
            .ToDictionary(o => o.ImageId!.Value, o => Engines.Identities[Unflatten(o.Name)]);
        var personImages = identityOfImage.Where(e => e.Value == Person).Select(e => e.Key).ToHashSet();
        Assert.Equal(PersonInGallery.Length, personImages.Count);
        var personFaces = new List<long>();
        foreach (var image in personImages)
        {
            personFaces.AddRange((await engine.Catalog.GetFacesOfImageAsync(image)).Select(f => f.Id));
        }

        // Control: before the request, a probe of the person finds them, so the checks below can fail.
        var before = await SearchAsync(engine, PersonElsewhere[0]);
        Assert.Equal(SearchOutcome.Candidates, before.Outcome);
        Assert.Equal(Person, identityOfImage[before.Candidates[0].Image.Id]);

        // The threshold's justification on this set: every photo of the person is above it, every other face below.
        var request = await File.ReadAllBytesAsync(TestPaths.Face(RequestPhoto));
        var personSimilarities = new List<(string Photo, float Similarity)>();
        foreach (var photo in PersonInGallery.Skip(1).Concat(PersonElsewhere))
        {
            personSimilarities.Add((photo, engine.Verify(request, await File.ReadAllBytesAsync(TestPaths.Face(photo))).Similarity));
        }

        var otherSimilarities = new List<(string Photo, float Similarity)>();
        foreach (var photo in Others.Concat(OtherProbes.Select(p => p.Photo)))
        {
            otherSimilarities.Add((photo, engine.Verify(request, await File.ReadAllBytesAsync(TestPaths.Face(photo))).Similarity));
        }

        var weakest = personSimilarities.MinBy(s => s.Similarity);
        var closest = otherSimilarities.MaxBy(s => s.Similarity);
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"opt-out threshold {engine.OptOutThreshold:0.000} (FMR {engine.OptOutThresholdFmr:0.0e0}), search threshold {engine.Threshold:0.000}"));
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"request photo vs the person's {personSimilarities.Count} other photos: min {weakest.Similarity:0.000} ({weakest.Photo}); " +
            $"vs {otherSimilarities.Count} photos of others: max {closest.Similarity:0.000} ({closest.Photo})"));
        Assert.True(engine.OptOutThreshold < engine.Threshold, "the opt-out threshold errs on the side of the person");
        Assert.True(weakest.Similarity >= engine.OptOutThreshold, $"{weakest.Photo} scores {weakest.Similarity} against the request");
        Assert.True(closest.Similarity < engine.OptOutThreshold, $"{closest.Photo} scores {closest.Similarity} against the request");

        // A photo without a face is passed over, named; the request stands on the other.
        var result = await engine.RecordOptOutAsync(
            "REQ-2026-0042", "asked by letter", [new OptOutPhoto("request.jpg", request), new OptOutPhoto("blank.jpg", TestImages.Jpeg(320, 240))],
            "test:admin");
        output.WriteLine($"request {result.Request.Id}: {result.Compared} faces compared, {result.Request.FacesErased} erased in {result.Elapsed.TotalMilliseconds:0} ms");
        Assert.Equal(1, result.Request.Photos);
        Assert.Null(result.Photos[0].Refusal);
        Assert.Equal(("blank.jpg", "no face was found"), (result.Photos[1].Name, result.Photos[1].Refusal));
        Assert.Equal(personFaces.Order(), result.Receipt!.Faces);
        Assert.Equal(personFaces.Count, result.Request.FacesErased);
        Assert.Equal(engine.OptOutThreshold, result.Threshold);
        foreach (var image in identityOfImage.Keys)
        {
            // The person's images stay, without the preview that shows them; other images keep theirs.
            Assert.NotNull(await engine.Catalog.GetImageAsync(image));
            Assert.Equal(!personImages.Contains(image), await engine.Pictures.GetImagePreviewAsync(image) is not null);
        }

        foreach (var face in personFaces)
        {
            Assert.Null(await engine.Catalog.GetFaceAsync(face));
            Assert.Null(await engine.Pictures.GetFaceThumbnailAsync(face));
            Assert.False(engine.Index.Contains(face));
        }

        Assert.Equal((await engine.Catalog.GetStatsAsync()).Faces, engine.Index.Count);
        Assert.Equal(result.Request, Assert.Single(await engine.OptOuts.ListOptOutsAsync()));

        // The receipt and the request's event are in the audit log, both under the request's subject.
        var subject = string.Create(CultureInfo.InvariantCulture, $"optout:{result.Request.Id}");
        var events = await engine.Audit.ReadEventsAsync(1, 10_000);
        var receipt = Assert.Single(events, e => e.Seq == result.Receipt.AuditSeq);
        Assert.Equal((AuditActions.Erasure, subject, "test:admin"), (receipt.Action, receipt.Subject, receipt.Actor));
        Assert.Contains($"\"faces\":{personFaces.Count}", receipt.Details.ToCanonicalJson(), StringComparison.Ordinal);
        var recorded = Assert.Single(events, e => e.Action == AuditActions.Admin && e.Subject == subject);
        Assert.Equal("test:admin", recorded.Actor);
        Assert.Equal(["change", "faces_erased", "photos", "previews_erased", "reference"], recorded.Details.Entries.Select(e => e.Key).Order(StringComparer.Ordinal));
        Assert.Equal("REQ-2026-0042", recorded.Details["reference"]!.Value.Text);
        Assert.Equal(1L, recorded.Details["photos"]!.Value.Integer);
        Assert.Equal((long)personFaces.Count, recorded.Details["faces_erased"]!.Value.Integer);
        Assert.Equal((long)personImages.Count, recorded.Details["previews_erased"]!.Value.Integer);

        // Probes of the person from other photos: withheld, nothing at any rank, and recorded so.
        foreach (var photo in PersonElsewhere.Append(RequestPhoto))
        {
            var search = await SearchAsync(engine, photo);
            Assert.Equal(SearchOutcome.WithheldOptOut, search.Outcome);
            Assert.Empty(search.Candidates);
            Assert.Equal(SearchOutcome.WithheldOptOut, (await engine.SearchLog.GetSearchAsync(search.SearchId))!.Outcome);
            Assert.Empty(await engine.SearchLog.GetCandidatesAsync(search.SearchId));
        }

        // Other people are found as before, and no face of the person is among their candidates at any rank.
        foreach (var (photo, identity) in OtherProbes)
        {
            var search = await SearchAsync(engine, photo);
            Assert.Equal(SearchOutcome.Candidates, search.Outcome);
            Assert.Equal(identity, identityOfImage[search.Candidates[0].Image.Id]);
            Assert.DoesNotContain(search.Candidates, c => identityOfImage[c.Image.Id] == Person);
        }

        // Re-ingesting the person (photos the gallery does not have, in a new collection) stores no face of them.
        var again = Engines.Gallery(dir, "again", [.. PersonElsewhere, "lfw_deepfunneled/images/Tiger_Woods/Tiger_Woods_0006.jpg"]);
        var facesBefore = (await engine.Catalog.GetStatsAsync()).Faces;
        var summary = new List<IngestOutcome>();
        var run = await engine.IngestAsync(new FolderSource(again, options.Limits.MaxBytes), await engine.Catalog.EnsureCollectionAsync("again", "unit test", "DE"),
            new IngestObserver { Item = summary.Add });
        foreach (var photo in PersonElsewhere)
        {
            var item = summary.Single(o => o.Name == Flatten(photo));
            Assert.Equal((IngestStatus.NoFace, 0, 1), (item.Status, item.Faces, item.OptedOut));
            Assert.Contains("opt-out", item.Reason, StringComparison.Ordinal);
            Assert.Empty(await engine.Catalog.GetFacesOfImageAsync(item.ImageId!.Value));
            Assert.Null(await engine.Pictures.GetImagePreviewAsync(item.ImageId!.Value));
        }

        var tiger = summary.Single(o => o.Name.StartsWith("lfw_deepfunneled_images_Tiger", StringComparison.Ordinal));
        Assert.Equal((IngestStatus.Ingested, 0), (tiger.Status, tiger.OptedOut));
        Assert.Equal(facesBefore + tiger.Faces, (await engine.Catalog.GetStatsAsync()).Faces);
        Assert.Equal(PersonElsewhere.Length, run.Summary.OptedOut);

        // No embedding of the registry in the audit log: not as bytes, base64, hex or decimal text.
        var registry = ReadRegistryBlobs(options.FullDataDirectory);
        var blob = Assert.Single(registry);
        var vector = MemoryMarshal.Cast<byte, float>(blob).ToArray();
        Assert.Equal(512, vector.Length);
        Assert.Equal(1f, MathF.Sqrt(VectorMath.CosineOfUnit(vector, vector)), 3);
        AssertNotInAuditLog(options.FullDataDirectory, await engine.Audit.ReadEventsAsync(1, 10_000), vector, blob);
    }

    [SkippableFact]
    [Trait("Category", "Data")]
    public async Task A_request_recorded_by_another_process_withholds_searches_here_and_drops_faces_that_escaped_erasure()
    {
        using var dir = new TempDirectory("optout-elsewhere");
        var folder = Engines.Gallery(dir, "gallery", [.. PersonInGallery, .. Others]);
        var options = await Engines.OptionsAsync(dir);
        await using var engine = await LineupEngine.OpenAsync(options);
        await TestCases.PrepareAsync(engine);
        var gallery = await IngestAsync(engine, folder, "gallery");
        var personImages = PersonInGallery.Select(p => gallery[Flatten(p)].ImageId!.Value).ToHashSet();

        // Control: the person is found, and this engine has read the (empty) registry.
        Assert.Equal(SearchOutcome.Candidates, (await SearchAsync(engine, PersonElsewhere[0])).Outcome);
        var tigerBefore = await SearchAsync(engine, OtherProbes[0].Photo);
        Assert.Contains(tigerBefore.Candidates, c => personImages.Contains(c.Image.Id));

        // Another process records a request without erasing anything (as if the faces had come back from a backup).
        var requestFace = (await engine.Catalog.GetEmbeddingsOfImageAsync(gallery[Flatten(RequestPhoto)].ImageId!.Value)).Single();
        await using (var other = await LineupEngine.OpenCatalogAsync(options))
        {
            var registration = await ((IOptOutStore)other).AddOptOutAsync(new NewOptOut("REQ-ELSEWHERE", null, [requestFace.Vector]), [], "test:other");
            Assert.Null(registration.Receipt);
            Assert.Equal(0, registration.Request.FacesErased);
        }

        Assert.True(engine.Index.Contains(requestFace.FaceId), "the person's faces are still in the gallery");
        Assert.Equal(SearchOutcome.WithheldOptOut, (await SearchAsync(engine, PersonElsewhere[0])).Outcome);

        // A search for someone else meets the person's faces among its 100 candidates: each is dropped, the rest ranked as before.
        var tiger = await SearchAsync(engine, OtherProbes[0].Photo);
        Assert.Equal(SearchOutcome.Candidates, tiger.Outcome);
        Assert.DoesNotContain(tiger.Candidates, c => personImages.Contains(c.Image.Id));
        Assert.Equal(tigerBefore.Candidates.Where(c => !personImages.Contains(c.Image.Id)).Select(c => c.FaceId), tiger.Candidates.Select(c => c.FaceId));
        Assert.Equal(Enumerable.Range(1, tiger.Candidates.Count), tiger.Candidates.Select(c => c.Rank));
    }

    [SkippableFact]
    public async Task A_request_without_any_face_or_with_bad_arguments_is_refused_and_records_nothing()
    {
        using var dir = new TempDirectory("optout-refused");
        var options = await Engines.OptionsAsync(dir, "exact");
        await using var engine = await LineupEngine.OpenAsync(options);
        var blank = TestImages.Jpeg(320, 240);
        var refused = await Assert.ThrowsAsync<NoFaceException>(() => engine.RecordOptOutAsync(
            "REQ-1", null, [new OptOutPhoto("first.jpg", blank), new OptOutPhoto("second.jpg", blank)], "test"));
        Assert.Contains("first.jpg", refused.Message, StringComparison.Ordinal);
        Assert.Contains("second.jpg", refused.Message, StringComparison.Ordinal);

        await Assert.ThrowsAsync<ArgumentException>(() => engine.RecordOptOutAsync("REQ-1", null, [], "test"));
        await Assert.ThrowsAsync<ArgumentException>(() => engine.RecordOptOutAsync(
            "REQ-1", null, [.. Enumerable.Range(0, NewOptOut.MaxEmbeddings + 1).Select(i => new OptOutPhoto($"{i}.jpg", blank))], "test"));
        await Assert.ThrowsAnyAsync<ArgumentException>(() => engine.RecordOptOutAsync(" ", null, [new OptOutPhoto("a.jpg", blank)], "test"));

        // The store checks what the engine passes on: reference text, embeddings of one length.
        var store = engine.OptOuts;
        var unit = new float[512];
        unit[0] = 1;
        await Assert.ThrowsAsync<ArgumentException>(() => store.AddOptOutAsync(new NewOptOut("bad\u0007ref", null, [unit]), [], "test"));
        await Assert.ThrowsAsync<ArgumentException>(() => store.AddOptOutAsync(new NewOptOut("REQ", null, [unit, new float[3]]), [], "test"));
        await Assert.ThrowsAsync<ArgumentException>(() => store.AddOptOutAsync(new NewOptOut("REQ", null, []), [], "test"));

        Assert.Empty(await store.ListOptOutsAsync());
        Assert.Equal(0, await store.OptOutVersionAsync());
        Assert.DoesNotContain(await engine.Audit.ReadEventsAsync(1, 1000), e => e.Subject.StartsWith("optout:", StringComparison.Ordinal));
        Assert.Empty(ReadRegistryBlobs(options.FullDataDirectory));

        // The default threshold comes from the pack's calibration at 1 % FMR per comparison, below the search threshold.
        Assert.True(engine.OptOutThreshold < engine.Threshold);
        Assert.Equal(LineupEngine.DefaultOptOutFmr, engine.OptOutThresholdFmr!.Value, 3);
    }

    [SkippableFact]
    [Trait("Category", "Data")]
    public async Task Lineup_optout_add_and_list_record_a_request_and_never_print_an_embedding()
    {
        using var dir = new TempDirectory("optout-cli");
        var data = dir.Combine("data");
        await TestPaths.ModelsAsync();
        string[] common = ["--data", data, "--models", TestPaths.ModelCache];

        var empty = await CliProcess.RunAsync(["optout", "list", "--json", .. common]);
        Assert.True(empty.ExitCode == 0, empty.Stderr);
        Assert.Equal(0, JsonDocument.Parse(empty.Stdout).RootElement.GetArrayLength());

        var blank = dir.Combine("blank.jpg");
        await File.WriteAllBytesAsync(blank, TestImages.Jpeg(320, 240));
        var noFace = await CliProcess.RunAsync(["optout", "add", "--reference", "REQ-CLI-0", blank, "-q", .. common]);
        Assert.True(noFace.ExitCode == ExitCodes.NotFound, $"{noFace.ExitCode}: {noFace.Stderr}");
        Assert.Contains("blank.jpg", noFace.Stderr, StringComparison.Ordinal);

        var added = await CliProcess.RunAsync(["optout", "add", "--reference", "REQ-CLI-1", "--note", "by phone", TestPaths.Face(RequestPhoto), "--json", "-q", .. common]);
        Assert.True(added.ExitCode == 0, added.Stderr);
        var result = JsonDocument.Parse(added.Stdout).RootElement;
        Assert.Equal("REQ-CLI-1", result.GetProperty("request").GetProperty("reference").GetString());
        Assert.Equal(1, result.GetProperty("request").GetProperty("photos").GetInt32());
        AssertNoVector(added.Stdout);

        var listed = await CliProcess.RunAsync(["optout", "list", "--json", .. common]);
        Assert.True(listed.ExitCode == 0, listed.Stderr);
        var only = Assert.Single(JsonDocument.Parse(listed.Stdout).RootElement.EnumerateArray());
        Assert.Equal(("REQ-CLI-1", "by phone", "cli:" + Environment.UserName),
            (only.GetProperty("reference").GetString(), only.GetProperty("note").GetString(), only.GetProperty("recordedBy").GetString()));
        AssertNoVector(listed.Stdout);

        var table = await CliProcess.RunAsync(["optout", "list", .. common]);
        Assert.True(table.ExitCode == 0, table.Stderr);
        Assert.Contains("REQ-CLI-1", table.Stdout, StringComparison.Ordinal);
    }

    private static string Ari(int i) => string.Create(CultureInfo.InvariantCulture, $"lfw_deepfunneled/images/{Person}/{Person}_{i:0000}.jpg");

    private static string Flatten(string photo) => photo.Replace('/', '_');

    private static string Unflatten(string name) =>
        Engines.Identities.Keys.Single(p => Flatten(p) == name);

    private static async Task<SearchResult> SearchAsync(LineupEngine engine, string photo) =>
        await engine.SearchAsync(TestCases.Request(await File.ReadAllBytesAsync(TestPaths.Face(photo)), photo) with { Top = 100 });

    private static async Task<Dictionary<string, IngestOutcome>> IngestAsync(LineupEngine engine, string folder, string collection)
    {
        var outcomes = new List<IngestOutcome>();
        await engine.IngestAsync(
            new FolderSource(folder, engine.Options.Limits.MaxBytes), await engine.Catalog.EnsureCollectionAsync(collection, "unit test", "DE"),
            new IngestObserver { Item = outcomes.Add });
        return outcomes.ToDictionary(o => o.Name);
    }

    private static List<byte[]> ReadRegistryBlobs(string data)
    {
        using var connection = new SqliteConnection($"Data Source={Path.Combine(data, "catalog.db")};Mode=ReadOnly;Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT embedding FROM opt_out_embeddings ORDER BY id";
        using var reader = command.ExecuteReader();
        var blobs = new List<byte[]>();
        while (reader.Read())
        {
            blobs.Add((byte[])reader.GetValue(0));
        }

        return blobs;
    }

    /// <summary>
    /// The audit log holds no trace of the embedding: neither its bytes (float32, float16, or the catalog's int8 encoding) in
    /// any column of any event row, nor its base64 or hex, nor its first components as decimal text in any event.
    /// </summary>
    private static void AssertNotInAuditLog(string data, IReadOnlyList<AuditEvent> events, float[] vector, byte[] blob)
    {
        var half = VectorMath.ToHalfBlob(vector);
        var int8 = EmbeddingCodec.Encode(vector);
        byte[][] slices = [blob[..64], blob[^64..], half[..64], half[^64..], int8[..64], int8[^64..]];
        var texts = new List<string>();
        foreach (var slice in slices)
        {
            texts.Add(Convert.ToBase64String(slice)[..40]);
            texts.Add(Convert.ToHexStringLower(slice)[..40]);
            texts.Add(Convert.ToHexString(slice)[..40]);
        }

        foreach (var value in vector.Take(4))
        {
            texts.Add(value.ToString("R", CultureInfo.InvariantCulture));
            texts.Add(((double)value).ToString("R", CultureInfo.InvariantCulture));
        }

        foreach (var e in events)
        {
            var text = $"{e.Actor} {e.Action} {e.Subject} {e.Details.ToCanonicalJson()}";
            Assert.DoesNotContain(texts, t => text.Contains(t, StringComparison.Ordinal));
        }

        using var connection = new SqliteConnection($"Data Source={Path.Combine(data, "catalog.db")};Mode=ReadOnly;Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT * FROM audit_events";
        using var reader = command.ExecuteReader();
        var rows = 0;
        while (reader.Read())
        {
            rows++;
            for (var i = 0; i < reader.FieldCount; i++)
            {
                var bytes = reader.IsDBNull(i) ? [] : reader.GetValue(i) switch
                {
                    byte[] b => b,
                    var v => Encoding.UTF8.GetBytes(Convert.ToString(v, CultureInfo.InvariantCulture) ?? ""),
                };
                Assert.DoesNotContain(slices, s => bytes.AsSpan().IndexOf(s) >= 0);
                var asText = Encoding.UTF8.GetString(bytes);
                Assert.DoesNotContain(texts, t => asText.Contains(t, StringComparison.Ordinal));
            }
        }

        Assert.Equal(events.Count, rows);
    }

    /// <summary>No JSON array of many numbers (an embedding's shape) anywhere in the text.</summary>
    private static void AssertNoVector(string json)
    {
        static void Walk(JsonElement element)
        {
            switch (element.ValueKind)
            {
                case JsonValueKind.Array:
                    Assert.False(element.GetArrayLength() >= 64 && element.EnumerateArray().All(e => e.ValueKind == JsonValueKind.Number), "an array of numbers");
                    foreach (var item in element.EnumerateArray())
                    {
                        Walk(item);
                    }

                    break;
                case JsonValueKind.Object:
                    foreach (var property in element.EnumerateObject())
                    {
                        Assert.DoesNotContain("embedding", property.Name, StringComparison.OrdinalIgnoreCase);
                        Assert.DoesNotContain("vector", property.Name, StringComparison.OrdinalIgnoreCase);
                        Walk(property.Value);
                    }

                    break;
            }
        }

        Walk(JsonDocument.Parse(json).RootElement);
    }
}
