using Lineup.Core.Catalog;
using Lineup.Core.Numerics;
using Npgsql;

namespace Lineup.Storage.Postgres;

/// <summary>
/// The model's embedding basis (<see cref="IEmbeddingBases"/>), as in SQLite. Workers that fit one at the same time
/// insert one row between them (the model id is unique); every other process reads it within 30 seconds.
/// </summary>
public sealed partial class PostgresCatalog : IEmbeddingBases
{
    public Task<EmbeddingBasisInfo?> GetEmbeddingBasisAsync(CancellationToken ct = default)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        return Task.FromResult(_embeddings.BasisInfo);
    }

    public async Task<EmbeddingBasisInfo?> EnsureEmbeddingBasisAsync(int minimumFaces, CancellationToken ct = default)
    {
        if (_embeddings.BasisInfo is { } existing)
        {
            return existing;
        }

        var dimensions = Volatile.Read(ref _embeddingDimensions);
        await using var connection = await OpenConnectionAsync(ct).ConfigureAwait(false);
        if (dimensions == 0)
        {
            dimensions = await ReadEmbeddingDimensionsAsync(connection, null, ModelId, _embeddings, ct).ConfigureAwait(false);
            if (dimensions == 0)
            {
                return null;
            }
        }

        long faces;
        await using (var count = new NpgsqlCommand("SELECT count(*) FROM faces WHERE model_id = @model", connection))
        {
            count.Parameters.AddWithValue("model", ModelId);
            faces = (long)(await count.ExecuteScalarAsync(ct).ConfigureAwait(false))!;
        }

        if (faces < Math.Max(minimumFaces, EmbeddingBasis.MinimumSample(dimensions)))
        {
            return null;
        }

        var rows = await SampleAsync(faces / EmbeddingBasis.MaxSampleFaces).ConfigureAwait(false);
        if (rows.Count < EmbeddingBasis.MinimumSample(dimensions))
        {
            // Ids with gaps (erasures) can leave the stride short: take the first faces instead.
            rows = await SampleAsync(1).ConfigureAwait(false);
        }

        var basis = _embeddings.Fit(rows, dimensions);
        if (basis is null)
        {
            return null;
        }

        await using (var insert = new NpgsqlCommand(StoredEmbeddings.InsertBasisSql('@'), connection))
        {
            foreach (var (name, value) in StoredEmbeddings.BasisValues(ModelId, basis, rows.Count, _clock.GetUtcNow()))
            {
                insert.Parameters.AddWithValue(name, value);
            }

            await insert.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }

        _embeddings.Reload();
        return _embeddings.BasisInfo;

        async Task<List<(long, byte[])>> SampleAsync(long stride)
        {
            await using var command = new NpgsqlCommand(
                "SELECT id, embedding FROM faces WHERE model_id = @model AND id % @stride = 0 ORDER BY id LIMIT @limit", connection);
            command.Parameters.AddWithValue("model", ModelId);
            command.Parameters.AddWithValue("stride", Math.Max(1, stride));
            command.Parameters.AddWithValue("limit", EmbeddingBasis.MaxSampleFaces);
            var sample = new List<(long, byte[])>();
            await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                sample.Add((reader.GetInt64(0), reader.GetFieldValue<byte[]>(1)));
            }

            return sample;
        }
    }

    public async Task<EmbeddingCompaction> CompactEmbeddingsAsync(IProgress<EmbeddingCompaction>? progress = null, CancellationToken ct = default)
    {
        var basis = _embeddings.Basis
            ?? throw new CatalogException($"Model '{ModelId}' has no embedding basis yet: there is nothing to re-encode its embeddings in.");
        await using var connection = await OpenConnectionAsync(ct).ConfigureAwait(false);
        var compaction = await _embeddings.CompactAsync(basis, ReadPageAsync, WritePageAsync, progress, ct).ConfigureAwait(false);
        if (compaction.Reencoded > 0)
        {
            // The old row versions hold the 517-byte encodings: make their space reusable now, as after an erasure.
            await VacuumAfterDeletionAsync(["faces"], "embedding compaction").ConfigureAwait(false);
        }

        return compaction;

        async Task<List<(long Id, byte[] Blob)>> ReadPageAsync(long after, CancellationToken token)
        {
            var page = new List<(long Id, byte[] Blob)>(SqliteCatalog.CompactionPageSize);
            await using var command = new NpgsqlCommand(
                "SELECT id, embedding FROM faces WHERE model_id = @model AND id > @after ORDER BY id LIMIT @limit", connection);
            command.Parameters.AddWithValue("model", ModelId);
            command.Parameters.AddWithValue("after", after);
            command.Parameters.AddWithValue("limit", SqliteCatalog.CompactionPageSize);
            await using var reader = await command.ExecuteReaderAsync(token).ConfigureAwait(false);
            while (await reader.ReadAsync(token).ConfigureAwait(false))
            {
                page.Add((reader.GetInt64(0), reader.GetFieldValue<byte[]>(1)));
            }

            return page;
        }

        async Task<long> WritePageAsync(List<(long Id, byte[] Blob)> updates, CancellationToken token)
        {
            // One statement, so one transaction: a page is re-encoded whole or not at all. A row erased meanwhile is
            // simply not there to update.
            await using var update = new NpgsqlCommand(
                "UPDATE faces SET embedding = u.embedding FROM unnest(@ids, @embeddings) AS u(id, embedding) WHERE faces.id = u.id",
                connection);
            update.Parameters.AddWithValue("ids", updates.Select(u => u.Id).ToArray());
            update.Parameters.AddWithValue("embeddings", updates.Select(u => u.Blob).ToArray());
            return await update.ExecuteNonQueryAsync(token).ConfigureAwait(false);
        }
    }
}
