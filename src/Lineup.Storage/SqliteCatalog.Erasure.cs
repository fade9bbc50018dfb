using System.Globalization;
using System.Text.Json;
using Lineup.Core.Audit;
using Lineup.Core.Catalog;
using Microsoft.Data.Sqlite;

namespace Lineup.Storage;

/// <summary>
/// Erasure (<see cref="IErasure"/>): the rows go in one write transaction with the audit receipt, with
/// <c>secure_delete</c> on so that SQLite overwrites the freed cell content with zeros; then the file is rebuilt
/// (<c>VACUUM</c>) and the WAL folded back and truncated, so that no page of the main file, and no frame of the WAL,
/// still holds an erased thumbnail, preview or embedding.
/// </summary>
public sealed partial class SqliteCatalog : IErasure
{
    public async Task<ErasureReceipt> EraseImageAsync(long imageId, string actor, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(actor);
        var receipt = await EraseAsync(async tx =>
        {
            // A near-duplicate copy keeps no faces of its own: they are its original's. Erasing any member of the family
            // erases the original and every copy (one level deep: a copy always points at an image that is not a copy).
            var root = await ScalarAsync(tx, "SELECT coalesce(near_duplicate_of, id) FROM images WHERE id = $id", ("$id", imageId), ct).ConfigureAwait(false)
                ?? throw new CatalogException(string.Create(CultureInfo.InvariantCulture, $"There is no image {imageId}."));
            var images = await IdsAsync(tx, "SELECT id FROM images WHERE id = $root OR near_duplicate_of = $root ORDER BY id", root, ct).ConfigureAwait(false);
            var set = JsonSerializer.Serialize(images);
            var faces = await IdsAsync(tx, "SELECT id FROM faces WHERE image_id IN (SELECT value FROM json_each($root)) ORDER BY id", set, ct).ConfigureAwait(false);

            // Explicit deletes rather than trusting ON DELETE CASCADE: the result does not depend on the connection's
            // foreign_keys setting, and the sighting count comes from the statement that removed them.
            await ExecuteInAsync(tx, "DELETE FROM face_thumbnails WHERE face_id IN (SELECT id FROM faces WHERE image_id IN (SELECT value FROM json_each($root)))", set, ct).ConfigureAwait(false);
            await ExecuteInAsync(tx, "DELETE FROM faces WHERE image_id IN (SELECT value FROM json_each($root))", set, ct).ConfigureAwait(false);
            await ExecuteInAsync(tx, "DELETE FROM image_previews WHERE image_id IN (SELECT value FROM json_each($root))", set, ct).ConfigureAwait(false);
            var sightings = await ExecuteInAsync(tx, "DELETE FROM sightings WHERE image_id IN (SELECT value FROM json_each($root))", set, ct).ConfigureAwait(false);

            // The ingest ledger keeps the record that the file was processed, without the link to what it produced.
            await ExecuteInAsync(tx, "UPDATE ingest_items SET image_id = NULL WHERE image_id IN (SELECT value FROM json_each($root))", set, ct).ConfigureAwait(false);

            // Copies first: they reference the original.
            await ExecuteInAsync(tx, "DELETE FROM images WHERE near_duplicate_of IN (SELECT value FROM json_each($root))", set, ct).ConfigureAwait(false);
            await ExecuteInAsync(tx, "DELETE FROM images WHERE id IN (SELECT value FROM json_each($root))", set, ct).ConfigureAwait(false);
            return (images, faces, (long)sightings, string.Create(CultureInfo.InvariantCulture, $"image:{imageId}"));
        }, actor, ct).ConfigureAwait(false);
        return receipt;
    }

    public async Task<ErasureReceipt> EraseFacesAsync(IReadOnlyList<long> faceIds, string actor, string? subject = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(faceIds);
        ArgumentException.ThrowIfNullOrWhiteSpace(actor);
        var wanted = ErasureReceipts.WantedFaces(faceIds);
        var set = JsonSerializer.Serialize(wanted);
        return await EraseAsync(async tx =>
        {
            var known = await IdsAsync(tx, "SELECT id FROM faces WHERE id IN (SELECT value FROM json_each($root)) ORDER BY id", set, ct).ConfigureAwait(false);
            ErasureReceipts.ThrowIfUnknownFaces(wanted, known);

            await ExecuteInAsync(tx, "DELETE FROM face_thumbnails WHERE face_id IN (SELECT value FROM json_each($root))", set, ct).ConfigureAwait(false);
            await ExecuteInAsync(tx, "DELETE FROM faces WHERE id IN (SELECT value FROM json_each($root))", set, ct).ConfigureAwait(false);
            return ((IReadOnlyList<long>)[], known, 0L, subject ?? string.Create(CultureInfo.InvariantCulture, $"face:{known[0]}"));
        }, actor, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Runs the deletes and appends the receipt in one transaction under the write gate, with <c>secure_delete</c> on for
    /// that transaction only (it costs a zeroing write per freed cell, which ingest does not need); then compacts.
    /// </summary>
    private async Task<ErasureReceipt> EraseAsync(
        Func<SqliteTransaction, Task<(IReadOnlyList<long> Images, IReadOnlyList<long> Faces, long Sightings, string Subject)>> erase,
        string actor,
        CancellationToken ct)
    {
        await _writeGate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            ThrowIfDisposed();
            await ExecuteAsync(_writer, "PRAGMA secure_delete=ON;", ct).ConfigureAwait(false);
            ErasureReceipt receipt;
            try
            {
                using (var tx = _writer.BeginTransaction())
                {
                    var (images, faces, sightings, subject) = await erase(tx).ConfigureAwait(false);
                    await BumpGalleryVersionAsync(tx, ct).ConfigureAwait(false);
                    var details = ErasureReceipts.Details(images, faces, sightings);
                    var logged = await AppendAuditAsync(tx, new NewAuditEvent(actor, AuditActions.Erasure, subject, details), ct).ConfigureAwait(false);
                    tx.Commit();
                    receipt = new ErasureReceipt(images, faces, sightings, logged.At, logged.Seq);
                }
            }
            finally
            {
                await ExecuteAsync(_writer, "PRAGMA secure_delete=OFF;", CancellationToken.None).ConfigureAwait(false);
            }

            await CompactAsync().ConfigureAwait(false);
            return receipt;
        }
        finally
        {
            _writeGate.Release();
        }
    }

    /// <summary>
    /// Rebuilds the database file and empties the WAL. VACUUM writes every live page afresh (in WAL mode, through the
    /// WAL), so the main file no longer holds freed pages or cell gaps with old content; the TRUNCATE checkpoint copies
    /// those frames into the main file and cuts the WAL to zero bytes, taking with it the frames that held the erased
    /// rows when they were written. Not cancellable: an erasure that committed must not leave its bytes behind.
    /// </summary>
    private async Task CompactAsync()
    {
        await ExecuteAsync(_writer, "VACUUM;", CancellationToken.None).ConfigureAwait(false);

        // A reader on an old snapshot keeps the checkpoint from reaching the end of the WAL (busy = 1); the busy timeout
        // waits for it, and a few more tries cover a reader that started meanwhile.
        for (var attempt = 0; attempt < 5; attempt++)
        {
            using var command = _writer.CreateCommand();
            command.CommandText = "PRAGMA wal_checkpoint(TRUNCATE);";
            using var reader = await command.ExecuteReaderAsync(CancellationToken.None).ConfigureAwait(false);
            if (await reader.ReadAsync(CancellationToken.None).ConfigureAwait(false) && reader.GetInt64(0) == 0)
            {
                return;
            }

            await Task.Delay(200).ConfigureAwait(false);
        }

        throw new CatalogException(
            "The deletion committed, but readers kept the write-ahead log from being emptied; the deleted bytes leave the WAL " +
            "file at the next checkpoint (when the catalog is closed at the latest).");
    }

    private async Task<long?> ScalarAsync(SqliteTransaction tx, string sql, (string Name, long Value) parameter, CancellationToken ct)
    {
        using var command = _writer.CreateCommand();
        command.Transaction = tx;
        command.CommandText = sql;
        command.Parameters.AddWithValue(parameter.Name, parameter.Value);
        return await command.ExecuteScalarAsync(ct).ConfigureAwait(false) is long value ? value : null;
    }

    private async Task<List<long>> IdsAsync(SqliteTransaction tx, string sql, object root, CancellationToken ct)
    {
        using var command = _writer.CreateCommand();
        command.Transaction = tx;
        command.CommandText = sql;
        command.Parameters.AddWithValue("$root", root);
        var ids = new List<long>();
        using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            ids.Add(reader.GetInt64(0));
        }

        return ids;
    }

    private async Task<int> ExecuteInAsync(SqliteTransaction tx, string sql, string set, CancellationToken ct)
    {
        using var command = _writer.CreateCommand();
        command.Transaction = tx;
        command.CommandText = sql;
        command.Parameters.AddWithValue("$root", set);
        return await command.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }
}
