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
}
