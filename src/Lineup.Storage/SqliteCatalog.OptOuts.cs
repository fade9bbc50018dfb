using System.Runtime.InteropServices;
using System.Text.Json;
using Lineup.Core.Oversight;
using Microsoft.Data.Sqlite;

namespace Lineup.Storage;

/// <summary>
/// The opt-out registry (<see cref="IOptOutStore"/>). A request with matching gallery faces is recorded inside the
/// erasure's own transaction (<c>secure_delete</c>, receipt, compaction: see SqliteCatalog.Erasure.cs), so that the
/// request, its audit event, the deletes and the erasure receipt commit together or not at all.
/// </summary>
public sealed partial class SqliteCatalog : IOptOutStore
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
            var recorded = await WriteAsync(async tx =>
            {
                var id = await InsertOptOutAsync(tx, request, note, 0, 0, by, ct).ConfigureAwait(false);

                // Searches record the gallery version: from now on this state of the gallery withholds the person.
                await BumpGalleryVersionAsync(tx, ct).ConfigureAwait(false);
                return (await ReadOptOutAsync(_writer, tx, id, ct).ConfigureAwait(false))!;
            }, ct).ConfigureAwait(false);
            return new OptOutRegistration(recorded, null);
        }

        var set = JsonSerializer.Serialize(erase.Distinct().Order().ToList());
        var optOutId = 0L;
        var receipt = await EraseAsync(async tx =>
        {
            var known = await IdsAsync(tx, "SELECT id FROM faces WHERE id IN (SELECT value FROM json_each($root)) ORDER BY id", set, ct).ConfigureAwait(false);

            // The images stay, but not their previews: a preview shows the person's face (ingest keeps none of such an image either).
            var previews = await ExecuteInAsync(
                tx, "DELETE FROM image_previews WHERE image_id IN (SELECT image_id FROM faces WHERE id IN (SELECT value FROM json_each($root)))", set, ct)
                .ConfigureAwait(false);
            optOutId = await InsertOptOutAsync(tx, request, note, known.Count, previews, by, ct).ConfigureAwait(false);

            // The same deletes as EraseFacesAsync: thumbnails, then the faces with their embeddings.
            await ExecuteInAsync(tx, "DELETE FROM face_thumbnails WHERE face_id IN (SELECT value FROM json_each($root))", set, ct).ConfigureAwait(false);
            await ExecuteInAsync(tx, "DELETE FROM faces WHERE id IN (SELECT value FROM json_each($root))", set, ct).ConfigureAwait(false);
            return ((IReadOnlyList<long>)[], known, 0L, OptOutRequests.Subject(optOutId));
        }, by, ct).ConfigureAwait(false);
        return new OptOutRegistration((await GetOptOutAsync(optOutId, ct).ConfigureAwait(false))!, receipt);
    }

    public async Task<OptOutRecord?> GetOptOutAsync(long id, CancellationToken ct = default)
    {
        await using var connection = await OpenReaderAsync(ct).ConfigureAwait(false);
        return await ReadOptOutAsync(connection, null, id, ct).ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<OptOutRecord>> ListOptOutsAsync(CancellationToken ct = default)
    {
        await using var connection = await OpenReaderAsync(ct).ConfigureAwait(false);
        using var command = connection.CreateCommand();
        command.CommandText = $"SELECT {OptOutColumns} FROM opt_outs o ORDER BY o.id DESC";
        var list = new List<OptOutRecord>();
        using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            list.Add(ReadOptOut(reader));
        }

        return list;
    }

    public async Task<IReadOnlyList<OptOutEmbedding>> ReadOptOutEmbeddingsAsync(CancellationToken ct = default)
    {
        await using var connection = await OpenReaderAsync(ct).ConfigureAwait(false);
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT opt_out_id, embedding FROM opt_out_embeddings ORDER BY id";
        var list = new List<OptOutEmbedding>();
        using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            var blob = (byte[])reader.GetValue(1);
            list.Add(new OptOutEmbedding(reader.GetInt64(0), MemoryMarshal.Cast<byte, float>(blob).ToArray()));
        }

        return list;
    }

    public async Task<long> OptOutVersionAsync(CancellationToken ct = default)
    {
        await using var connection = await OpenReaderAsync(ct).ConfigureAwait(false);
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT coalesce(max(id), 0) FROM opt_outs";
        return (long)(await command.ExecuteScalarAsync(ct).ConfigureAwait(false))!;
    }

    /// <summary>
    /// Inserts the request and its embeddings (float32, as computed: they are compared at a threshold, and the registry is
    /// small) and appends its audit event: reference and counts only, never an embedding or the note.
    /// </summary>
    private async Task<long> InsertOptOutAsync(
        SqliteTransaction tx, NewOptOut request, string? note, long facesErased, long previewsErased, string by, CancellationToken ct)
    {
        using var insert = _writer.CreateCommand();
        insert.Transaction = tx;
        insert.CommandText = """
            INSERT INTO opt_outs(reference, note, recorded_at, recorded_by, faces_erased) VALUES ($reference, $note, $now, $by, $erased) RETURNING id
            """;
        insert.Parameters.AddWithValue("$reference", request.Reference.Trim());
        insert.Parameters.AddWithValue("$note", (object?)note ?? DBNull.Value);
        insert.Parameters.AddWithValue("$now", FormatTime(_clock.GetUtcNow()));
        insert.Parameters.AddWithValue("$by", by);
        insert.Parameters.AddWithValue("$erased", facesErased);
        var id = (long)(await insert.ExecuteScalarAsync(ct).ConfigureAwait(false))!;

        using var embedding = _writer.CreateCommand();
        embedding.Transaction = tx;
        embedding.CommandText = "INSERT INTO opt_out_embeddings(opt_out_id, embedding) VALUES ($id, $embedding)";
        foreach (var vector in request.Embeddings)
        {
            embedding.Parameters.Clear();
            embedding.Parameters.AddWithValue("$id", id);
            embedding.Parameters.AddWithValue("$embedding", MemoryMarshal.AsBytes(vector.AsSpan()).ToArray());
            await embedding.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }

        await AppendAuditAsync(tx, OptOutRequests.RecordedEvent(id, request, facesErased, previewsErased, by), ct).ConfigureAwait(false);
        return id;
    }

    private static async Task<OptOutRecord?> ReadOptOutAsync(SqliteConnection connection, SqliteTransaction? tx, long id, CancellationToken ct)
    {
        using var command = connection.CreateCommand();
        command.Transaction = tx;
        command.CommandText = $"SELECT {OptOutColumns} FROM opt_outs o WHERE o.id = $id";
        command.Parameters.AddWithValue("$id", id);
        using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        return await reader.ReadAsync(ct).ConfigureAwait(false) ? ReadOptOut(reader) : null;
    }

    private static OptOutRecord ReadOptOut(SqliteDataReader r) =>
        new(
            r.GetInt64(0),
            r.GetString(1),
            r.IsDBNull(2) ? null : r.GetString(2),
            ParseTime(r.GetString(3)),
            r.GetString(4),
            r.GetInt32(6),
            r.GetInt64(5));
}
