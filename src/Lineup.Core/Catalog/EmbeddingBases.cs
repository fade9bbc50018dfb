namespace Lineup.Core.Catalog;

/// <summary>
/// The catalog's per-model embedding basis (<see cref="Numerics.EmbeddingBasis"/>): embeddings in it are stored as about
/// 165 10-bit coefficients (216 bytes) instead of 512 int8 components (517). Fitted once, automatically during ingest when the model has
/// <see cref="Numerics.EmbeddingBasis.MaxSampleFaces"/> faces, or by <c>lineup catalog compact</c>, which also re-encodes the
/// embeddings written before it.
/// </summary>
public interface IEmbeddingBases
{
    /// <summary>The catalog model's basis, or null when none has been fitted.</summary>
    Task<EmbeddingBasisInfo?> GetEmbeddingBasisAsync(CancellationToken ct = default);

    /// <summary>
    /// The catalog model's basis, fitted first (on up to <see cref="Numerics.EmbeddingBasis.MaxSampleFaces"/> of its
    /// embeddings, spread over its faces) when it has none and at least <paramref name="minimumFaces"/> faces. Null when it
    /// has fewer, or when its embeddings fill their space (no direction can be left out). Concurrent callers, in this
    /// process or another, end up with the same basis.
    /// </summary>
    Task<EmbeddingBasisInfo?> EnsureEmbeddingBasisAsync(int minimumFaces, CancellationToken ct = default);

    /// <summary>
    /// Re-encodes in the model's basis every embedding written before it (format 1), in pages of one transaction each,
    /// so it can be interrupted and run again. An embedding that lies too far outside the basis stays as it is. Each
    /// re-encoded vector moves by the basis's precision: rebuild the derived index afterwards.
    /// </summary>
    /// <exception cref="CatalogException">The model has no basis.</exception>
    Task<EmbeddingCompaction> CompactEmbeddingsAsync(IProgress<EmbeddingCompaction>? progress = null, CancellationToken ct = default);
}

/// <summary>A fitted basis: its id, the model, its shape, and how it was fitted.</summary>
public sealed record EmbeddingBasisInfo(
    int Id, string ModelId, int Dimensions, int Components, int SampleFaces, double DroppedEnergy, DateTimeOffset FittedAt);

/// <summary>
/// Progress or outcome of <see cref="IEmbeddingBases.CompactEmbeddingsAsync"/>: embeddings read, re-encoded in the
/// basis, and left in full because they lie outside it.
/// </summary>
public sealed record EmbeddingCompaction(long Read, long Reencoded, long OutsideBasis);

/// <summary>
/// Fits the catalog model's embedding basis once the catalog holds a full sample
/// (<see cref="Numerics.EmbeddingBasis.MaxSampleFaces"/> faces), for a writer that adds faces: it looks after every
/// <see cref="CheckEvery"/> committed faces, the interval doubling after each look that finds no basis (so a model whose
/// embeddings fill their space is not refitted every few thousand faces; a new catalog gets its basis by 35,000 faces).
/// Faces written after it are stored in it; earlier ones stay as they are until
/// <see cref="IEmbeddingBases.CompactEmbeddingsAsync"/>. The fit reads 20,000 embeddings and takes seconds, once in the
/// catalog's life. Not thread-safe: one per writer.
/// </summary>
/// <param name="catalog">The catalog written to; one that is not <see cref="IEmbeddingBases"/> is left alone.</param>
/// <param name="fitAt">Faces the model needs before its basis is fitted (tests lower it).</param>
/// <param name="checkEvery">Committed faces between looks while the model has no basis (tests lower it).</param>
public sealed class EmbeddingBasisSchedule(ICatalog catalog, int fitAt = Numerics.EmbeddingBasis.MaxSampleFaces, long checkEvery = EmbeddingBasisSchedule.CheckEvery)
{
    /// <summary>Committed faces between looks while the model has no basis.</summary>
    public const long CheckEvery = 5_000;

    private readonly IEmbeddingBases? _bases = catalog as IEmbeddingBases;
    private long _interval = checkEvery;
    private long _due = checkEvery;

    /// <summary>After a commit of <paramref name="faces"/> faces: fits the basis when it is time to look and none exists.</summary>
    /// <returns>The basis when this call found or fitted one, else null.</returns>
    public async Task<EmbeddingBasisInfo?> CommittedAsync(long faces, CancellationToken ct = default)
    {
        if (_bases is null || _interval == 0 || (_due -= faces) > 0)
        {
            return null;
        }

        if (await _bases.EnsureEmbeddingBasisAsync(fitAt, ct).ConfigureAwait(false) is { } basis)
        {
            _interval = 0;
            return basis;
        }

        _interval = Math.Min(_interval * 2, 1_000_000);
        _due = _interval;
        return null;
    }
}
