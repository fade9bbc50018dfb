namespace Lineup.Core.Indexing;

/// <summary>One search hit: the catalog face id and its cosine similarity to the query.</summary>
public readonly record struct VectorHit(long Key, float Similarity);

/// <summary>
/// Nearest-neighbour search over unit-length embeddings keyed by catalog face id. The index is derived
/// data: it can always be rebuilt from the catalog. Implementations are safe for concurrent searches;
/// adds and removes may be serialised internally.
/// </summary>
public interface IVectorIndex : IDisposable
{
    int Dimensions { get; }

    long Count { get; }

    /// <summary>Adds one vector. Adding a key that is present replaces its vector.</summary>
    void Add(long key, ReadOnlySpan<float> vector);

    /// <summary>Adds <c>keys.Length</c> vectors laid end to end in <paramref name="vectors"/>.</summary>
    void AddRange(ReadOnlySpan<long> keys, ReadOnlySpan<float> vectors);

    bool Remove(long key);

    bool Contains(long key);

    /// <summary>Writes up to <c>results.Length</c> nearest hits, most similar first; returns how many were written.</summary>
    int Search(ReadOnlySpan<float> query, Span<VectorHit> results);

    /// <summary>
    /// Like <see cref="Search(ReadOnlySpan{float}, Span{VectorHit})"/>, but only keys in <paramref name="allowed"/> are
    /// returned, and the restriction is applied while searching: when at least <c>results.Length</c> allowed keys are in
    /// the index, that many hits come back (never a post-filtered remainder of an unfiltered top-k).
    /// <see cref="FaceKeySet.All"/> searches without restriction; <see cref="FaceKeySet.Empty"/> returns 0.
    /// </summary>
    /// <remarks>
    /// A set rather than a predicate delegate: an index needs the count and the members, not only membership, to pick
    /// its strategy (a graph walk that skips other keys when many pass, an exact scan of the allowed keys' vectors when
    /// few do). The default implementation, for wrappers and test doubles, widens an unfiltered search by 4x until
    /// enough allowed hits are found or the index is exhausted: correct, but up to a full scan; the indexes of
    /// <c>Lineup.Index</c> implement it natively.
    /// </remarks>
    int Search(ReadOnlySpan<float> query, Span<VectorHit> results, FaceKeySet allowed)
    {
        ArgumentNullException.ThrowIfNull(allowed);
        if (allowed.IsAll)
        {
            return Search(query, results);
        }

        if (results.IsEmpty || allowed.Count == 0)
        {
            return 0;
        }

        var window = (int)Math.Min(Math.Max(Count, 1), Math.Min(results.Length * 4L, Array.MaxLength));
        while (true)
        {
            var hits = new VectorHit[window];
            var found = Search(query, hits);
            var kept = 0;
            for (var i = 0; i < found && kept < results.Length; i++)
            {
                if (allowed.Contains(hits[i].Key))
                {
                    results[kept++] = hits[i];
                }
            }

            var total = Count;
            if (kept == results.Length || found < window || window >= total || window == Array.MaxLength)
            {
                return kept;
            }

            window = (int)Math.Min(Math.Min(window * 4L, total), Array.MaxLength);
        }
    }
}

/// <summary>
/// An index that keeps each face's collection and jurisdiction beside its vector, so that it can filter on them while
/// searching (the distributed index's attribute filter). Ingest adds through this when the index offers it.
/// </summary>
public interface IFaceAttributeIndex
{
    /// <summary>Adds (or replaces) one face with its attributes.</summary>
    void Add(long key, ReadOnlySpan<float> vector, long collectionId, string? jurisdiction);

    /// <summary>Adds (or replaces) faces of one collection in one pipelined call (a committed ingest batch).</summary>
    void AddRange(IReadOnlyList<(long Key, float[] Vector)> faces, long collectionId, string? jurisdiction);
}
