using System.Data.Common;
using System.Text;
using Lineup.Core.Audit;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace Lineup.Storage.Tests;

/// <summary>
/// Raw access to a catalog's audit tables as someone holding the database has it (the SQLite file; a PostgreSQL role
/// that may alter the tables): what the audit contract tests use to change rows behind the catalog's back. Statements
/// the two dialects read alike (parameters as <c>@name</c>, no digit separators) are written once in the tests; what
/// differs — removing the append-only guards, refusing inserts, storing a value that is not text — is a method here.
/// </summary>
public abstract class AuditTamperer : IAsyncDisposable
{
    private DbConnection? _connection;

    /// <summary>Raw access to the store of <paramref name="backend"/>.</summary>
    public static async Task<AuditTamperer> ForAsync<TCatalog>(ICatalogBackend<TCatalog> backend)
        where TCatalog : IAsyncDisposable => backend switch
        {
            SqliteBackend sqlite => new SqliteAuditTamperer(sqlite.DatabasePath),
            PostgresBackend postgres => new PostgresAuditTamperer(await postgres.ConnectionStringAsync()),
            _ => throw new NotSupportedException($"No raw access to backend {backend.Name}."),
        };

    /// <summary>The exception the database throws when a guard refuses a statement.</summary>
    public abstract Type RefusalType { get; }

    /// <summary>Runs <paramref name="sql"/> (one or more statements) outside any transaction.</summary>
    public async Task ExecuteAsync(string sql, params (string Name, object Value)[] parameters)
    {
        await using var command = (await ConnectionAsync()).CreateCommand();
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
        {
            Bind(command, name, value);
        }

        await command.ExecuteNonQueryAsync();
    }

    /// <summary>Takes the append-only guards off events and checkpoints.</summary>
    public abstract Task DropGuardsAsync();

    /// <summary>Makes the database refuse every insert into <paramref name="table"/> (as a full disk or a constraint would).</summary>
    public abstract Task RefuseInsertsAsync(string table);

    public abstract Task AllowInsertsAsync(string table);

    /// <summary>A field as bytes: a text's UTF-8, a blob as stored.</summary>
    public async Task<byte[]> ReadBytesAsync(string table, string field, string key, long id)
    {
        await using var command = (await ConnectionAsync()).CreateCommand();
        command.CommandText = $"SELECT {field} FROM {table} WHERE {key} = @id";
        Bind(command, "id", id);
        return await command.ExecuteScalarAsync() switch
        {
            string text => Encoding.UTF8.GetBytes(text),
            byte[] bytes => bytes,
            var other => throw new InvalidOperationException($"{table}.{field} of {id} is {other?.GetType().Name ?? "null"}"),
        };
    }

    /// <summary>Writes bytes back: into a text field (<paramref name="asText"/>) as text, whether or not they are still valid UTF-8.</summary>
    public async Task WriteBytesAsync(string table, string field, string key, long id, byte[] bytes, bool asText)
    {
        await using var command = (await ConnectionAsync()).CreateCommand();
        var (placeholder, value) = asText ? TextOf(bytes) : ("@value", (object)bytes);
        command.CommandText = $"UPDATE {table} SET {field} = {placeholder} WHERE {key} = @id";
        Bind(command, "value", value);
        Bind(command, "id", id);
        Assert.Equal(1, await command.ExecuteNonQueryAsync());
    }

    /// <summary>Stores an integer as event <paramref name="atSeq"/>'s time and a value that is not text as event <paramref name="actorSeq"/>'s actor.</summary>
    public abstract Task StoreValuesOfOtherTypesAsync(long atSeq, long actorSeq);

    /// <summary>What a careful forger does after changing events: every leaf hash recomputed from the fields, and the tree state.</summary>
    public async Task RecomputeLeavesAndTreeAsync()
    {
        var connection = await ConnectionAsync();
        var rows = new List<(long Seq, byte[] Leaf)>();
        await using (var read = connection.CreateCommand())
        {
            read.CommandText = "SELECT seq, at, actor, action, subject, details FROM audit_events ORDER BY seq";
            await using var reader = await read.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                var e = new AuditEvent(reader.GetInt64(0), AuditEvent.ParseTime(reader.GetString(1)), reader.GetString(2), reader.GetString(3),
                    reader.GetString(4), AuditDetails.Parse(reader.GetString(5)));
                rows.Add((e.Seq, e.LeafHash()));
            }
        }

        var frontier = new MerkleFrontier();
        foreach (var row in rows)
        {
            frontier.Append(row.Leaf);
        }

        await using var tx = await connection.BeginTransactionAsync();
        await WriteLeafHashesAsync(connection, tx, rows);
        await using var tree = connection.CreateCommand();
        tree.Transaction = tx;
        tree.CommandText = "UPDATE audit_tree SET size = @size, frontier = @frontier WHERE id = 1";
        Bind(tree, "size", frontier.Size);
        Bind(tree, "frontier", frontier.ToBytes());
        await tree.ExecuteNonQueryAsync();
        await tx.CommitAsync();
    }

    public async ValueTask DisposeAsync()
    {
        if (_connection is not null)
        {
            await _connection.DisposeAsync();
        }

        GC.SuppressFinalize(this);
    }

    /// <summary>Sets each event's stored leaf hash, one statement per event.</summary>
    protected virtual async Task WriteLeafHashesAsync(DbConnection connection, DbTransaction tx, IReadOnlyList<(long Seq, byte[] Leaf)> rows)
    {
        await using var update = connection.CreateCommand();
        update.Transaction = tx;
        update.CommandText = "UPDATE audit_events SET leaf_hash = @leaf WHERE seq = @seq";
        var leaf = Bind(update, "leaf", Array.Empty<byte>());
        var seq = Bind(update, "seq", 0L);
        foreach (var row in rows)
        {
            leaf.Value = row.Leaf;
            seq.Value = row.Seq;
            await update.ExecuteNonQueryAsync();
        }
    }

    /// <summary>A connection of its own, not pooled, so that nothing stays open once the test ends.</summary>
    protected abstract DbConnection CreateConnection();

    /// <summary>How a text field is set to <paramref name="bytes"/>: the placeholder expression and the value bound to <c>@value</c>.</summary>
    protected abstract (string Placeholder, object Value) TextOf(byte[] bytes);

    protected async Task<DbConnection> ConnectionAsync()
    {
        if (_connection is null)
        {
            _connection = CreateConnection();
            await _connection.OpenAsync();
        }

        return _connection;
    }

    /// <summary>Both providers match a bare parameter name to <c>@name</c> in the statement.</summary>
    private static DbParameter Bind(DbCommand command, string name, object value)
    {
        var parameter = command.CreateParameter();
        parameter.ParameterName = name;
        parameter.Value = value;
        command.Parameters.Add(parameter);
        return parameter;
    }
}

/// <summary>The SQLite file, opened as anyone holding it can: the triggers are dropped, values of any type stored.</summary>
public sealed class SqliteAuditTamperer(string databasePath) : AuditTamperer
{
    public override Type RefusalType => typeof(SqliteException);

    public override Task DropGuardsAsync() => ExecuteAsync("""
        DROP TRIGGER audit_events_no_update; DROP TRIGGER audit_events_no_delete;
        DROP TRIGGER audit_checkpoints_no_update; DROP TRIGGER audit_checkpoints_no_delete;
        """);

    public override Task RefuseInsertsAsync(string table) =>
        ExecuteAsync($"CREATE TRIGGER refuse_{table} BEFORE INSERT ON {table} BEGIN SELECT RAISE(ABORT, 'no'); END;");

    public override Task AllowInsertsAsync(string table) => ExecuteAsync($"DROP TRIGGER refuse_{table};");

    /// <summary>SQLite keeps the storage class of what is written: an INTEGER time, a BLOB actor.</summary>
    public override Task StoreValuesOfOtherTypesAsync(long atSeq, long actorSeq) => ExecuteAsync(
        "UPDATE audit_events SET at = 20250304 WHERE seq = @at; UPDATE audit_events SET actor = CAST(actor AS BLOB) WHERE seq = @actor;",
        ("at", atSeq), ("actor", actorSeq));

    protected override DbConnection CreateConnection() => new SqliteConnection($"Data Source={databasePath};Pooling=False");

    /// <summary>The bytes as TEXT as they are, valid UTF-8 or not.</summary>
    protected override (string Placeholder, object Value) TextOf(byte[] bytes) => ("CAST(@value AS TEXT)", bytes);
}

/// <summary>
/// A PostgreSQL superuser on the catalog's schema: the append-only triggers are disabled (as anyone who may alter the
/// tables can), then rows changed. PostgreSQL enforces column types and UTF-8, so the nearest it allows is stored.
/// </summary>
public sealed class PostgresAuditTamperer(string connectionString) : AuditTamperer
{
    public override Type RefusalType => typeof(PostgresException);

    public override Task DropGuardsAsync() => ExecuteAsync("""
        ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update;
        ALTER TABLE audit_checkpoints DISABLE TRIGGER audit_checkpoints_no_change;
        """);

    public override Task RefuseInsertsAsync(string table) => ExecuteAsync($"""
        CREATE OR REPLACE FUNCTION refuse_insert() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'no'; END $$;
        CREATE TRIGGER refuse_{table} BEFORE INSERT ON {table} FOR EACH ROW EXECUTE FUNCTION refuse_insert();
        """);

    public override Task AllowInsertsAsync(string table) => ExecuteAsync($"DROP TRIGGER refuse_{table} ON {table};");

    /// <summary>
    /// The integer is stored as its digits (a text column takes it by assignment cast); a column holds one type, so the
    /// actor's non-text value is a NULL, once the NOT NULL constraint is dropped.
    /// </summary>
    public override Task StoreValuesOfOtherTypesAsync(long atSeq, long actorSeq) => ExecuteAsync(
        """
        ALTER TABLE audit_events ALTER COLUMN actor DROP NOT NULL;
        UPDATE audit_events SET at = 20250304 WHERE seq = @at;
        UPDATE audit_events SET actor = NULL WHERE seq = @actor;
        """,
        ("at", atSeq), ("actor", actorSeq));

    /// <summary>One statement for all events: 10,000 round trips to the server took about 10 s on the shared test machine.</summary>
    protected override async Task WriteLeafHashesAsync(DbConnection connection, DbTransaction tx, IReadOnlyList<(long Seq, byte[] Leaf)> rows)
    {
        await using var update = new NpgsqlCommand(
            "UPDATE audit_events e SET leaf_hash = v.leaf FROM unnest(@seqs, @leaves) AS v(seq, leaf) WHERE e.seq = v.seq",
            (NpgsqlConnection)connection, (NpgsqlTransaction)tx);
        update.Parameters.AddWithValue("seqs", rows.Select(r => r.Seq).ToArray());
        update.Parameters.AddWithValue("leaves", rows.Select(r => r.Leaf).ToArray());
        await update.ExecuteNonQueryAsync();
    }

    protected override DbConnection CreateConnection() =>
        new NpgsqlConnection(new NpgsqlConnectionStringBuilder(connectionString) { Pooling = false }.ConnectionString);

    /// <summary>
    /// A UTF-8 database stores only valid UTF-8 without NUL: the bytes are stored as the text they decode to, invalid
    /// sequences and NUL as U+FFFD (the text SQLite's reader sees, but for NUL). Either way the event's text changed.
    /// </summary>
    protected override (string Placeholder, object Value) TextOf(byte[] bytes) =>
        ("@value", Encoding.UTF8.GetString(bytes).Replace('\0', '\uFFFD'));
}
