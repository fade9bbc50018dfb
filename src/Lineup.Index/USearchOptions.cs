namespace Lineup.Index;

/// <summary>How USearch stores vectors. Cosine over unit embeddings loses almost nothing at F16 (see docs/engines.md).</summary>
public enum VectorQuantization
{
    F32,
    F16,
    I8,
}

/// <summary>
/// Settings of a <see cref="USearchVectorIndex"/> (HNSW). Dimensions, connectivity and quantization are fixed when the
/// graph is built; expansion and threads are run-time settings and are re-applied whenever an index is opened.
/// </summary>
public sealed record USearchOptions
{
    public int Dimensions { get; init; } = 512;

    /// <summary>Graph degree (HNSW "M").</summary>
    public int Connectivity { get; init; } = 16;

    /// <summary>Candidate list size while inserting (HNSW "efConstruction").</summary>
    public int ExpansionAdd { get; init; } = 128;

    /// <summary>
    /// Candidate list size while searching (HNSW "ef"); raises recall at the cost of latency. Null chooses it by the
    /// number of vectors and follows the index as it grows (<see cref="USearchVectorIndex.ExpansionSearchFor"/>).
    /// </summary>
    public int? ExpansionSearch { get; init; } = 64;

    public VectorQuantization Quantization { get; init; } = VectorQuantization.F16;

    /// <summary>Most native calls in flight at once; USearch keeps one scratch context per thread.</summary>
    public int Threads { get; init; } = Environment.ProcessorCount;

    /// <summary>
    /// A filtered search that allows at most this many keys compares their stored vectors one by one instead of walking
    /// the graph. Null (the default) chooses <c>sqrt(1000 × Count)</c>: about 4,500 keys at 20k vectors, 10,000 at 100k,
    /// 100,000 at 10M, where the two cost the same (measurements in <c>USearchVectorIndex.ExactFilterLimitFor</c>);
    /// 0 always walks the graph.
    /// </summary>
    public int? ExactFilterLimit { get; init; }

    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(Dimensions, 1, nameof(Dimensions));
        ArgumentOutOfRangeException.ThrowIfLessThan(Connectivity, 2, nameof(Connectivity));
        ArgumentOutOfRangeException.ThrowIfLessThan(ExpansionAdd, 1, nameof(ExpansionAdd));
        if (ExpansionSearch is { } ef)
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(ef, 1, nameof(ExpansionSearch));
        }
        ArgumentOutOfRangeException.ThrowIfLessThan(Threads, 1, nameof(Threads));
        if (ExactFilterLimit is { } limit)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(limit, nameof(ExactFilterLimit));
        }
        if (!Enum.IsDefined(Quantization))
        {
            throw new ArgumentOutOfRangeException(nameof(Quantization), Quantization, "Use F32, F16 or I8.");
        }
    }
}
