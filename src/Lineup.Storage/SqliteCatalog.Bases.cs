using Lineup.Core.Catalog;
using Lineup.Core.Numerics;
using Microsoft.Data.Sqlite;

namespace Lineup.Storage;

/// <summary>The model's embedding basis (<see cref="IEmbeddingBases"/>): fitting it, and re-encoding older rows in it.</summary>
public sealed partial class SqliteCatalog : IEmbeddingBases
{
    /// <summary>Rows per transaction of <see cref="CompactEmbeddingsAsync"/>.</summary>
    internal const int CompactionPageSize = 2_000;

    public Task<EmbeddingBasisInfo?> GetEmbeddingBasisAsync(CancellationToken ct = default)
    {
        ThrowIfDisposed();
        return Task.FromResult(_embeddings.BasisInfo);
    }

    public async Task<EmbeddingBasisInfo?> EnsureEmbeddingBasisAsync(int minimumFaces, CancellationToken ct = default)
    {
        ThrowIfDisposed();
        if (_embeddings.BasisInfo is { } existing)
        {
            return existing;
        }

        var dimensions = Volatile.Read(ref _embeddingDimensions);
        List<(long Id, byte[] Blob)> rows;
        await using (var connection = await OpenReaderAsync(ct).ConfigureAwait(false))
        {
            if (dimensions == 0)
            {
                // Another process may have written the first faces since this one opened.
                dimensions = await ReadEmbeddingDimensionsAsync(connection, ModelId, _embeddings, ct).ConfigureAwait(false);
                if (dimensions == 0)
                {
                    return null;
                }
            }

            using var count = connection.CreateCommand();
            count.CommandText = "SELECT count(*) FROM faces WHERE model_id = $model";
            count.Parameters.AddWithValue("$model", ModelId);
            var faces = (long)(await count.ExecuteScalarAsync(ct).ConfigureAwait(false))!;
            if (faces < Math.Max(minimumFaces, EmbeddingBasis.MinimumSample(dimensions)))
            {
                return null;
            }

            rows = await SampleAsync(connection, faces / EmbeddingBasis.MaxSampleFaces, ct).ConfigureAwait(false);
            if (rows.Count < EmbeddingBasis.MinimumSample(dimensions))
            {
                // Ids with gaps (erasures) can leave the stride short: take the first faces instead.
                rows = await SampleAsync(connection, 1, ct).ConfigureAwait(false);
            }
        }

        var basis = _embeddings.Fit(rows, dimensions);
        if (basis is null)
        {
            return null;
        }

        await _writeGate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            ThrowIfDisposed();
            using var insert = _writer.CreateCommand();
            insert.CommandText = StoredEmbeddings.InsertBasisSql('$');
            foreach (var (name, value) in StoredEmbeddings.BasisValues(ModelId, basis, rows.Count, _clock.GetUtcNow()))
            {
                insert.Parameters.AddWithValue("$" + name, value);
            }

            await insert.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }
        catch (SqliteException e)
        {
            throw new CatalogException($"The embedding basis of model '{ModelId}' could not be written: {e.Message}", e);
        }
        finally
        {
            _writeGate.Release();
        }

        _embeddings.Reload();
        return _embeddings.BasisInfo;

        async Task<List<(long, byte[])>> SampleAsync(SqliteConnection connection, long stride, CancellationToken token)
        {
            // Every stride-th id, read off the (model_id, id) index: a face row is read only when it is taken.
            using var command = connection.CreateCommand();
            command.CommandText = """
                SELECT id, embedding FROM faces
                WHERE model_id = $model AND id % $stride = 0
                ORDER BY id LIMIT $limit
                """;
            command.Parameters.AddWithValue("$model", ModelId);
            command.Parameters.AddWithValue("$stride", Math.Max(1, stride));
            command.Parameters.AddWithValue("$limit", EmbeddingBasis.MaxSampleFaces);
            var sample = new List<(long, byte[])>();
            using var reader = await command.ExecuteReaderAsync(token).ConfigureAwait(false);
            while (await reader.ReadAsync(token).ConfigureAwait(false))
            {
                sample.Add((reader.GetInt64(0), (byte[])reader.GetValue(1)));
            }

            return sample;
        }
    }

    public async Task<EmbeddingCompaction> CompactEmbeddingsAsync(IProgress<EmbeddingCompaction>? progress = null, CancellationToken ct = default)
    {
        ThrowIfDisposed();
        var basis = _embeddings.Basis
            ?? throw new CatalogException($"Model '{ModelId}' has no embedding basis yet: there is nothing to re-encode its embeddings in.");
        var compaction = await _embeddings.CompactAsync(basis, ReadPageAsync, WritePageAsync, progress, ct).ConfigureAwait(false);
        if (compaction.Reencoded > 0)
        {
            // The rows shrank in place: VACUUM gives the freed pages back to the file system (and drops the old bytes).
            await _writeGate.WaitAsync(ct).ConfigureAwait(false);
            try
            {
                ThrowIfDisposed();
                await CompactAsync().ConfigureAwait(false);
            }
            finally
            {
                _writeGate.Release();
            }
        }

        return compaction;

        async Task<List<(long Id, byte[] Blob)>> ReadPageAsync(long after, CancellationToken token)
        {
            var page = new List<(long Id, byte[] Blob)>(CompactionPageSize);
            await using var connection = await OpenReaderAsync(token).ConfigureAwait(false);
            using var command = connection.CreateCommand();
            command.CommandText = "SELECT id, embedding FROM faces WHERE model_id = $model AND id > $after ORDER BY id LIMIT $limit";
            command.Parameters.AddWithValue("$model", ModelId);
            command.Parameters.AddWithValue("$after", after);
            command.Parameters.AddWithValue("$limit", CompactionPageSize);
            using var reader = await command.ExecuteReaderAsync(token).ConfigureAwait(false);
            while (await reader.ReadAsync(token).ConfigureAwait(false))
            {
                page.Add((reader.GetInt64(0), (byte[])reader.GetValue(1)));
            }

            return page;
        }

        async Task<long> WritePageAsync(List<(long Id, byte[] Blob)> updates, CancellationToken token)
        {
            await _writeGate.WaitAsync(token).ConfigureAwait(false);
            try
            {
                ThrowIfDisposed();
                using var tx = _writer.BeginTransaction();
                using var update = _writer.CreateCommand();
                update.Transaction = tx;
                update.CommandText = "UPDATE faces SET embedding = $embedding WHERE id = $id";
                var id = update.Parameters.Add("$id", SqliteType.Integer);
                var embedding = update.Parameters.Add("$embedding", SqliteType.Blob);
                var changed = 0L;
                foreach (var (faceId, blob) in updates)
                {
                    id.Value = faceId;
                    embedding.Value = blob;
                    changed += await update.ExecuteNonQueryAsync(token).ConfigureAwait(false);
                }

                tx.Commit();
                return changed;
            }
            finally
            {
                _writeGate.Release();
            }
        }
    }
}
