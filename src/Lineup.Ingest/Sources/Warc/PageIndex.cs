namespace Lineup.Ingest.Sources.Warc;

/// <summary>
/// Built while the pages of a WARC are read: which pages embed which image URL (normalised by
/// <see cref="WebUrl"/>), which URLs redirect where, and which URLs the file holds image records for.
/// <see cref="Build"/> keeps only the image URLs the file holds, so the result grows with the images of the
/// crawl, not with every link of every page.
/// </summary>
internal sealed class PageIndex(int maxPagesPerImage)
{
    /// <summary>Redirect hops followed from a linked URL to the image record (browsers follow about 20; crawls rarely chain more than 2).</summary>
    private const int MaxRedirects = 5;

    private readonly Dictionary<string, List<(int Ordinal, string Page)>> _links = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _redirects = new(StringComparer.Ordinal);
    private readonly HashSet<string> _images = new(StringComparer.Ordinal);

    /// <summary>Notes that the page at <paramref name="page"/> (the record numbered <paramref name="ordinal"/>) embeds <paramref name="imageUrls"/>.</summary>
    public void AddPage(string page, int ordinal, IEnumerable<string> imageUrls)
    {
        foreach (var url in imageUrls)
        {
            if (!_links.TryGetValue(url, out var pages))
            {
                _links[url] = pages = [];
            }

            if (pages.Count < maxPagesPerImage && !pages.Exists(p => p.Page == page))
            {
                pages.Add((ordinal, page));
            }
        }
    }

    public void AddRedirect(string from, string to) => _redirects.TryAdd(from, to);

    public void AddImage(string url) => _images.Add(url);

    /// <summary>Image URL → the pages that embed it (directly or through redirects), in file order, at most the cap.</summary>
    public Dictionary<string, IReadOnlyList<string>> Build()
    {
        var merged = new Dictionary<string, List<(int Ordinal, string Page)>>(StringComparer.Ordinal);
        foreach (var (link, pages) in _links)
        {
            var target = link;
            for (var hop = 0; hop < MaxRedirects && !_images.Contains(target) && _redirects.TryGetValue(target, out var next); hop++)
            {
                target = next;
            }

            if (!_images.Contains(target))
            {
                continue;
            }

            if (!merged.TryGetValue(target, out var into))
            {
                merged[target] = into = [];
            }

            foreach (var page in pages)
            {
                if (!into.Exists(p => p.Page == page.Page))
                {
                    into.Add(page);
                }
            }
        }

        var result = new Dictionary<string, IReadOnlyList<string>>(merged.Count, StringComparer.Ordinal);
        foreach (var (image, pages) in merged)
        {
            result[image] = [.. pages.OrderBy(p => p.Ordinal).Take(maxPagesPerImage).Select(p => p.Page)];
        }

        return result;
    }
}
