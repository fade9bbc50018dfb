using System.Runtime.InteropServices;
using Lineup.Core.Audit;
using Lineup.Core.Oversight;
using Npgsql;
using NpgsqlTypes;

namespace Lineup.Storage.Postgres;

/// <summary>
/// The opt-out registry (<see cref="IOptOutStore"/>) on PostgreSQL. A request with matching gallery faces is recorded
/// inside the erasure's own transaction (receipt, gallery version, vacuum: see PostgresCatalog.Erasure.cs), so that the
/// request, its audit event, the deletes and the erasure receipt commit together or not at all, as in SQLite.
/// </summary>
/// <remarks>
/// Every recording takes the <see cref="WriteLock.OptOuts"/> advisory lock before its insert and holds it to the commit.
/// <see cref="OptOutVersionAsync"/> is the highest request id, and every process reloads the registry when it changes;
/// without the lock two recordings could take ids 5 and 6 and commit 6 first, and a process that read version 6 in
/// between would never see request 5. Under the lock ids become visible in the order they are taken.
/// </remarks>
public sealed partial class PostgresCatalog : IOptOutStore
{
    private const string OptOutColumns =
        "o.id, o.reference, o.note, o.recorded_at, o.recorded_by, o.faces_erased, (SELECT count(*) FROM opt_out_embeddings e WHERE e.opt_out_id = o.id)";

    public async Task<OptOutRegistration> AddOptOutAsync(NewOptOut request, IReadOnlyList<long> erase, string by, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(erase);
        ArgumentException.ThrowIfNullOrWhiteSpace(by);
        var note = OptOutRequests.Validate(request);
        if (erase.Count == 0)
        {
            var recorded = await WriteAsync(async (connection, tx) =>
            {
                await LockAsync(connection, tx, WriteLock.OptOuts, ct).ConfigureAwait(false);
                var (id, requestEvent) = await InsertOptOutAsync(connection, tx, request, note, 0, 0, by, ct).ConfigureAwait(false);

                // Searches record the gallery version: from now on this state of the gallery withholds the person.
                await BumpGalleryVersionAsync(connection, tx, ct).ConfigureAwait(false);
                await AppendAuditAsync(connection, tx, requestEvent, ct).ConfigureAwait(false);
                return (await ReadOptOutAsync(connection, tx, id, ct).ConfigureAwait(false))!;
            }, ct).ConfigureAwait(false);
            return new OptOutRegistration(recorded, null);
        }

        var set = erase.Distinct().Order().ToArray();
        var optOutId = 0L;
        var receipt = await EraseAsync(async (connection, tx) =>
        {
            await LockAsync(connection, tx, WriteLock.OptOuts, ct).ConfigureAwait(false);

            // Locked, so an erasure of the same faces running meanwhile is not counted twice: whichever commits second
            // finds them gone and passes over them.
            var known = await ErasureIdsAsync(connection, tx, "SELECT id FROM faces WHERE id = ANY(@ids) ORDER BY id FOR UPDATE", set, ct)
                .ConfigureAwait(false);
            var present = known.ToArray();

            // The images stay, but not their previews: a preview shows the person's face (ingest keeps none of such an image either).
            var previews = await ErasureExecuteAsync(
                connection, tx, "DELETE FROM image_previews WHERE image_id IN (SELECT image_id FROM faces WHERE id = ANY(@ids))", present, ct)
                .ConfigureAwait(false);
            (optOutId, var requestEvent) = await InsertOptOutAsync(connection, tx, request, note, known.Count, previews, by, ct).ConfigureAwait(false);

            // The same deletes as EraseFacesAsync: thumbnails, then the faces with their embeddings. The request's event
            // is logged just before the erasure receipt, both after the gallery bump (EraseAsync).
            await ErasureExecuteAsync(connection, tx, "DELETE FROM face_thumbnails WHERE face_id = ANY(@ids)", present, ct).ConfigureAwait(false);
            await ErasureExecuteAsync(connection, tx, "DELETE FROM faces WHERE id = ANY(@ids)", present, ct).ConfigureAwait(false);
            return new ErasedRows([], known, 0, OptOutRequests.Subject(optOutId), [requestEvent]);
        }, by, ct).ConfigureAwait(false);
        return new OptOutRegistration((await GetOptOutAsync(optOutId, ct).ConfigureAwait(false))!, receipt);
    }

    public async Task<OptOutRecord?> GetOptOutAsync(long id, CancellationToken ct = default)
    {
        await using var connection = await OpenConnectionAsync(ct).ConfigureAwait(false);
        return await ReadOptOutAsync(connection, null, id, ct).ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<OptOutRecord>> ListOptOutsAsync(CancellationToken ct = default)
    {
        await using var connection = await OpenConnectionAsync(ct).ConfigureAwait(false);
        await using var command = new NpgsqlCommand($"SELECT {OptOutColumns} FROM opt_outs o ORDER BY o.id DESC", connection);
        var list = new List<OptOutRecord>();
        await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            list.Add(ReadOptOut(reader));
        }

        return list;
    }

    public async Task<IReadOnlyList<OptOutEmbedding>> ReadOptOutEmbeddingsAsync(CancellationToken ct = default)
    {
        await using var connection = await OpenConnectionAsync(ct).ConfigureAwait(false);
        await using var command = new NpgsqlCommand("SELECT opt_out_id, embedding FROM opt_out_embeddings ORDER BY id", connection);
        var list = new List<OptOutEmbedding>();
        await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            var blob = (byte[])reader.GetValue(1);
            list.Add(new OptOutEmbedding(reader.GetInt64(0), MemoryMarshal.Cast<byte, float>(blob).ToArray()));
        }

        return list;
    }

    public async Task<long> OptOutVersionAsync(CancellationToken ct = default)
    {
        await using var connection = await OpenConnectionAsync(ct).ConfigureAwait(false);
        await using var command = new NpgsqlCommand("SELECT coalesce(max(id), 0) FROM opt_outs", connection);
        return (long)(await command.ExecuteScalarAsync(ct).ConfigureAwait(false))!;
    }

    /// <summary>Validates a request as SQLite does (the same checks and messages) and returns its note, trimmed, or null.</summary>
    /// <summary>
    /// Inserts the request and its embeddings (float32, as computed: they are compared at a threshold, and the registry is
    /// small) and returns its id and its audit event (reference and counts only, never an embedding or the note), which
    /// the caller appends as the write's last statement.
    /// </summary>
    private async Task<(long Id, NewAuditEvent Event)> InsertOptOutAsync(
        NpgsqlConnection connection, NpgsqlTransaction tx, NewOptOut request, string? note, long facesErased, long previewsErased, string by,
        CancellationToken ct)
    {
        var reference = request.Reference.Trim();
        long id;
        await using (var insert = new NpgsqlCommand(
            "INSERT INTO opt_outs(reference, note, recorded_at, recorded_by, faces_erased) VALUES (@reference, @note, @now, @by, @erased) RETURNING id",
            connection, tx))
        {
            insert.Parameters.AddWithValue("reference", reference);
            insert.Parameters.Add(new NpgsqlParameter("note", NpgsqlDbType.Text) { Value = (object?)note ?? DBNull.Value });
            insert.Parameters.AddWithValue("now", SqliteCatalog.FormatTime(_clock.GetUtcNow()));
            insert.Parameters.AddWithValue("by", by);
            insert.Parameters.AddWithValue("erased", checked((int)facesErased));
            id = (long)(await insert.ExecuteScalarAsync(ct).ConfigureAwait(false))!;
        }

        // One round trip for the request's embeddings (at most NewOptOut.MaxEmbeddings).
        await using (var batch = new NpgsqlBatch(connection, tx))
        {
            foreach (var vector in request.Embeddings)
            {
                var command = new NpgsqlBatchCommand("INSERT INTO opt_out_embeddings(opt_out_id, embedding) VALUES (@id, @embedding)");
                command.Parameters.AddWithValue("id", id);
                command.Parameters.AddWithValue("embedding", MemoryMarshal.AsBytes(vector.AsSpan()).ToArray());
                batch.BatchCommands.Add(command);
            }

            await batch.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }

        return (id, OptOutRequests.RecordedEvent(id, request, facesErased, previewsErased, by));
    }

    private static async Task<OptOutRecord?> ReadOptOutAsync(NpgsqlConnection connection, NpgsqlTransaction? tx, long id, CancellationToken ct)
    {
        await using var command = new NpgsqlCommand($"SELECT {OptOutColumns} FROM opt_outs o WHERE o.id = @id", connection, tx);
        command.Parameters.AddWithValue("id", id);
        await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        return await reader.ReadAsync(ct).ConfigureAwait(false) ? ReadOptOut(reader) : null;
    }

    /// <summary>A row of <see cref="OptOutColumns"/>: <c>faces_erased</c> is an integer column, the count a bigint.</summary>
    private static OptOutRecord ReadOptOut(NpgsqlDataReader r) =>
        new(
            r.GetInt64(0),
            r.GetString(1),
            r.IsDBNull(2) ? null : r.GetString(2),
            SqliteCatalog.ParseTime(r.GetString(3)),
            r.GetString(4),
            checked((int)r.GetInt64(6)),
            r.GetInt32(5));
}
