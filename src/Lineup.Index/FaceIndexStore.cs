using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Serialization;
using Lineup.Core.Catalog;
using Lineup.Index.Ivf;

namespace Lineup.Index;

/// <summary>What <see cref="FaceIndexStore.OpenAndSyncAsync(Core.Catalog.ICatalog, string, StoredIndexFormat, IProgress{IndexSyncProgress}?, CancellationToken)"/> had to do.</summary>
public enum IndexSyncOutcome
{
    /// <summary>The saved index matched the catalog and was used as is.</summary>
    Loaded,

    /// <summary>The saved index was loaded and the faces catalogued since were added.</summary>
    CaughtUp,

    /// <summary>The index was built from every embedding in the catalog (see <see cref="IndexSyncReport.RebuildReason"/>).</summary>
    Rebuilt,
}

/// <summary>
/// Sidecar of <c>faces.usearch</c>: what the index was built from and up to where. JSON so an operator can read it.
/// </summary>
/// <param name="HighWaterFaceId">Largest catalog face id the index has seen; catch-up reads embeddings after it.</param>
/// <param name="CatalogFacesAtSave">Catalog face count when saved (diagnostics: compare with <c>Count</c>).</param>
public sealed record IndexMeta(
    int FormatVersion,
    string ModelId,
    int Dimensions,
    VectorQuantization Quantization,
    long Count,
    long HighWaterFaceId,
    long CatalogFacesAtSave,
    DateTimeOffset SavedAt);

/// <summary>Progress of a rebuild or catch-up: embeddings added so far out of about <paramref name="Total"/>.</summary>
public readonly record struct IndexSyncProgress(IndexSyncOutcome Phase, long Done, long Total);

/// <summary>The synchronised index (owned by the caller: dispose it) and what it took to get there.</summary>
public sealed class IndexSyncReport
{
    public required IStoredVectorIndex Index { get; init; }

    public required IndexSyncOutcome Outcome { get; init; }

    /// <summary>Why the saved index was not used; null unless <see cref="Outcome"/> is <see cref="IndexSyncOutcome.Rebuilt"/>.</summary>
    public string? RebuildReason { get; init; }

    /// <summary>Faces added on top of the saved index.</summary>
    public long CaughtUpFaces { get; init; }

    public long Count { get; init; }

    public long HighWaterFaceId { get; init; }

    public TimeSpan LoadTime { get; init; }

    public TimeSpan CatchUpTime { get; init; }

    public TimeSpan RebuildTime { get; init; }

    public TimeSpan SaveTime { get; init; }

    public TimeSpan TotalTime { get; init; }

    public override string ToString() => Outcome switch
    {
        IndexSyncOutcome.Loaded => $"index loaded: {Count:N0} faces in {LoadTime.TotalSeconds:0.00} s",
        IndexSyncOutcome.CaughtUp =>
            $"index loaded in {LoadTime.TotalSeconds:0.00} s and caught up {CaughtUpFaces:N0} faces in {CatchUpTime.TotalSeconds:0.00} s: {Count:N0} faces",
        _ => $"index rebuilt ({RebuildReason}): {Count:N0} faces in {RebuildTime.TotalSeconds:0.00} s",
    };
}

/// <summary>
/// Keeps the saved index (<c>&lt;indexDir&gt;/faces.usearch</c> and <c>faces.meta.json</c>, or the inverted file's
/// <c>faces.ivf</c> and <c>faces.ivf.meta.json</c>: <see cref="StoredIndexFormat"/>) in step with the catalog. The catalog is the
/// truth and the index derived: anything doubtful about the saved index (missing, unreadable, other model or shape,
/// count not as recorded, faces deleted since) is answered by a rebuild, never by an error.
/// </summary>
public static class FaceIndexStore
{
    public const string IndexFileName = "faces.usearch";
    public const string MetaFileName = "faces.meta.json";

    /// <summary>Bumped when the meaning of the files changes; an index of another format is rebuilt.</summary>
    public const int FormatVersion = 1;

    private const int BatchSize = 4096;

    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        WriteIndented = true,
        Converters = { new JsonStringEnumConverter() },
    };

    public static string IndexPath(string indexDir) => Path.Combine(indexDir, IndexFileName);

    public static string MetaPath(string indexDir) => Path.Combine(indexDir, MetaFileName);

    /// <summary>
    /// Opens the saved index and brings it up to date with <paramref name="catalog"/>: catch-up adds the faces after
    /// the saved high-water mark; anything inconsistent triggers a rebuild. The result is saved when it changed.
    /// </summary>
    public static Task<IndexSyncReport> OpenAndSyncAsync(
        ICatalog catalog,
        string indexDir,
        USearchOptions options,
        IProgress<IndexSyncProgress>? progress = null,
        CancellationToken ct = default)
    {
        CheckArguments(catalog, indexDir, options);
        return OpenAndSyncAsync(catalog, indexDir, StoredIndexFormat.USearch(options), progress, ct);
    }

    /// <inheritdoc cref="OpenAndSyncAsync(ICatalog, string, USearchOptions, IProgress{IndexSyncProgress}?, CancellationToken)"/>
    public static async Task<IndexSyncReport> OpenAndSyncAsync(
        ICatalog catalog,
        string indexDir,
        StoredIndexFormat format,
        IProgress<IndexSyncProgress>? progress = null,
        CancellationToken ct = default)
    {
        CheckArguments(catalog, indexDir, format);

        var total = Stopwatch.StartNew();
        var stats = await catalog.GetStatsAsync(ct).ConfigureAwait(false);
        var (meta, problem) = ReadMeta(indexDir, format);
        problem ??= Mismatch(meta!, catalog, format, stats);
        if (problem is not null)
        {
            return await RebuildCoreAsync(catalog, indexDir, format, problem, progress, total, ct).ConfigureAwait(false);
        }

        var load = Stopwatch.StartNew();
        IStoredVectorIndex index;
        try
        {
            index = format.Open(format.IndexPath(indexDir));
        }
        catch (Exception ex) when (ex is VectorIndexException or IOException or UnauthorizedAccessException)
        {
            return await RebuildCoreAsync(catalog, indexDir, format, $"index file unusable: {ex.Message}", progress, total, ct)
                .ConfigureAwait(false);
        }

        load.Stop();
        try
        {
            if (index.Count != meta!.Count)
            {
                var reason = $"index holds {index.Count:N0} vectors but its metadata says {meta.Count:N0}";
                index.Dispose();
                return await RebuildCoreAsync(catalog, indexDir, format, reason, progress, total, ct).ConfigureAwait(false);
            }

            var catchUp = Stopwatch.StartNew();
            var (added, highWater, beyondStats) = await AddEmbeddingsAsync(
                index, catalog, meta.HighWaterFaceId, stats.MaxFaceId, IndexSyncOutcome.CaughtUp, stats.Faces - meta.Count, progress, ct)
                .ConfigureAwait(false);
            catchUp.Stop();

            // Faces present when the stats were read, plus faces ingested since: anything else means the catalog deleted
            // faces the index still holds, and only a rebuild finds which.
            var expected = stats.Faces + beyondStats;
            if (index.Count != expected)
            {
                var reason = $"catalog has {expected:N0} faces but the caught-up index holds {index.Count:N0} (faces were deleted)";
                index.Dispose();
                return await RebuildCoreAsync(catalog, indexDir, format, reason, progress, total, ct).ConfigureAwait(false);
            }

            var save = Stopwatch.StartNew();
            if (added > 0)
            {
                await SaveAsync(index, format, catalog, indexDir, Math.Max(highWater, meta.HighWaterFaceId), ct).ConfigureAwait(false);
            }

            return new IndexSyncReport
            {
                Index = index,
                Outcome = added > 0 ? IndexSyncOutcome.CaughtUp : IndexSyncOutcome.Loaded,
                CaughtUpFaces = added,
                Count = index.Count,
                HighWaterFaceId = Math.Max(highWater, meta.HighWaterFaceId),
                LoadTime = load.Elapsed,
                CatchUpTime = catchUp.Elapsed,
                SaveTime = save.Elapsed,
                TotalTime = total.Elapsed,
            };
        }
        catch
        {
            index.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Opens the saved index as a <see cref="MappedFirstIndex"/> (searches at once from a memory-mapped view, a writable
    /// copy loading behind it) when it is exactly in step with <paramref name="catalog"/>: same model, shape and format,
    /// as many faces as the catalog and no face newer than its high-water mark. Null otherwise, and when the file cannot
    /// be mapped or holds another count: the caller then goes through <see cref="OpenAndSyncAsync(ICatalog, string, StoredIndexFormat, IProgress{IndexSyncProgress}?, CancellationToken)"/>, which catches up or
    /// rebuilds.
    /// </summary>
    public static async Task<MappedFirstIndex?> TryOpenMappedAsync(ICatalog catalog, string indexDir, USearchOptions options, CancellationToken ct = default)
    {
        CheckArguments(catalog, indexDir, options);
        var stats = await catalog.GetStatsAsync(ct).ConfigureAwait(false);
        var format = StoredIndexFormat.USearch(options);
        var (meta, problem) = ReadMeta(indexDir, format);
        if (problem is not null || Mismatch(meta!, catalog, format, stats) is not null
            || meta!.Count != stats.Faces || meta.HighWaterFaceId != stats.MaxFaceId)
        {
            return null;
        }

        var path = IndexPath(indexDir);
        USearchVectorIndex view;
        try
        {
            view = USearchVectorIndex.Open(path, options, view: true);
        }
        catch (Exception ex) when (ex is VectorIndexException or IOException or UnauthorizedAccessException)
        {
            return null;
        }

        if (view.Count != meta.Count)
        {
            view.Dispose();
            return null;
        }

        return new MappedFirstIndex(view, path, options);
    }

    private static void CheckArguments(ICatalog catalog, string indexDir, StoredIndexFormat format)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentException.ThrowIfNullOrWhiteSpace(indexDir);
        ArgumentNullException.ThrowIfNull(format);
    }

    private static void CheckArguments(ICatalog catalog, string indexDir, USearchOptions options)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentException.ThrowIfNullOrWhiteSpace(indexDir);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
    }

    /// <summary>Builds the index from every embedding in the catalog and saves it (<c>lineup index rebuild</c>).</summary>
    public static Task<IndexSyncReport> RebuildAsync(
        ICatalog catalog,
        string indexDir,
        USearchOptions options,
        IProgress<IndexSyncProgress>? progress = null,
        CancellationToken ct = default)
    {
        CheckArguments(catalog, indexDir, options);
        return RebuildAsync(catalog, indexDir, StoredIndexFormat.USearch(options), progress, ct);
    }

    /// <inheritdoc cref="RebuildAsync(ICatalog, string, USearchOptions, IProgress{IndexSyncProgress}?, CancellationToken)"/>
    public static Task<IndexSyncReport> RebuildAsync(
        ICatalog catalog,
        string indexDir,
        StoredIndexFormat format,
        IProgress<IndexSyncProgress>? progress = null,
        CancellationToken ct = default)
    {
        CheckArguments(catalog, indexDir, format);
        return RebuildCoreAsync(catalog, indexDir, format, "requested", progress, Stopwatch.StartNew(), ct);
    }

    /// <summary>
    /// Saves <paramref name="index"/> and its metadata. The index file goes first: a crash between the two leaves a
    /// new index with old metadata, whose count no longer matches, so the next open rebuilds rather than trusts it.
    /// </summary>
    /// <param name="highWaterFaceId">Largest face id whose embedding is in the index.</param>
    public static Task SaveAsync(USearchVectorIndex index, ICatalog catalog, string indexDir, long highWaterFaceId, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(index);
        return SaveAsync(index, StoredIndexFormat.USearch(index.Options), catalog, indexDir, highWaterFaceId, ct);
    }

    /// <inheritdoc cref="SaveAsync(USearchVectorIndex, ICatalog, string, long, CancellationToken)"/>
    public static async Task SaveAsync(
        IStoredVectorIndex index, StoredIndexFormat format, ICatalog catalog, string indexDir, long highWaterFaceId, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(index);
        ArgumentNullException.ThrowIfNull(format);
        ArgumentNullException.ThrowIfNull(catalog);
        Directory.CreateDirectory(indexDir);
        var stats = await catalog.GetStatsAsync(ct).ConfigureAwait(false);
        var saved = index.Save(format.IndexPath(indexDir));
        var meta = new IndexMeta(
            FormatVersion,
            catalog.ModelId,
            index.Dimensions,
            format.Quantization,
            saved,
            highWaterFaceId,
            stats.Faces,
            DateTimeOffset.UtcNow);
        await WriteMetaAsync(format.MetaPath(indexDir), meta, ct).ConfigureAwait(false);
    }

    /// <summary>Reads the metadata file; returns the reason when it is missing or unreadable.</summary>
    public static (IndexMeta? Meta, string? Problem) ReadMeta(string indexDir) =>
        ReadMeta(Path.Combine(indexDir, MetaFileName), Path.Combine(indexDir, IndexFileName));

    /// <summary>Reads the metadata file of <paramref name="format"/>'s index; returns the reason when it is missing or unreadable.</summary>
    public static (IndexMeta? Meta, string? Problem) ReadMeta(string indexDir, StoredIndexFormat format)
    {
        ArgumentNullException.ThrowIfNull(format);
        return ReadMeta(format.MetaPath(indexDir), format.IndexPath(indexDir));
    }

    private static (IndexMeta? Meta, string? Problem) ReadMeta(string path, string indexPath)
    {
        if (!File.Exists(path))
        {
            return (null, File.Exists(indexPath) ? "index metadata missing" : "no saved index");
        }

        try
        {
            var meta = JsonSerializer.Deserialize<IndexMeta>(File.ReadAllBytes(path), JsonOptions);
            return meta is null || string.IsNullOrEmpty(meta.ModelId) ? (null, "index metadata empty") : (meta, null);
        }
        catch (Exception ex) when (ex is JsonException or IOException or UnauthorizedAccessException or NotSupportedException)
        {
            return (null, $"index metadata unreadable: {ex.Message}");
        }
    }

    private static string? Mismatch(IndexMeta meta, ICatalog catalog, StoredIndexFormat options, CatalogStats stats)
    {
        if (meta.FormatVersion != FormatVersion)
        {
            return $"index format {meta.FormatVersion}, this build writes {FormatVersion}";
        }

        if (meta.ModelId != catalog.ModelId)
        {
            return $"index built for model '{meta.ModelId}', catalog uses '{catalog.ModelId}'";
        }

        if (meta.Dimensions != options.Dimensions || meta.Quantization != options.Quantization)
        {
            return $"index is {meta.Dimensions}-d {meta.Quantization}, configured {options.Dimensions}-d {options.Quantization}";
        }

        if (meta.HighWaterFaceId > stats.MaxFaceId)
        {
            return $"index has seen face {meta.HighWaterFaceId}, the catalog's newest is {stats.MaxFaceId} (another or a restored catalog)";
        }

        return null;
    }

    private static async Task<IndexSyncReport> RebuildCoreAsync(
        ICatalog catalog,
        string indexDir,
        StoredIndexFormat format,
        string reason,
        IProgress<IndexSyncProgress>? progress,
        Stopwatch total,
        CancellationToken ct)
    {
        var rebuild = Stopwatch.StartNew();
        var stats = await catalog.GetStatsAsync(ct).ConfigureAwait(false);
        var index = format.Create();
        try
        {
            if (stats.Faces > 0)
            {
                index.Reserve(stats.Faces);
            }

            var (_, highWater, _) = await AddEmbeddingsAsync(
                index, catalog, 0, stats.MaxFaceId, IndexSyncOutcome.Rebuilt, stats.Faces, progress, ct).ConfigureAwait(false);
            if (index is IvfVectorIndex ivf)
            {
                // The lists grew by half as they filled: give back the slack, as a reopened index would hold it.
                ivf.TrimExcess();
            }

            rebuild.Stop();

            var save = Stopwatch.StartNew();
            await SaveAsync(index, format, catalog, indexDir, highWater, ct).ConfigureAwait(false);
            return new IndexSyncReport
            {
                Index = index,
                Outcome = IndexSyncOutcome.Rebuilt,
                RebuildReason = reason,
                Count = index.Count,
                HighWaterFaceId = highWater,
                RebuildTime = rebuild.Elapsed,
                SaveTime = save.Elapsed,
                TotalTime = total.Elapsed,
            };
        }
        catch
        {
            index.Dispose();
            throw;
        }
    }

    /// <summary>Streams embeddings after <paramref name="afterFaceId"/> into the index in batches.</summary>
    /// <returns>How many were added, the largest face id seen, and how many had ids above <paramref name="statsMaxFaceId"/>.</returns>
    private static async Task<(long Added, long HighWater, long BeyondStats)> AddEmbeddingsAsync(
        IStoredVectorIndex index,
        ICatalog catalog,
        long afterFaceId,
        long statsMaxFaceId,
        IndexSyncOutcome phase,
        long expectedTotal,
        IProgress<IndexSyncProgress>? progress,
        CancellationToken ct)
    {
        var dimensions = index.Dimensions;
        var keys = new long[BatchSize];
        var vectors = new float[BatchSize * dimensions];
        long added = 0, beyond = 0, highWater = afterFaceId;
        var pending = 0;

        void Flush()
        {
            index.AddRange(keys.AsSpan(0, pending), vectors.AsSpan(0, pending * dimensions));
            added += pending;
            pending = 0;
            progress?.Report(new IndexSyncProgress(phase, added, Math.Max(expectedTotal, added)));
        }

        await foreach (var embedding in catalog.ReadEmbeddingsAsync(afterFaceId, ct).ConfigureAwait(false))
        {
            if (embedding.Vector.Length != dimensions)
            {
                throw new VectorIndexException(
                    $"Face {embedding.FaceId} has a {embedding.Vector.Length}-dimensional embedding; the index is configured for {dimensions}.");
            }

            keys[pending] = embedding.FaceId;
            embedding.Vector.CopyTo(vectors.AsSpan(pending * dimensions, dimensions));
            highWater = Math.Max(highWater, embedding.FaceId);
            if (embedding.FaceId > statsMaxFaceId)
            {
                beyond++;
            }

            if (++pending == BatchSize)
            {
                Flush();
            }
        }

        if (pending > 0)
        {
            Flush();
        }

        return (added, highWater, beyond);
    }

    private static async Task WriteMetaAsync(string path, IndexMeta meta, CancellationToken ct)
    {
        var temporary = path + ".tmp";
        await using (var stream = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            await JsonSerializer.SerializeAsync(stream, meta, JsonOptions, ct).ConfigureAwait(false);
            stream.Flush(flushToDisk: true);
        }

        File.Move(temporary, path, overwrite: true);
    }
}
