using Lineup.Storage.Postgres;

namespace Lineup.Storage.Tests;

/// <summary>
/// Where a contract test's catalog lives. One abstract test class states the contract once, generic over the catalog
/// type (constrained to the interfaces it exercises); a sealed subclass per backend runs it against SQLite and against
/// PostgreSQL. <see cref="OpenAsync"/> may be called again to reopen the same store (persistence checks).
/// </summary>
public interface ICatalogBackend<TCatalog> : IAsyncDisposable
    where TCatalog : IAsyncDisposable
{
    /// <summary>"sqlite" or "postgres", for messages.</summary>
    string Name { get; }

    Task<TCatalog> OpenAsync(TimeProvider? clock = null, string? modelId = null);
}

/// <summary>A catalog file in a temporary directory.</summary>
public sealed class SqliteBackend : ICatalogBackend<SqliteCatalog>
{
    private readonly TempDirectory _dir = new();

    public string Name => "sqlite";

    public string DatabasePath => _dir.File("catalog.db");

    public Task<SqliteCatalog> OpenAsync(TimeProvider? clock = null, string? modelId = null) =>
        SqliteCatalog.OpenAsync(DatabasePath, modelId ?? TestData.Model, clock ?? TimeProvider.System);

    public ValueTask DisposeAsync()
    {
        _dir.Dispose();
        return ValueTask.CompletedTask;
    }
}

/// <summary>A schema of its own on the test PostgreSQL server (<see cref="PostgresTestServer"/>), dropped afterwards.</summary>
public sealed class PostgresBackend : ICatalogBackend<PostgresCatalog>
{
    private PostgresTestSchema? _schema;

    public string Name => "postgres";

    /// <summary>The schema's connection string (created on first use; skips or fails when the server is unreachable).</summary>
    public async Task<string> ConnectionStringAsync()
    {
        _schema ??= await PostgresTestServer.CreateSchemaAsync();
        return _schema.ConnectionString;
    }

    public async Task<PostgresCatalog> OpenAsync(TimeProvider? clock = null, string? modelId = null) =>
        await PostgresCatalog.OpenAsync(await ConnectionStringAsync(), modelId ?? TestData.Model, clock ?? TimeProvider.System);

    public async ValueTask DisposeAsync()
    {
        if (_schema is not null)
        {
            await _schema.DisposeAsync();
        }
    }
}
