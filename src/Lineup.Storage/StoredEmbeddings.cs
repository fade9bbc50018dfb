using System.Collections.Frozen;
using System.Data.Common;
using Lineup.Core.Catalog;
using Lineup.Core.Numerics;

namespace Lineup.Storage;

/// <summary>
/// The <c>faces.embedding</c> column on both backends: <see cref="EmbeddingCodec"/> bytes (schema 11 on; format 2, in the
/// model's basis from <c>embedding_bases</c>, from schema 12), float16 before (migration 11 re-encodes them). One per open
/// catalog: it holds the bases read from the catalog, which never change once written.
/// </summary>
internal sealed class StoredEmbeddings
{
    /// <summary>How long a catalog without a basis for its model waits before looking again (another process may fit one).</summary>
    private static readonly TimeSpan RecheckAfter = TimeSpan.FromSeconds(30);

    private readonly string _modelId;
    private readonly TimeProvider _clock;
    private readonly Func<DbConnection> _open;
    private readonly Lock _reading = new();
    private Snapshot _snapshot;

    /// <param name="modelId">The catalog's model: writes use its basis.</param>
    /// <param name="clock">Times the re-reads.</param>
    /// <param name="open">Opens a connection to the catalog (the caller disposes it), to read the bases.</param>
    public StoredEmbeddings(string modelId, TimeProvider clock, Func<DbConnection> open)
    {
        _modelId = modelId;
        _clock = clock;
        _open = open;
        _snapshot = new Snapshot(FrozenDictionary<int, EmbeddingBasis>.Empty, null, null, 0);
    }

    /// <summary>The bases' columns.</summary>
    public const string SelectSql =
        "SELECT id, model_id, dimensions, directions, scales, sample_faces, dropped_energy, fitted_at FROM embedding_bases ORDER BY id";

    /// <summary>
    /// The basis new embeddings of the catalog's model are written in; null until one is fitted. With none, the catalog
    /// is read again every 30 seconds: another process may have fitted one.
    /// </summary>
    public EmbeddingBasis? Basis
    {
        get
        {
            var snapshot = Volatile.Read(ref _snapshot);
            if (snapshot.Own is null && _clock.GetElapsedTime(snapshot.LoadedAt) >= RecheckAfter)
            {
                snapshot = Read(snapshot);
            }

            return snapshot.Own;
        }
    }

    /// <summary>What is known of <see cref="Basis"/>; null until one is fitted.</summary>
    public EmbeddingBasisInfo? BasisInfo => Basis is null ? null : Volatile.Read(ref _snapshot).OwnInfo;

    /// <summary>The basis with this id, or null. An id not seen yet reads the catalog again (another process may have fitted it).</summary>
    public EmbeddingBasis? Find(int id)
    {
        var snapshot = Volatile.Read(ref _snapshot);
        if (snapshot.ById.TryGetValue(id, out var basis))
        {
            return basis;
        }

        // Another process may have fitted it since: read the bases again (a tiny table; a damaged row naming a basis that
        // does not exist pays this on its way to failing).
        return Read(snapshot).ById.GetValueOrDefault(id);
    }

    /// <summary>Reads every basis now (after this process fitted one; at open).</summary>
    public void Reload() => Read(null);

    /// <summary>Reads the bases unless another thread did since <paramref name="seen"/> was taken.</summary>
    private Snapshot Read(Snapshot? seen)
    {
        lock (_reading)
        {
            var current = Volatile.Read(ref _snapshot);
            if (seen is not null && !ReferenceEquals(current, seen))
            {
                return current;
            }

            using var connection = _open();
            using var command = connection.CreateCommand();
            command.CommandText = SelectSql;
            var byId = new Dictionary<int, EmbeddingBasis>();
            EmbeddingBasis? own = null;
            EmbeddingBasisInfo? ownInfo = null;
            using (var reader = command.ExecuteReader())
            {
                while (reader.Read())
                {
                    var id = Convert.ToInt32(reader.GetValue(0), System.Globalization.CultureInfo.InvariantCulture);
                    var model = reader.GetString(1);
                    EmbeddingBasis basis;
                    try
                    {
                        basis = EmbeddingBasis.FromBytes(
                            id, Convert.ToInt32(reader.GetValue(2), System.Globalization.CultureInfo.InvariantCulture),
                            (byte[])reader.GetValue(3), (byte[])reader.GetValue(4));
                    }
                    catch (InvalidDataException e)
                    {
                        throw new CatalogException($"The catalog's embedding basis {id} (model '{model}') cannot be read: {e.Message}", e);
                    }

                    byId[id] = basis;
                    if (model == _modelId)
                    {
                        own = basis;
                        ownInfo = new EmbeddingBasisInfo(
                            id, model, basis.Dimensions, basis.Components,
                            Convert.ToInt32(reader.GetValue(5), System.Globalization.CultureInfo.InvariantCulture),
                            reader.GetDouble(6), ReadTime(reader.GetValue(7)));
                    }
                }
            }

            var next = new Snapshot(byId.ToFrozenDictionary(), own, ownInfo, _clock.GetTimestamp());
            Volatile.Write(ref _snapshot, next);
            return next;
        }
    }

    /// <summary>The stored vector of face <paramref name="faceId"/>; a row that is not an embedding fails naming the face.</summary>
    public float[] Decode(long faceId, byte[] blob)
    {
        try
        {
            return EmbeddingCodec.Decode(blob, Find);
        }
        catch (InvalidDataException e)
        {
            throw new CatalogException($"Face {faceId}: its stored embedding cannot be read ({e.Message}).", e);
        }
    }

    /// <summary>Rows <see cref="FirstDimensions"/> looks at: the model's first faces.</summary>
    public const int DimensionRows = 16;

    /// <summary>
    /// The number of components of the first of these stored embeddings that can be read (0: none can, or there are none).
    /// A damaged row is left for the read that meets it to report: it must not keep the catalog from opening.
    /// </summary>
    public int FirstDimensions(IEnumerable<(long Id, byte[] Blob)> rows)
    {
        foreach (var (id, blob) in rows)
        {
            try
            {
                return Dimensions(id, blob);
            }
            catch (CatalogException)
            {
                // Damaged: try the next face.
            }
        }

        return 0;
    }

    /// <summary>The number of components of face <paramref name="faceId"/>'s stored embedding.</summary>
    public int Dimensions(long faceId, byte[] blob)
    {
        try
        {
            return EmbeddingCodec.Dimensions(blob, Find);
        }
        catch (InvalidDataException e)
        {
            throw new CatalogException($"Face {faceId}: its stored embedding cannot be read ({e.Message}).", e);
        }
    }

    /// <summary>
    /// The bytes to store for <paramref name="embedding"/> (in <paramref name="basis"/> when it holds it), and
    /// <paramref name="embedding"/> replaced in place with those bytes decoded: what every later read gives back.
    /// </summary>
    public static byte[] Encode(float[] embedding, EmbeddingBasis? basis)
    {
        var blob = EmbeddingCodec.Encode(embedding, basis);
        EmbeddingCodec.Decode(blob, embedding, id => id == basis?.Id ? basis : null);
        return blob;
    }

    /// <summary>
    /// The insert of a newly fitted basis, with parameters named after its columns and prefixed by
    /// <paramref name="prefix"/> (SQLite's <c>$</c>, PostgreSQL's <c>@</c>): a second fitter of the same model inserts
    /// nothing, and both read the one that landed.
    /// </summary>
    public static string InsertBasisSql(char prefix) =>
        "INSERT INTO embedding_bases(model_id, dimensions, components, directions, scales, sample_faces, dropped_energy, fitted_at) " +
        $"VALUES ({prefix}model, {prefix}dimensions, {prefix}components, {prefix}directions, {prefix}scales, {prefix}sample, {prefix}dropped, {prefix}at) " +
        "ON CONFLICT (model_id) DO NOTHING";

    /// <summary>The values of <see cref="InsertBasisSql"/>'s parameters (names without the prefix).</summary>
    public static (string Name, object Value)[] BasisValues(string modelId, EmbeddingBasis basis, int sampleFaces, DateTimeOffset at) =>
    [
        ("model", modelId), ("dimensions", basis.Dimensions), ("components", basis.Components), ("directions", basis.RowBytes()),
        ("scales", basis.ScaleBytes()), ("sample", sampleFaces), ("dropped", EmbeddingBasis.DroppedEnergy), ("at", SqliteCatalog.FormatTime(at)),
    ];

    /// <summary>
    /// A basis fitted to the decoded <paramref name="rows"/> (with a placeholder id: the catalog assigns the real one on
    /// insert), or null when no direction can be left out.
    /// </summary>
    public EmbeddingBasis? Fit(IReadOnlyList<(long Id, byte[] Blob)> rows, int dimensions)
    {
        var sample = new float[rows.Count * dimensions];
        var n = 0;
        foreach (var (id, blob) in rows)
        {
            var vector = Decode(id, blob);
            if (vector.Length == dimensions)
            {
                vector.CopyTo(sample, n * dimensions);
                n++;
            }
        }

        try
        {
            return EmbeddingBasis.Fit(1, sample.AsSpan(0, n * dimensions), n, dimensions);
        }
        catch (ArgumentException e)
        {
            throw new CatalogException($"The embedding basis cannot be fitted: {e.Message}", e);
        }
    }

    /// <summary>
    /// Compaction on either backend (<see cref="IEmbeddingBases.CompactEmbeddingsAsync"/>): pages of the model's rows in
    /// id order (<paramref name="readAfter"/> gives those after an id, empty at the end), each page's format-1 rows
    /// re-encoded in <paramref name="basis"/> and written in one transaction (<paramref name="write"/> returns the rows it
    /// changed: an erased one is gone).
    /// </summary>
    public async Task<EmbeddingCompaction> CompactAsync(
        EmbeddingBasis basis,
        Func<long, CancellationToken, Task<List<(long Id, byte[] Blob)>>> readAfter,
        Func<List<(long Id, byte[] Blob)>, CancellationToken, Task<long>> write,
        IProgress<EmbeddingCompaction>? progress,
        CancellationToken ct)
    {
        var (read, reencoded, outside, after) = (0L, 0L, 0L, 0L);
        while (await readAfter(after, ct).ConfigureAwait(false) is { Count: > 0 } page)
        {
            after = page[^1].Id;
            read += page.Count;
            var (updates, left) = Reencode(page, basis);
            outside += left;
            if (updates.Count > 0)
            {
                reencoded += await write(updates, ct).ConfigureAwait(false);
            }

            progress?.Report(new EmbeddingCompaction(read, reencoded, outside));
        }

        return new EmbeddingCompaction(read, reencoded, outside);
    }

    /// <summary>
    /// The rows of <paramref name="page"/> not yet in <paramref name="basis"/> (format 1) re-encoded in it, and how many
    /// lie too far outside it to be (they stay as they are).
    /// </summary>
    private (List<(long Id, byte[] Blob)> Updates, long Outside) Reencode(IReadOnlyList<(long Id, byte[] Blob)> page, EmbeddingBasis basis)
    {
        var updates = new List<(long, byte[])>();
        var outside = 0L;
        foreach (var (id, blob) in page)
        {
            if (blob is [EmbeddingCodec.BasisFormat, ..])
            {
                continue;
            }

            // A row that is neither format fails here, naming the face.
            var vector = Decode(id, blob);
            if (vector.Length != basis.Dimensions)
            {
                continue;
            }

            var encoded = EmbeddingCodec.Encode(vector, basis);
            if (encoded[0] == EmbeddingCodec.BasisFormat)
            {
                updates.Add((id, encoded));
            }
            else
            {
                outside++;
            }
        }

        return (updates, outside);
    }

    /// <summary>
    /// Face <paramref name="faceId"/>'s float16 embedding of schema 10 and before (two bytes a component) re-encoded as
    /// <see cref="EmbeddingCodec"/> bytes (migration 11); a row that is not one fails naming the face.
    /// </summary>
    public static byte[] FromFloat16(long faceId, byte[] half) =>
        half.Length == 0 || half.Length % 2 != 0
            ? throw new CatalogException(
                $"Face {faceId}: its float16 embedding has {half.Length} bytes, not two a component; migration 11 cannot re-encode it.")
            : EmbeddingCodec.Encode(VectorMath.FromHalfBlob(half));

    private static DateTimeOffset ReadTime(object value) => value switch
    {
        DateTimeOffset t => t,
        DateTime t => new DateTimeOffset(DateTime.SpecifyKind(t, DateTimeKind.Utc)),
        string s => DateTimeOffset.Parse(s, System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.RoundtripKind),
        _ => throw new CatalogException($"An embedding basis's fitting time is stored as {value.GetType().Name}."),
    };

    private sealed record Snapshot(FrozenDictionary<int, EmbeddingBasis> ById, EmbeddingBasis? Own, EmbeddingBasisInfo? OwnInfo, long LoadedAt);
}
