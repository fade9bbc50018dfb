using System.Globalization;
using Lineup.Core.Audit;
using Lineup.Core.Catalog;
using Npgsql;
using NpgsqlTypes;

namespace Lineup.Storage.Postgres;

/// <summary>
/// Erasure (<see cref="IErasure"/>) on PostgreSQL: the rows go in one transaction with the audit receipt and the gallery
/// version bump, as in <see cref="SqliteCatalog"/>; then the touched tables are vacuumed. PostgreSQL has no
/// <c>secure_delete</c>: the erased row versions are dead after the commit and freed by the <c>VACUUM</c>, but their bytes
/// are not overwritten on the spot, and stay in WAL segments until the server recycles them (see the remarks of
/// PostgresCatalog.Retention.cs). The receipt says what was erased; wiping the disk is the storage's job (encryption at
/// rest, <c>VACUUM FULL</c> in a maintenance window).
/// </summary>
/// <remarks>
/// SQLite had one writer, so reading what to erase and erasing it could not interleave with an ingest. Here the rows to
/// erase are locked (<c>FOR UPDATE</c>) before they are counted: an ingest that would add a near-duplicate copy or a face
/// to an image being erased waits on the image's row and then fails its foreign key, and two erasures of the same face
/// do not both claim it in their receipts (the second finds it gone and names it unknown).
/// </remarks>
public sealed partial class PostgresCatalog : IErasure
{
    /// <summary>The tables an erasure deletes from, vacuumed after it commits.</summary>
    private static readonly string[] s_erasureTables = ["face_thumbnails", "faces", "image_previews", "sightings", "images", "ingest_items"];

    public async Task<ErasureReceipt> EraseImageAsync(long imageId, string actor, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(actor);
        return await EraseAsync(async (connection, tx) =>
        {
            // A near-duplicate copy keeps no faces of its own: they are its original's. Erasing any member of the family
            // erases the original and every copy (one level deep: a copy always points at an image that is not a copy).
            var root = await ErasureScalarAsync(connection, tx, "SELECT coalesce(near_duplicate_of, id) FROM images WHERE id = @id", imageId, ct)
                .ConfigureAwait(false);

            // The original's row locked first: a copy inserted from now on needs a key-share lock on it, so the family read
            // next (in a statement of its own, with a fresh snapshot) is complete until the commit.
            if (root is null
                || await ErasureScalarAsync(connection, tx, "SELECT id FROM images WHERE id = @id FOR UPDATE", root.Value, ct).ConfigureAwait(false) is null)
            {
                throw new CatalogException(string.Create(CultureInfo.InvariantCulture, $"There is no image {imageId}."));
            }

            var images = await ErasureIdsAsync(
                connection, tx, "SELECT id FROM images WHERE id = @id OR near_duplicate_of = @id ORDER BY id FOR UPDATE", root.Value, ct).ConfigureAwait(false);
            var set = images.ToArray();
            var faces = await ErasureIdsAsync(connection, tx, "SELECT id FROM faces WHERE image_id = ANY(@ids) ORDER BY id FOR UPDATE", set, ct)
                .ConfigureAwait(false);

            // Explicit deletes rather than trusting ON DELETE CASCADE: the sighting count comes from the statement that
            // removed them, and the order (children first) is the same as in SQLite.
            await ErasureExecuteAsync(connection, tx, "DELETE FROM face_thumbnails WHERE face_id IN (SELECT id FROM faces WHERE image_id = ANY(@ids))", set, ct)
                .ConfigureAwait(false);
            await ErasureExecuteAsync(connection, tx, "DELETE FROM faces WHERE image_id = ANY(@ids)", set, ct).ConfigureAwait(false);
            await ErasureExecuteAsync(connection, tx, "DELETE FROM image_previews WHERE image_id = ANY(@ids)", set, ct).ConfigureAwait(false);
            var sightings = await ErasureExecuteAsync(connection, tx, "DELETE FROM sightings WHERE image_id = ANY(@ids)", set, ct).ConfigureAwait(false);

            // The ingest ledger keeps the record that the file was processed, without the link to what it produced.
            await ErasureExecuteAsync(connection, tx, "UPDATE ingest_items SET image_id = NULL WHERE image_id = ANY(@ids)", set, ct).ConfigureAwait(false);

            // Copies first: they reference the original.
            await ErasureExecuteAsync(connection, tx, "DELETE FROM images WHERE near_duplicate_of = ANY(@ids)", set, ct).ConfigureAwait(false);
            await ErasureExecuteAsync(connection, tx, "DELETE FROM images WHERE id = ANY(@ids)", set, ct).ConfigureAwait(false);
            return new ErasedRows(images, faces, sightings, string.Create(CultureInfo.InvariantCulture, $"image:{imageId}"), []);
        }, actor, ct).ConfigureAwait(false);
    }

    public async Task<ErasureReceipt> EraseFacesAsync(IReadOnlyList<long> faceIds, string actor, string? subject = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(faceIds);
        ArgumentException.ThrowIfNullOrWhiteSpace(actor);
        var wanted = ErasureReceipts.WantedFaces(faceIds);
        var set = wanted.ToArray();
        return await EraseAsync(async (connection, tx) =>
        {
            // Locked, so a concurrent erasure of the same faces waits, then finds them gone rather than erasing them twice.
            var known = await ErasureIdsAsync(connection, tx, "SELECT id FROM faces WHERE id = ANY(@ids) ORDER BY id FOR UPDATE", set, ct).ConfigureAwait(false);
            ErasureReceipts.ThrowIfUnknownFaces(wanted, known);

            await ErasureExecuteAsync(connection, tx, "DELETE FROM face_thumbnails WHERE face_id = ANY(@ids)", set, ct).ConfigureAwait(false);
            await ErasureExecuteAsync(connection, tx, "DELETE FROM faces WHERE id = ANY(@ids)", set, ct).ConfigureAwait(false);
            return new ErasedRows([], known, 0, subject ?? string.Create(CultureInfo.InvariantCulture, $"face:{known[0]}"), []);
        }, actor, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Runs the deletes, bumps the gallery version and appends the receipt (after <see cref="ErasedRows.Before"/>, the
    /// events of the action the erasure belongs to) in one transaction; then vacuums the tables erasures touch, outside it.
    /// </summary>
    private async Task<ErasureReceipt> EraseAsync(
        Func<NpgsqlConnection, NpgsqlTransaction, Task<ErasedRows>> erase,
        string actor,
        CancellationToken ct)
    {
        var receipt = await WriteAsync(async (connection, tx) =>
        {
            var (images, faces, sightings, subject, before) = await erase(connection, tx).ConfigureAwait(false);
            await BumpGalleryVersionAsync(connection, tx, ct).ConfigureAwait(false);
            var details = ErasureReceipts.Details(images, faces, sightings);

            // The audit tree's row is the last lock taken, after the gallery's, as in every other write: a writer that
            // took them in the other order could wait in a cycle with this one.
            var logged = await AppendAuditAsync(
                connection, tx, [.. before, new NewAuditEvent(actor, AuditActions.Erasure, subject, details)], ct).ConfigureAwait(false);
            return new ErasureReceipt(images, faces, sightings, logged[^1].At, logged[^1].Seq);
        }, ct).ConfigureAwait(false);

        await VacuumAfterDeletionAsync(s_erasureTables, "erasure").ConfigureAwait(false);
        return receipt;
    }

    private static async Task<long?> ErasureScalarAsync(NpgsqlConnection connection, NpgsqlTransaction tx, string sql, long id, CancellationToken ct)
    {
        await using var command = new NpgsqlCommand(sql, connection, tx);
        command.Parameters.AddWithValue("id", id);
        return await command.ExecuteScalarAsync(ct).ConfigureAwait(false) is long value ? value : null;
    }

    /// <summary>The ids the query returns; <c>@id</c> is bound to a long, <c>@ids</c> to a bigint array.</summary>
    private static async Task<List<long>> ErasureIdsAsync(NpgsqlConnection connection, NpgsqlTransaction tx, string sql, object parameter, CancellationToken ct)
    {
        await using var command = new NpgsqlCommand(sql, connection, tx);
        if (parameter is long[] ids)
        {
            command.Parameters.Add(new NpgsqlParameter("ids", NpgsqlDbType.Array | NpgsqlDbType.Bigint) { Value = ids });
        }
        else
        {
            command.Parameters.AddWithValue("id", parameter);
        }

        var list = new List<long>();
        await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            list.Add(reader.GetInt64(0));
        }

        return list;
    }

    private static async Task<long> ErasureExecuteAsync(NpgsqlConnection connection, NpgsqlTransaction tx, string sql, long[] ids, CancellationToken ct)
    {
        await using var command = new NpgsqlCommand(sql, connection, tx);
        command.Parameters.Add(new NpgsqlParameter("ids", NpgsqlDbType.Array | NpgsqlDbType.Bigint) { Value = ids });
        return await command.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    /// <summary>What an erasure's deletes removed, its receipt's subject, and the events to log just before the receipt.</summary>
    private sealed record ErasedRows(IReadOnlyList<long> Images, IReadOnlyList<long> Faces, long Sightings, string Subject, IReadOnlyList<NewAuditEvent> Before);
}
