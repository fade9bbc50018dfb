using Lineup.Core.Network;

namespace Lineup.Storage;

/// <summary>
/// The in-memory half of the co-appearance query, shared by the SQLite and PostgreSQL catalogs so that both build the
/// same edges with the same evidence in the same order: each catalog streams its photos' identities and its pages'
/// photos (<see cref="PageCollector"/>), then <see cref="Pair"/> counts the edges.
/// </summary>
internal static class CoAppearances
{
    /// <summary>
    /// The edges among the identities of <paramref name="photos"/>: photo evidence first, in image order; then pages, in
    /// page order, each edge's evidence list growing in that order and holding at most <paramref name="evidenceLimit"/>
    /// items of each kind while its counts stay complete. With <paramref name="seeds"/>, only edges touching one of them.
    /// </summary>
    public static List<CoAppearanceEdge> Pair(
        IReadOnlyDictionary<long, PhotoIdentities> photos, IReadOnlyList<(string Url, long[] Images)> pages, HashSet<long>? seeds, int evidenceLimit)
    {
        var edges = new Dictionary<(long A, long B), EdgeBuilder>();
        foreach (var photo in photos.Values.OrderBy(p => p.ImageId))
        {
            var identities = photo.Identities;
            for (var i = 0; i < identities.Count; i++)
            {
                for (var j = i + 1; j < identities.Count; j++)
                {
                    var (a, faceA) = identities[i];
                    var (b, faceB) = identities[j];
                    if (Wanted(a, b))
                    {
                        var edge = Edge(a, b);
                        if (edge.Photos++ < evidenceLimit)
                        {
                            edge.Evidence.Add(new CoAppearanceEvidence(CoAppearanceKind.Photo, photo.ImageId, photo.ImageId, faceA, faceB, photo.PageUrl, photo.CapturedAt));
                        }
                    }
                }
            }
        }

        var first = new Dictionary<long, (PhotoIdentities Photo, long Face)>();
        var together = new HashSet<(long, long)>();
        foreach (var (url, images) in pages)
        {
            // Every two identities on the page that share no photo there: one page each, the evidence their first photos on it.
            first.Clear();
            together.Clear();
            foreach (var image in images)
            {
                if (!photos.TryGetValue(image, out var photo))
                {
                    continue;
                }

                var identities = photo.Identities;
                for (var i = 0; i < identities.Count; i++)
                {
                    first.TryAdd(identities[i].Identity, (photo, identities[i].Face));
                    for (var j = i + 1; j < identities.Count; j++)
                    {
                        together.Add((identities[i].Identity, identities[j].Identity));
                    }
                }
            }

            var present = first.Keys.Order().ToArray();
            for (var i = 0; i < present.Length; i++)
            {
                for (var j = i + 1; j < present.Length; j++)
                {
                    var (a, b) = (present[i], present[j]);
                    if (!Wanted(a, b) || together.Contains((a, b)))
                    {
                        continue;
                    }

                    var edge = Edge(a, b);
                    if (edge.Pages++ < evidenceLimit)
                    {
                        var (photoA, faceA) = first[a];
                        var (photoB, faceB) = first[b];
                        edge.Evidence.Add(new CoAppearanceEvidence(CoAppearanceKind.Page, photoA.ImageId, photoB.ImageId, faceA, faceB, url, photoA.CapturedAt));
                    }
                }
            }
        }

        return [.. edges
            .OrderBy(e => e.Key.A).ThenBy(e => e.Key.B)
            .Select(e => new CoAppearanceEdge(e.Key.A, e.Key.B, e.Value.Photos, e.Value.Pages, e.Value.Evidence))];

        bool Wanted(long a, long b) => seeds is null || seeds.Contains(a) || seeds.Contains(b);

        EdgeBuilder Edge(long a, long b)
        {
            if (!edges.TryGetValue((a, b), out var edge))
            {
                edges[(a, b)] = edge = new EdgeBuilder();
            }

            return edge;
        }
    }

    /// <summary>A co-appearance edge while it is being counted: photo evidence is all added before page evidence.</summary>
    private sealed class EdgeBuilder
    {
        public int Photos { get; set; }

        public int Pages { get; set; }

        public List<CoAppearanceEvidence> Evidence { get; } = [];
    }
}

/// <summary>A photo with its clustered identities (ascending) and a face of each.</summary>
internal sealed class PhotoIdentities(long imageId, string? pageUrl, DateTimeOffset? capturedAt)
{
    public long ImageId { get; } = imageId;

    public string? PageUrl { get; } = pageUrl;

    public DateTimeOffset? CapturedAt { get; } = capturedAt;

    /// <summary>Each identity once, ascending, with its smallest face in the photo.</summary>
    public List<(long Identity, long Face)> Identities { get; } = [];

    public void Add(long identity, long face)
    {
        var at = Identities.FindIndex(e => e.Identity >= identity);
        if (at < 0)
        {
            Identities.Add((identity, face));
        }
        else if (Identities[at].Identity != identity)
        {
            Identities.Insert(at, (identity, face));
        }
        else if (face < Identities[at].Face)
        {
            Identities[at] = (identity, face);
        }
    }
}

/// <summary>
/// Gathers the pages showing two photos or more from (page, photo) rows sorted by page (byte order) then photo: each
/// page with its photos, each once, in id order. With seed photos, only the pages showing one of them are kept.
/// </summary>
internal sealed class PageCollector(HashSet<long>? seedImages)
{
    private readonly List<(string Url, long[] Images)> _pages = [];
    private readonly List<long> _images = [];
    private string? _page;

    /// <summary>The pages gathered, once every row was added.</summary>
    public List<(string Url, long[] Images)> Finish()
    {
        Keep();
        _page = null;
        _images.Clear();
        return _pages;
    }

    public void Add(string url, long image)
    {
        if (url != _page)
        {
            Keep();
            _page = url;
            _images.Clear();
        }

        // A photo seen twice on the page (its own page and a sighting, or a copy) comes in adjacent rows.
        if (_images.Count == 0 || _images[^1] != image)
        {
            _images.Add(image);
        }
    }

    private void Keep()
    {
        if (_page is not null && _images.Count >= 2 && (seedImages is null || _images.Exists(seedImages.Contains)))
        {
            _pages.Add((_page, [.. _images]));
        }
    }
}
