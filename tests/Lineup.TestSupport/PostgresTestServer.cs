using Npgsql;
using Xunit;

namespace Lineup.TestSupport;

/// <summary>
/// The PostgreSQL server the distributed-catalog tests run against: <c>LINEUP_TEST_POSTGRES</c>, else the one
/// <c>.ci/run</c> starts on 127.0.0.1:5432 (role and database <c>lineup</c>). Every test gets a schema of its own
/// (<see cref="CreateSchemaAsync"/>), dropped when it ends, so tests never see each other's rows. On CI a server that
/// cannot be reached fails the test; on a developer machine without one the test is skipped.
/// </summary>
public static class PostgresTestServer
{
    public const string DefaultConnectionString =
        "Host=127.0.0.1;Port=5432;Username=lineup;Password=lineup;Database=lineup;Timeout=5;Command Timeout=60";

    private static readonly SemaphoreSlim s_probeGate = new(1, 1);
    private static string? s_unreachable;
    private static bool s_probed;

    public static string ConnectionString =>
        Environment.GetEnvironmentVariable("LINEUP_TEST_POSTGRES") is { Length: > 0 } env ? env : DefaultConnectionString;

    /// <summary>Skips (or on CI fails) when the server cannot be reached.</summary>
    public static async Task RequireAsync()
    {
        await s_probeGate.WaitAsync();
        try
        {
            if (!s_probed)
            {
                try
                {
                    await using var connection = new NpgsqlConnection(ConnectionString);
                    await connection.OpenAsync();
                }
                catch (Exception ex) when (ex is NpgsqlException or TimeoutException or System.Net.Sockets.SocketException)
                {
                    s_unreachable = ex.Message;
                }

                s_probed = true;
            }
        }
        finally
        {
            s_probeGate.Release();
        }

        if (s_unreachable is null)
        {
            return;
        }

        var message = $"PostgreSQL is not reachable at {Describe()}: {s_unreachable} (.ci/run starts it; set LINEUP_TEST_POSTGRES to use another)";
        if (TestPaths.IsCi)
        {
            throw new InvalidOperationException("CI=true but " + message);
        }

        Skip.If(true, message);
    }

    /// <summary>A new empty schema; its connection string puts it first on the search path.</summary>
    public static async Task<PostgresTestSchema> CreateSchemaAsync()
    {
        await RequireAsync();
        var name = "t_" + Guid.NewGuid().ToString("N")[..20];
        await using (var connection = new NpgsqlConnection(ConnectionString))
        {
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand($"CREATE SCHEMA {name}", connection);
            await command.ExecuteNonQueryAsync();
        }

        var builder = new NpgsqlConnectionStringBuilder(ConnectionString) { SearchPath = name };
        return new PostgresTestSchema(name, builder.ConnectionString);
    }

    private static string Describe()
    {
        var b = new NpgsqlConnectionStringBuilder(ConnectionString);
        return $"{b.Host}:{b.Port}/{b.Database}";
    }
}

/// <summary>A schema of its own for one test; dropped (with everything in it) on dispose.</summary>
public sealed class PostgresTestSchema(string name, string connectionString) : IAsyncDisposable
{
    public string Name { get; } = name;

    public string ConnectionString { get; } = connectionString;

    public async ValueTask DisposeAsync()
    {
        await using var connection = new NpgsqlConnection(PostgresTestServer.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand($"DROP SCHEMA IF EXISTS {Name} CASCADE", connection);
        await command.ExecuteNonQueryAsync();
    }
}
