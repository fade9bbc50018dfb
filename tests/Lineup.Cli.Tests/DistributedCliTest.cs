using System.Globalization;
using Lineup.TestSupport;
using Npgsql;

namespace Lineup.Cli.Tests;

/// <summary>
/// A test of the distributed backend through real <c>lineup</c> processes: a PostgreSQL schema and a Garnet key prefix
/// of its own (<see cref="StartAsync"/>), both dropped afterwards with the temporary directory.
/// </summary>
public abstract class DistributedCliTest(string name) : IAsyncLifetime
{
    private PostgresTestSchema? _schema;
    private string _prefix = "";

    protected TempDirectory Dir { get; } = new(name);

    protected PostgresTestSchema Schema => _schema ?? throw new InvalidOperationException("StartAsync first.");

    /// <summary>The environment every <c>lineup</c> process of the test runs with: the test's own index keys.</summary>
    protected Dictionary<string, string> Env => new() { ["LINEUP__Lineup__Distributed__KeyPrefix"] = _prefix };

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        if (_schema is not null)
        {
            await _schema.DisposeAsync();
        }

        if (_prefix.Length > 0)
        {
            await GarnetTestCluster.DeleteKeysAsync(GarnetTestCluster.Endpoints, _prefix);
        }

        Dir.Dispose();
    }

    /// <summary>The models, a fresh schema and key prefix; skips locally and fails on CI when a server is missing.</summary>
    protected async Task StartAsync()
    {
        await TestPaths.ModelsAsync();
        _schema = await PostgresTestServer.CreateSchemaAsync();
        await GarnetTestCluster.RequireAsync();
        _prefix = "test:" + Guid.NewGuid().ToString("N")[..12];
    }

    /// <summary>A command line on the distributed backend with the test's data directory, schema and cluster.</summary>
    protected string[] Distributed(params string[] args) =>
    [
        "--data", Dir.Combine("data"), "--models", TestPaths.ModelCache,
        "--backend", "distributed", "--postgres", Schema.ConnectionString, "--garnet", GarnetTestCluster.Endpoints, .. args,
    ];

    /// <summary>The first column of every row of <paramref name="sql"/> in the test's schema, as text.</summary>
    protected async Task<string[]> RowsAsync(string sql)
    {
        try
        {
            await using var connection = new NpgsqlConnection(Schema.ConnectionString);
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand(sql, connection);
            await using var reader = await command.ExecuteReaderAsync();
            var rows = new List<string>();
            while (await reader.ReadAsync())
            {
                rows.Add(Convert.ToString(reader.GetValue(0), CultureInfo.InvariantCulture)!);
            }

            return [.. rows];
        }
        catch (PostgresException e) when (e.SqlState == "42P01")
        {
            return ["0"]; // the tables are created by the first process that opens the catalog
        }
    }
}
