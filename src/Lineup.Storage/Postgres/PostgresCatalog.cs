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
    private int _embeddingDimensions;
    private int _disposed;

    private PostgresCatalog(NpgsqlDataSource source, string modelId, long schemaVersion, int embeddingDimensions, TimeProvider clock)
    {
        _source = source;
        ModelId = modelId;
        SchemaVersion = schemaVersion;
        _embeddingDimensions = embeddingDimensions;
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
            var dimensions = await ReadEmbeddingDimensionsAsync(connection, modelId, ct).ConfigureAwait(false);
            return new PostgresCatalog(source, modelId, version, dimensions, clock);
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
            throw new CatalogException(
                $"The PostgreSQL catalog has schema version {current}; this build needs {Migrations.LatestVersion} and has no " +
                "PostgreSQL migration from it.");
        }

        await tx.CommitAsync(ct).ConfigureAwait(false);
        return current;
    }

    private static async Task<int> ReadEmbeddingDimensionsAsync(NpgsqlConnection connection, string modelId, CancellationToken ct)
    {
        await using var command = new NpgsqlCommand(
            "SELECT length(embedding) / 2 FROM faces WHERE model_id = @model ORDER BY id LIMIT 1", connection);
        command.Parameters.AddWithValue("model", modelId);
        var value = await command.ExecuteScalarAsync(ct).ConfigureAwait(false);
        return value is null or DBNull ? 0 : Convert.ToInt32(value, System.Globalization.CultureInfo.InvariantCulture);
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
