using Microsoft.Data.Sqlite;
using Npgsql;

namespace Lineup.Storage.Tests;

/// <summary>
/// Raw SQL against a contract test's store, for what the catalog's API does not do on purpose (delete a row behind its
/// back, count rows of a table). Statements name their one parameter <c>@id</c>, which both SQLite and PostgreSQL read.
/// </summary>
internal static class BackendSql
{
    /// <summary>Runs <paramref name="sql"/> (with <c>@blob</c> bound to <paramref name="blob"/> when given); returns the rows it changed.</summary>
    public static async Task<int> ExecuteAsync<TCatalog>(ICatalogBackend<TCatalog> backend, string sql, long id = 0, byte[]? blob = null)
        where TCatalog : IAsyncDisposable
    {
        switch (backend)
        {
            case SqliteBackend sqlite:
            {
                await using var connection = new SqliteConnection($"Data Source={sqlite.DatabasePath};Foreign Keys=True;Pooling=False");
                await connection.OpenAsync();
                using var command = connection.CreateCommand();
                command.CommandText = sql;
                command.Parameters.AddWithValue("@id", id);
                if (blob is not null)
                {
                    command.Parameters.AddWithValue("@blob", blob);
                }

                return await command.ExecuteNonQueryAsync();
            }

            case PostgresBackend postgres:
            {
                await using var connection = new NpgsqlConnection(await postgres.ConnectionStringAsync());
                await connection.OpenAsync();
                await using var command = new NpgsqlCommand(sql, connection);
                command.Parameters.AddWithValue("id", id);
                if (blob is not null)
                {
                    command.Parameters.AddWithValue("blob", blob);
                }

                return await command.ExecuteNonQueryAsync();
            }

            default:
                throw new NotSupportedException($"No raw SQL for backend {backend.Name}.");
        }
    }

    /// <summary>The first column of the first row of <paramref name="sql"/>, as a 64-bit integer.</summary>
    public static async Task<long> ScalarAsync<TCatalog>(ICatalogBackend<TCatalog> backend, string sql, long id = 0)
        where TCatalog : IAsyncDisposable
    {
        switch (backend)
        {
            case SqliteBackend sqlite:
            {
                await using var connection = new SqliteConnection($"Data Source={sqlite.DatabasePath};Foreign Keys=True;Pooling=False");
                await connection.OpenAsync();
                using var command = connection.CreateCommand();
                command.CommandText = sql;
                command.Parameters.AddWithValue("@id", id);
                return Convert.ToInt64(await command.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture);
            }

            case PostgresBackend postgres:
            {
                await using var connection = new NpgsqlConnection(await postgres.ConnectionStringAsync());
                await connection.OpenAsync();
                await using var command = new NpgsqlCommand(sql, connection);
                command.Parameters.AddWithValue("id", id);
                return Convert.ToInt64(await command.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture);
            }

            default:
                throw new NotSupportedException($"No raw SQL for backend {backend.Name}.");
        }
    }
}
