using Lineup.Ingest.Sources;
using Lineup.TestSupport;

namespace Lineup.Ingest.Tests;

/// <summary>Acceptance: a WARC written by a real crawler (Debian's wget) of a local site of face photos.</summary>
public sealed class WarcCrawlTests
{
    [SkippableFact]
    [Trait("Category", "Data")]
    public async Task A_wget_crawl_yields_every_photo_with_its_bytes_url_embedding_pages_fetch_time_and_record_id()
    {
        using var dir = new TempDirectory("warc-crawl");
        var site = await WarcCrawlFixture.CrawlFacePhotoSiteAsync(dir);
        var source = new WarcSource(site.WarcPath, SourceLimits.Default);

        var items = await WarcSourceTests.ReadAllAsync(source);

        Assert.Equal(site.Photos.Count, items.Count);
        Assert.Equal(items.Count, await source.CountAsync(default));
        Assert.Equal(items.Count, items.Select(i => i.Name).Distinct().Count());
        foreach (var photo in site.Photos)
        {
            var item = Assert.Single(items, i => i.Provenance.SourceUrl == photo.Url);
            Assert.Equal(await File.ReadAllBytesAsync(photo.FilePath), await item.ReadAsync(default));
            string[] pages = [.. new[] { item.Provenance.PageUrl }.OfType<string>(), .. item.Provenance.OtherPageUrls ?? []];
            Assert.Equal(photo.PageUrls.Order(), pages.Order());
            Assert.InRange(item.Provenance.FetchedAt!.Value, site.Started, site.Finished);
            Assert.StartsWith("<urn:uuid:", item.Provenance.RecordId, StringComparison.Ordinal);
            Assert.StartsWith($"{site.WarcPath}@", item.Provenance.OriginalPath, StringComparison.Ordinal);
        }
    }
}
