using Lineup.Core.Catalog;
using Npgsql;

namespace Lineup.Storage.Postgres;

/// <summary>
/// The distributed catalog: the same contract as <see cref="SqliteCatalog"/> on a PostgreSQL server, so API replicas
/// and ingest workers on many machines share one system of record. Every connection commits synchronously
/// (<c>synchronous_commit=on</c>), so an acknowledged write survives a crash of the server. Unlike SQLite, PostgreSQL
/// takes concurrent writers: where the SQLite catalog relies on its single writer (an append-only chain, a sequence
/// that must stay a prefix), the PostgreSQL code takes a row lock or a transaction-scoped advisory lock instead.
/// </summary>
/// <remarks>
/// Tables live in the connection's first <c>search_path</c> schema (the tests give every catalog its own schema).
/// The schema is created at <see cref="Migrations.LatestVersion"/> on first open, under an advisory lock so that
/// processes opening a new database at once do not race.
/// </remarks>
public sealed partial class PostgresCatalog : IAsyncDisposable
{
    private const long SchemaLockKey = 0x4C696E6575700001; // "Lineup" + 1

    private readonly NpgsqlDataSource _source;
    private readonly TimeProvider _clock;
    private readonly StoredEmbeddings _embeddings;
    private int _embeddingDimensions;
    private int _disposed;

    private PostgresCatalog(NpgsqlDataSource source, string modelId, long schemaVersion, StoredEmbeddings embeddings, TimeProvider clock)
    {
        _source = source;
        ModelId = modelId;
        SchemaVersion = schemaVersion;
        _embeddings = embeddings;
        _clock = clock;
    }

    public string ModelId { get; }

    public long SchemaVersion { get; }

    /// <summary>The server and database, without credentials (for status output and errors).</summary>
    public string Describe() => Describe(_source.ConnectionString);

    /// <summary>
    /// Opens the catalog in the database <paramref name="connectionString"/> names, creating the schema when it is
    /// missing. A schema newer than this build is refused, as in SQLite.
    /// </summary>
    public static async Task<PostgresCatalog> OpenAsync(string connectionString, string modelId, TimeProvider clock, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        ArgumentException.ThrowIfNullOrWhiteSpace(modelId);
        ArgumentNullException.ThrowIfNull(clock);

        NpgsqlConnectionStringBuilder builder;
        try
        {
            builder = new NpgsqlConnectionStringBuilder(connectionString);
        }
        catch (ArgumentException ex)
        {
            throw new CatalogException($"The PostgreSQL connection string is not valid: {ex.Message}", ex);
        }

        // An acknowledged write is durable on the server whatever the server's default says.
        builder.Options = string.IsNullOrEmpty(builder.Options) ? "-c synchronous_commit=on" : builder.Options + " -c synchronous_commit=on";
        builder.ApplicationName ??= "lineup";
        var source = NpgsqlDataSource.Create(builder.ConnectionString);
        try
        {
            await using var connection = await source.OpenConnectionAsync(ct).ConfigureAwait(false);
            var version = await EnsureSchemaAsync(connection, clock, ct).ConfigureAwait(false);
            var embeddings = new StoredEmbeddings(modelId, clock, source.OpenConnection);
            embeddings.Reload();
            return new PostgresCatalog(source, modelId, version, embeddings, clock)
            {
                _embeddingDimensions = await ReadEmbeddingDimensionsAsync(connection, null, modelId, embeddings, ct).ConfigureAwait(false),
            };
        }
        catch (Exception ex) when (ex is NpgsqlException or PostgresException or TimeoutException)
        {
            await source.DisposeAsync().ConfigureAwait(false);
            throw new CatalogException($"Cannot open the PostgreSQL catalog at {Describe(connectionString)}: {ex.Message}", ex);
        }
        catch
        {
            await source.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private static async Task<long> EnsureSchemaAsync(NpgsqlConnection connection, TimeProvider clock, CancellationToken ct)
    {
        await using var tx = await connection.BeginTransactionAsync(ct).ConfigureAwait(false);
        await using (var lockCommand = new NpgsqlCommand("SELECT pg_advisory_xact_lock(@key)", connection, tx))
        {
            lockCommand.Parameters.AddWithValue("key", SchemaLockKey);
            await lockCommand.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }

        await using (var create = new NpgsqlCommand(
            "CREATE TABLE IF NOT EXISTS schema_version (version bigint PRIMARY KEY, description text NOT NULL, applied_at text NOT NULL)",
            connection, tx))
        {
            await create.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }

        long current;
        await using (var read = new NpgsqlCommand("SELECT coalesce(max(version), 0) FROM schema_version", connection, tx))
        {
            current = (long)(await read.ExecuteScalarAsync(ct).ConfigureAwait(false))!;
        }

        if (current > Migrations.LatestVersion)
        {
            throw new CatalogException(
                $"The PostgreSQL catalog has schema version {current}, newer than this build supports ({Migrations.LatestVersion}). " +
                "Upgrade Lineup; do not open a newer catalog with an older build.");
        }

        if (current == 0)
        {
            await using (var create = new NpgsqlCommand(PostgresSchema.Create, connection, tx))
            {
                await create.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }

            await using var record = new NpgsqlCommand(
                "INSERT INTO schema_version(version, description, applied_at) VALUES (@v, @d, @t)", connection, tx);
            record.Parameters.AddWithValue("v", (long)Migrations.LatestVersion);
            record.Parameters.AddWithValue("d", "PostgreSQL catalog created at the SQLite catalog's latest schema");
            record.Parameters.AddWithValue("t", SqliteCatalog.FormatTime(clock.GetUtcNow()));
            await record.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            current = Migrations.LatestVersion;
        }
        else if (current < Migrations.LatestVersion)
        {
            if (current < FirstMigratableVersion)
            {
                throw new CatalogException(
                    $"The PostgreSQL catalog has schema version {current}; this build needs {Migrations.LatestVersion} and has no " +
                    "PostgreSQL migration from it.");
            }

            for (var version = (int)current + 1; version <= Migrations.LatestVersion; version++)
            {
                await MigrateAsync(connection, tx, version, ct).ConfigureAwait(false);
                await using var record = new NpgsqlCommand(
                    "INSERT INTO schema_version(version, description, applied_at) VALUES (@v, @d, @t)", connection, tx);
                record.Parameters.AddWithValue("v", (long)version);
                record.Parameters.AddWithValue("d", Migrations.All.Single(m => m.Version == version).Description);
                record.Parameters.AddWithValue("t", SqliteCatalog.FormatTime(clock.GetUtcNow()));
                await record.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }

            current = Migrations.LatestVersion;
        }

        await tx.CommitAsync(ct).ConfigureAwait(false);
        return current;
    }

    /// <summary>The oldest schema a PostgreSQL catalog can be migrated from (older ones were created before the steps below).</summary>
    private const int FirstMigratableVersion = 10;

    /// <summary>
    /// Brings the schema from <paramref name="version"/> - 1 to <paramref name="version"/>, as the SQLite migration of that
    /// number does, inside the schema transaction.
    /// </summary>
    private static async Task MigrateAsync(NpgsqlConnection connection, NpgsqlTransaction tx, int version, CancellationToken ct)
    {
        switch (version)
        {
            case 11:
                await ReencodeFloat16EmbeddingsAsync(connection, tx, ct).ConfigureAwait(false);
                break;
            case 12:
                await using (var create = new NpgsqlCommand(PostgresSchema.EmbeddingBases, connection, tx))
                {
                    await create.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                }

                break;
            default:
                throw new CatalogException($"This build has no PostgreSQL migration to schema version {version}.");
        }
    }

    /// <summary>Migration 11: every face's float16 embedding re-encoded as <see cref="Lineup.Core.Numerics.EmbeddingCodec"/> bytes, in keyset pages.</summary>
    private static async Task ReencodeFloat16EmbeddingsAsync(NpgsqlConnection connection, NpgsqlTransaction tx, CancellationToken ct)
    {
        const int PageSize = 10_000;
        var after = 0L;
        var ids = new List<long>(PageSize);
        var blobs = new List<byte[]>(PageSize);
        while (true)
        {
            ids.Clear();
            blobs.Clear();
            await using (var read = new NpgsqlCommand("SELECT id, embedding FROM faces WHERE id > @after ORDER BY id LIMIT @limit", connection, tx))
            {
                read.Parameters.AddWithValue("after", after);
                read.Parameters.AddWithValue("limit", PageSize);
                await using var reader = await read.ExecuteReaderAsync(ct).ConfigureAwait(false);
                while (await reader.ReadAsync(ct).ConfigureAwait(false))
                {
                    ids.Add(reader.GetInt64(0));
                    blobs.Add(StoredEmbeddings.FromFloat16(ids[^1], reader.GetFieldValue<byte[]>(1)));
                }
            }

            if (ids.Count == 0)
            {
                return;
            }

            await using (var write = new NpgsqlCommand(
                "UPDATE faces SET embedding = u.embedding FROM unnest(@ids, @embeddings) AS u(id, embedding) WHERE faces.id = u.id",
                connection, tx))
            {
                write.Parameters.AddWithValue("ids", ids.ToArray());
                write.Parameters.AddWithValue("embeddings", blobs.ToArray());
                await write.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }

            after = ids[^1];
        }
    }

    /// <summary>The number of components of the model's stored embeddings (<see cref="StoredEmbeddings.FirstDimensions"/>).</summary>
    private static async Task<int> ReadEmbeddingDimensionsAsync(
        NpgsqlConnection connection, NpgsqlTransaction? tx, string modelId, StoredEmbeddings embeddings, CancellationToken ct)
    {
        await using var command = new NpgsqlCommand(
            $"SELECT id, embedding FROM faces WHERE model_id = @model ORDER BY id LIMIT {StoredEmbeddings.DimensionRows}", connection, tx);
        command.Parameters.AddWithValue("model", modelId);
        await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        var rows = new List<(long, byte[])>();
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            rows.Add((reader.GetInt64(0), reader.GetFieldValue<byte[]>(1)));
        }

        return embeddings.FirstDimensions(rows);
    }

    /// <summary>A pooled connection, open.</summary>
    internal async Task<NpgsqlConnection> OpenConnectionAsync(CancellationToken ct)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        return await _source.OpenConnectionAsync(ct).ConfigureAwait(false);
    }

    internal static string Describe(string connectionString)
    {
        try
        {
            var b = new NpgsqlConnectionStringBuilder(connectionString);
            return $"{b.Host}:{b.Port}/{b.Database}" + (string.IsNullOrEmpty(b.SearchPath) ? "" : $" (schema {b.SearchPath})");
        }
        catch (ArgumentException)
        {
            return "(unparsable connection string)";
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _source.DisposeAsync().ConfigureAwait(false);
    }
}
