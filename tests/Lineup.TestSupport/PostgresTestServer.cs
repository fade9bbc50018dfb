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

    /// <summary>
    /// How long the first probe keeps trying before the server counts as unreachable for the whole test process. CI
    /// starts every test assembly at once on two cores, so one connect can take longer than the connection string's
    /// timeout while the server is perfectly well; a single slow attempt must not fail every test that follows it.
    /// </summary>
    private static readonly TimeSpan s_probeFor = TimeSpan.FromSeconds(60);

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
                s_unreachable = await ProbeAsync(ConnectionString, s_probeFor);
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

    /// <summary>
    /// Opens a connection until one succeeds or <paramref name="within"/> has passed; null when one did, else the last
    /// error and how many attempts were made. A refused connection on a machine without a server ends it early.
    /// </summary>
    internal static async Task<string?> ProbeAsync(string connectionString, TimeSpan within)
    {
        var probe = new NpgsqlConnectionStringBuilder(connectionString) { Pooling = false }.ConnectionString;
        var deadline = DateTime.UtcNow + within;
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await using var connection = new NpgsqlConnection(probe);
                await connection.OpenAsync();
                return null;
            }
            catch (Exception ex) when (ex is NpgsqlException or TimeoutException or System.Net.Sockets.SocketException)
            {
                // Nothing listening is a definite answer off CI; on CI the server may still be coming up.
                var refused = ex.InnerException is System.Net.Sockets.SocketException { SocketErrorCode: System.Net.Sockets.SocketError.ConnectionRefused }
                    || ex is System.Net.Sockets.SocketException { SocketErrorCode: System.Net.Sockets.SocketError.ConnectionRefused };
                if (DateTime.UtcNow >= deadline || (refused && !TestPaths.IsCi))
                {
                    return attempt == 1 ? ex.Message : $"{ex.Message} ({attempt} attempts in {within.TotalSeconds:0} s)";
                }
            }

            await Task.Delay(TimeSpan.FromSeconds(1));
        }
    }

    /// <summary>A new empty schema; its connection string puts it first on the search path.</summary>
    public static async Task<PostgresTestSchema> CreateSchemaAsync()
    {
        await RequireAsync();
        var name = "t_" + Guid.NewGuid().ToString("N")[..20];
        await using (var connection = new NpgsqlConnection(Patient(ConnectionString)))
        {
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand($"CREATE SCHEMA {name}", connection);
            await command.ExecuteNonQueryAsync();
        }

        var builder = new NpgsqlConnectionStringBuilder(Patient(ConnectionString)) { SearchPath = name };
        return new PostgresTestSchema(name, builder.ConnectionString);
    }

    /// <summary>
    /// The connection string with a connect timeout of at least 30 s: a loaded CI machine (every test assembly at once
    /// on two cores) can take longer than 5 s to hand out a connection, and a test is not about that.
    /// </summary>
    internal static string Patient(string connectionString)
    {
        var builder = new NpgsqlConnectionStringBuilder(connectionString);
        builder.Timeout = Math.Max(builder.Timeout, 30);
        return builder.ConnectionString;
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
        await using var connection = new NpgsqlConnection(PostgresTestServer.Patient(PostgresTestServer.ConnectionString));
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand($"DROP SCHEMA IF EXISTS {Name} CASCADE", connection);
        await command.ExecuteNonQueryAsync();
    }
}
