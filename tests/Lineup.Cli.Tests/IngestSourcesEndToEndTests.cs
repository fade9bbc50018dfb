using System.Formats.Tar;
using System.IO.Compression;
using System.Text;
using Lineup.Core.Catalog;
using Lineup.Hosting;
using Lineup.Ingest;
using Lineup.Ingest.Sources;
using Lineup.Ingest.Tests;
using Lineup.TestSupport;
using SkiaSharp;

namespace Lineup.Cli.Tests;

/// <summary>
/// Every source kind through the real engine (models, SQLite, USearch): provenance lands on each face's image,
/// the same bytes elsewhere become a sighting, re-encoded copies become near-duplicates, and a bad element of
/// a source is recorded with its location while the rest of the run completes.
/// </summary>
[Trait("Category", "Data")]
public sealed class IngestSourcesEndToEndTests
{
    private static readonly string[] People =
    [
        "lfw_deepfunneled/images/Tiger_Woods/Tiger_Woods_0001.jpg",
        "lfw_deepfunneled/images/Nicole_Kidman/Nicole_Kidman_0001.jpg",
        "deepface/images/Angelina_Jolie/img1.jpg",
    ];

    private static async Task<(LineupEngine Engine, Collection Collection, List<IngestOutcome> Outcomes, Func<IIngestSource, Task<IngestRunResult>> Ingest)> OpenAsync(TempDirectory dir)
    {
        var engine = await LineupEngine.OpenAsync(await Engines.OptionsAsync(dir));
        var collection = await engine.Catalog.EnsureCollectionAsync("web", "test of provenance", "DE");
        var outcomes = new List<IngestOutcome>();
        return (engine, collection, outcomes, source => engine.IngestAsync(source, collection, new IngestObserver { Item = outcomes.Add }));
    }

    private static SourceLimits Limits => SourceLimits.Default;

    [SkippableFact]
    public async Task A_wget_crawl_gives_every_face_its_image_url_embedding_pages_and_fetch_time()
    {
        using var dir = new TempDirectory("e2e-warc-crawl");
        var site = await WarcCrawlFixture.CrawlFacePhotoSiteAsync(dir);
        var (engine, _, outcomes, ingest) = await OpenAsync(dir);
        await using var _ = engine;
        var result = await ingest(IngestSources.Open(site.WarcPath, Limits));

        Assert.Equal("warc", result.Run.SourceKind);
        Assert.Equal(site.Photos.Count, result.Counts.Items);
        Assert.Equal(0, result.Counts.Problems);
        foreach (var photo in site.Photos)
        {
            var image = await ImageBySourceUrlAsync(engine, outcomes, photo.Url);
            var faces = await engine.Catalog.GetFacesOfImageAsync(image.Id);
            Assert.True(faces.Count > 0, $"{photo.Url}: no face");
            Assert.InRange(image.Provenance.FetchedAt!.Value, site.Started, site.Finished);
            Assert.StartsWith($"{site.WarcPath}@", image.Provenance.OriginalPath, StringComparison.Ordinal);
            var sightings = await engine.Catalog.GetSightingsAsync(image.Id);
            Assert.Equal(photo.PageUrls.Order(), sightings.Select(s => s.Provenance.PageUrl!).Order());
            Assert.All(sightings, s =>
            {
                Assert.Equal(photo.Url, s.Provenance.SourceUrl);
                Assert.StartsWith("<urn:uuid:", s.Provenance.RecordId, StringComparison.Ordinal);
            });

            // What a search hit carries back: face → image → its URL.
            var hit = (await engine.Catalog.GetFacesWithImagesAsync([faces[0].Id]))[0];
            Assert.Equal(photo.Url, hit.Image.Provenance.SourceUrl);
        }
    }

    private static async Task<ImageRecord> ImageBySourceUrlAsync(LineupEngine engine, IEnumerable<IngestOutcome> outcomes, string url)
    {
        foreach (var outcome in outcomes.Where(o => o.ImageId is not null))
        {
            var image = (await engine.Catalog.GetImageAsync(outcome.ImageId!.Value))!;
            if (image.Provenance.SourceUrl == url)
            {
                return image;
            }
        }

        throw new Xunit.Sdk.XunitException($"no image was stored for {url}");
    }

    [SkippableFact]
    public async Task A_manifest_gives_each_image_its_urls_capture_time_and_licence_and_reports_bad_rows_by_line()
    {
        using var dir = new TempDirectory("e2e-manifest");
        var manifest = dir.Combine("gallery.csv");
        var lines = new StringBuilder("path,source_url,page_url,captured_at,licence\n");
        for (var i = 0; i < People.Length; i++)
        {
            lines.Append($"{TestPaths.Face(People[i])},https://photos.example/{i}.jpg,https://news.example/story-{i},2021-0{i + 1}-15T10:00:00Z,CC BY 4.0\n");
        }

        lines.Append("missing/photo.jpg,https://photos.example/x.jpg,,,\n");
        lines.Append("\"unterminated,https://photos.example/y.jpg\n");
        await File.WriteAllTextAsync(manifest, lines.ToString());

        var (engine, _, outcomes, ingest) = await OpenAsync(dir);
        await using var _ = engine;
        var result = await ingest(IngestSources.Open(manifest, Limits));

        Assert.Equal(IngestRunStatus.Completed, result.Run.Status);
        Assert.Equal(3, result.Counts.Ingested);
        Assert.Equal(2, result.Counts.Failed);
        Assert.Contains(outcomes, o => o.Status == IngestStatus.Failed && o.Reason!.Contains("gallery.csv:5", StringComparison.Ordinal) && o.Reason.Contains("missing/photo.jpg", StringComparison.Ordinal));
        Assert.Contains(outcomes, o => o.Status == IngestStatus.Failed && o.Reason!.Contains("gallery.csv:6", StringComparison.Ordinal));

        for (var i = 0; i < People.Length; i++)
        {
            var outcome = outcomes.Single(o => o.Name == $"gallery.csv:{i + 2}");
            Assert.Equal(IngestStatus.Ingested, outcome.Status);
            var image = (await engine.Catalog.GetImageAsync(outcome.ImageId!.Value))!;
            Assert.Equal($"https://photos.example/{i}.jpg", image.Provenance.SourceUrl);
            Assert.Equal($"https://news.example/story-{i}", image.Provenance.PageUrl);
            Assert.Equal(new DateTimeOffset(2021, i + 1, 15, 10, 0, 0, TimeSpan.Zero), image.Provenance.CapturedAt);
            Assert.Equal(TestPaths.Face(People[i]), image.Provenance.OriginalPath);
            var sighting = Assert.Single(await engine.Catalog.GetSightingsAsync(image.Id));
            Assert.Equal("CC BY 4.0", sighting.Provenance.Licence);
            Assert.NotEmpty(await engine.Catalog.GetFacesOfImageAsync(image.Id));
        }

        // The report on disk lists the problems with their locations.
        var report = await File.ReadAllTextAsync(result.ReportPath);
        Assert.Contains("gallery.csv:5", report, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task A_tar_gz_archive_is_ingested_by_entry_and_a_truncated_copy_keeps_what_came_before_the_cut()
    {
        using var dir = new TempDirectory("e2e-tar");
        var archive = dir.Combine("photos.tar.gz");
        await using (var file = File.Create(archive))
        await using (var gzip = new GZipStream(file, CompressionLevel.Fastest))
        await using (var tar = new TarWriter(gzip))
        {
            foreach (var person in People)
            {
                await tar.WriteEntryAsync(TestPaths.Face(person), "people/" + Path.GetFileName(person));
            }
        }

        var (engine, _, outcomes, ingest) = await OpenAsync(dir);
        await using var _ = engine;
        var result = await ingest(IngestSources.Open(archive, Limits));
        Assert.Equal(3, result.Counts.Ingested);
        foreach (var person in People)
        {
            var outcome = outcomes.Single(o => o.Name == $"photos.tar.gz!people/{Path.GetFileName(person)}");
            var image = (await engine.Catalog.GetImageAsync(outcome.ImageId!.Value))!;
            Assert.Equal($"{archive}!people/{Path.GetFileName(person)}", image.Provenance.OriginalPath);
        }

        // The same archive cut short: nothing new (same bytes), a failure naming the archive, the run completes.
        var bytes = await File.ReadAllBytesAsync(archive);
        var cut = dir.Combine("cut.tar.gz");
        await File.WriteAllBytesAsync(cut, bytes[..(bytes.Length * 2 / 3)]);
        outcomes.Clear();
        var truncated = await ingest(IngestSources.Open(cut, Limits));
        Assert.Equal(IngestRunStatus.Completed, truncated.Run.Status);
        Assert.True(truncated.Counts.Duplicates >= 1, "the entries before the cut are read");
        var failure = Assert.Single(outcomes, o => o.Status == IngestStatus.Failed);
        Assert.Contains("cut.tar.gz", failure.Reason, StringComparison.Ordinal);
        Assert.Equal(3, (await engine.Catalog.GetStatsAsync()).Images);
    }

    [SkippableFact]
    public async Task A_zip_with_a_traversal_name_and_a_bomb_refuses_those_entries_and_ingests_the_rest()
    {
        using var dir = new TempDirectory("e2e-zip");
        var archive = dir.Combine("upload.zip");
        await using (var file = File.Create(archive))
        using (var zip = new ZipArchive(file, ZipArchiveMode.Create))
        {
            zip.CreateEntryFromFile(TestPaths.Face(People[0]), "a/tiger.jpg");
            await using (var evil = zip.CreateEntry("../../etc/evil.jpg").Open())
            {
                await evil.WriteAsync(await File.ReadAllBytesAsync(TestPaths.Face(People[1])));
            }

            await using (var bomb = zip.CreateEntry("bomb.jpg", CompressionLevel.SmallestSize).Open())
            {
                var zeros = new byte[1 << 20];
                for (var i = 0; i < 80; i++)
                {
                    await bomb.WriteAsync(zeros);
                }
            }

            zip.CreateEntryFromFile(TestPaths.Face(People[2]), "b/angelina.jpg");
        }

        var (engine, _, outcomes, ingest) = await OpenAsync(dir);
        await using var _ = engine;
        var result = await ingest(IngestSources.Open(archive, Limits));

        Assert.Equal(IngestRunStatus.Completed, result.Run.Status);
        Assert.Equal(2, result.Counts.Ingested);
        Assert.Equal(2, result.Counts.Refused);
        Assert.Contains(outcomes, o => o.Status == IngestStatus.Refused && o.Reason!.Contains("upload.zip!../../etc/evil.jpg", StringComparison.Ordinal));
        Assert.Contains(outcomes, o => o.Status == IngestStatus.Refused && o.Reason!.Contains("upload.zip!bomb.jpg", StringComparison.Ordinal));
        Assert.Equal(2, (await engine.Catalog.GetStatsAsync()).Images);
    }

    [SkippableFact]
    public async Task A_warc_record_whose_image_type_lies_or_whose_length_is_wrong_is_reported_and_the_good_records_are_ingested()
    {
        using var dir = new TempDirectory("e2e-warc");
        var warc = dir.Combine("crawl.warc");
        await using (var file = File.Create(warc))
        {
            WriteResponse(file, "https://photos.example/tiger.jpg", "image/jpeg", await File.ReadAllBytesAsync(TestPaths.Face(People[0])));
            WriteResponse(file, "https://photos.example/fake.jpg", "image/jpeg", Encoding.ASCII.GetBytes("<html>not a photo</html>"));
            WriteResponse(file, "https://photos.example/broken.jpg", "image/jpeg", await File.ReadAllBytesAsync(TestPaths.Face(People[1])), lengthError: 100);
            WriteResponse(file, "https://photos.example/angelina.jpg", "image/jpeg", await File.ReadAllBytesAsync(TestPaths.Face(People[2])));
        }

        var (engine, _, outcomes, ingest) = await OpenAsync(dir);
        await using var _ = engine;
        var result = await ingest(IngestSources.Open(warc, Limits));

        Assert.Equal(IngestRunStatus.Completed, result.Run.Status);
        Assert.Equal(2, result.Counts.Ingested);
        var fake = Assert.Single(outcomes, o => o.Status == IngestStatus.Refused);
        Assert.Contains("crawl.warc", fake.Reason, StringComparison.Ordinal);
        var broken = Assert.Single(outcomes, o => o.Status == IngestStatus.Failed);
        Assert.Contains("crawl.warc", broken.Reason, StringComparison.Ordinal);
        var urls = new List<string?>();
        foreach (var outcome in outcomes.Where(o => o.Status == IngestStatus.Ingested))
        {
            urls.Add((await engine.Catalog.GetImageAsync(outcome.ImageId!.Value))!.Provenance.SourceUrl);
        }

        Assert.Equal(["https://photos.example/tiger.jpg", "https://photos.example/angelina.jpg"], urls);
    }

    [SkippableFact]
    public async Task Resized_and_reencoded_copies_are_linked_to_the_original_and_add_no_faces()
    {
        using var dir = new TempDirectory("e2e-near");
        var folder = dir.Combine("copies");
        Directory.CreateDirectory(folder);
        const string series = "face_recognition/images/Barack_Obama/";
        foreach (var name in new[] { "obama-1080p.jpg", "obama-240p.jpg", "obama-480p.jpg", "obama-720p.jpg" })
        {
            File.Copy(TestPaths.Face(series + name), Path.Combine(folder, name));
        }

        // Our own copies of the 1080p original: a JPEG at quality 40 and a PNG at half size.
        using (var original = SKBitmap.Decode(TestPaths.Face(series + "obama-1080p.jpg")))
        {
            await File.WriteAllBytesAsync(Path.Combine(folder, "reencoded-q40.jpg"), original.Encode(SKEncodedImageFormat.Jpeg, 40).ToArray());
            using var half = original.Resize(new SKImageInfo(original.Width / 2, original.Height / 2), new SKSamplingOptions(SKFilterMode.Linear));
            await File.WriteAllBytesAsync(Path.Combine(folder, "smaller.png"), half.Encode(SKEncodedImageFormat.Png, 100).ToArray());
        }

        // A different photo of the same man is not a near-duplicate.
        File.Copy(TestPaths.Face(series + "obama2.jpg"), Path.Combine(folder, "z-other-photo.jpg"));

        var (engine, _, outcomes, ingest) = await OpenAsync(dir);
        await using var _ = engine;
        var result = await ingest(IngestSources.Open(folder, Limits));

        var original1080 = outcomes.Single(o => o.Name == "obama-1080p.jpg");
        Assert.Equal(IngestStatus.Ingested, original1080.Status);
        Assert.Equal(IngestStatus.Ingested, outcomes.Single(o => o.Name == "z-other-photo.jpg").Status);
        var copies = outcomes.Where(o => o.Name is not ("obama-1080p.jpg" or "z-other-photo.jpg")).ToList();
        Assert.Equal(5, copies.Count);
        Assert.All(copies, c =>
        {
            Assert.True(c.Status == IngestStatus.NearDuplicate, $"{c.Name}: {c.Status} {c.Reason}");
            Assert.Contains($"image {original1080.ImageId}", c.Reason, StringComparison.Ordinal);
            Assert.Equal(0, c.Faces);
        });

        // Faces only from the two distinct photos; every copy's file is a sighting of the original.
        Assert.Equal(original1080.Faces + outcomes.Single(o => o.Name == "z-other-photo.jpg").Faces, (await engine.Catalog.GetStatsAsync()).Faces);
        var sightings = await engine.Catalog.GetSightingsAsync(original1080.ImageId!.Value);
        Assert.Equal(6, sightings.Count);
        Assert.Equal(result.Counts.Faces, engine.Index.Count);

        // A search hit on the original carries every place its copies were seen ("also seen at").
        await TestCases.PrepareAsync(engine);
        var search = await engine.SearchAsync(TestCases.Request(await File.ReadAllBytesAsync(TestPaths.Face(series + "obama-720p.jpg"))) with { Top = 3 });
        var top = search.Candidates[0];
        Assert.Equal(original1080.ImageId, top.Image.Id);
        Assert.Equal(6, top.Sightings.Count);
        Assert.Contains(top.Sightings, s => s.Provenance.OriginalPath!.EndsWith("smaller.png", StringComparison.Ordinal));
    }

    [SkippableFact]
    public async Task A_long_lived_engine_knows_the_originals_another_process_catalogued_since_its_last_ingest()
    {
        using var dir = new TempDirectory("e2e-near-other");
        const string series = "face_recognition/images/Barack_Obama/";
        var first = Engines.Gallery(dir, "first", People[0]);
        var original = Engines.Gallery(dir, "original", series + "obama-1080p.jpg");
        var copy = Engines.Gallery(dir, "copy", series + "obama-720p.jpg");
        var options = await Engines.OptionsAsync(dir);

        await using var server = await LineupEngine.OpenAsync(options);
        var collection = await server.Catalog.EnsureCollectionAsync("web", "test of provenance", "DE");
        await server.IngestAsync(IngestSources.Open(first, Limits), collection);

        // Meanwhile another process (here: another engine on the same data directory) catalogues the original.
        await using (var other = await LineupEngine.OpenAsync(options))
        {
            Assert.Equal(1, (await other.IngestAsync(IngestSources.Open(original, Limits), collection)).Counts.Ingested);
        }

        var outcomes = new List<IngestOutcome>();
        await server.IngestAsync(IngestSources.Open(copy, Limits), collection, new IngestObserver { Item = outcomes.Add });
        var linked = Assert.Single(outcomes);
        Assert.True(linked.Status == IngestStatus.NearDuplicate, $"{linked.Status}: {linked.Reason}");
    }

    /// <summary>A WARC/1.1 response record; <paramref name="lengthError"/> makes its Content-Length lie.</summary>
    private static void WriteResponse(Stream output, string url, string contentType, byte[] payload, int lengthError = 0)
    {
        var http = Encoding.ASCII.GetBytes($"HTTP/1.1 200 OK\r\nContent-Type: {contentType}\r\nContent-Length: {payload.Length}\r\n\r\n");
        var block = http.Concat(payload).ToArray();
        var header = Encoding.ASCII.GetBytes(
            "WARC/1.1\r\n" +
            "WARC-Type: response\r\n" +
            $"WARC-Target-URI: {url}\r\n" +
            "WARC-Date: 2024-03-01T12:00:00Z\r\n" +
            $"WARC-Record-ID: <urn:uuid:{Guid.NewGuid()}>\r\n" +
            "Content-Type: application/http; msgtype=response\r\n" +
            $"Content-Length: {block.Length + lengthError}\r\n\r\n");
        output.Write(header);
        output.Write(block);
        output.Write("\r\n\r\n"u8);
    }
}
