using System.Globalization;
using System.Text.Json;
using Lineup.Core.Audit;
using Lineup.Core.Network;
using Npgsql;

namespace Lineup.Storage.Postgres;

/// <summary>
/// Analyst corrections of the partition (merge, split, move, name), as in <see cref="SqliteCatalog"/>: each commits in
/// one transaction with its correction record, the clustering version bump and its audit event. A correction takes the
/// <see cref="WriteLock.Clustering"/> advisory lock, then locks the faces of the identities it touches
/// <c>FOR KEY SHARE</c>: an erasure of one of them waits for the correction (and then finds the identity as the
/// correction left it) instead of emptying an identity the correction is about to fill.
/// </summary>
public sealed partial class PostgresCatalog
{
    public async Task<IdentityRecord> MergeIdentitiesAsync(long into, long from, string? reason, string by, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(by);
        IdentityCorrections.CheckMerge(into, from);

        reason = SqliteCatalog.CorrectionReason(reason);
        return await WriteAsync(async (connection, tx) =>
        {
            await LockCorrectionAsync(connection, tx, [into, from], null, ct).ConfigureAwait(false);
            var intoName = await RequireIdentityAsync(connection, tx, into, ct).ConfigureAwait(false);
            var fromName = await RequireIdentityAsync(connection, tx, from, ct).ConfigureAwait(false);
            var movedFaces = await IdentityFaceIdsAsync(connection, tx, from, ct).ConfigureAwait(false);
            var now = SqliteCatalog.FormatTime(_clock.GetUtcNow());
            await using (var update = new NpgsqlCommand(
                "UPDATE face_identities SET identity_id = @into, locked = 1 WHERE identity_id IN (@into, @from)", connection, tx))
            {
                update.Parameters.AddWithValue("into", into);
                update.Parameters.AddWithValue("from", from);
                await update.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }

            var name = intoName ?? fromName;
            await SetIdentityNameAsync(connection, tx, into, name, now, ct).ConfigureAwait(false);
            await DeleteIdentityAsync(connection, tx, from, ct).ConfigureAwait(false);
            await RecordCorrectionAsync(connection, tx, CorrectionKind.Merge, into, from, movedFaces, null, reason, by, name is not null, now, ct).ConfigureAwait(false);
            return (await ReadIdentitiesAsync(connection, tx, [into], ct).ConfigureAwait(false))[0];
        }, ct).ConfigureAwait(false);
    }

    public async Task<IdentityRecord> SplitIdentityAsync(long identityId, IReadOnlyList<long> faceIds, string? reason, string by, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(faceIds);
        ArgumentException.ThrowIfNullOrWhiteSpace(by);
        var split = IdentityCorrections.SplitFaces(faceIds);

        reason = SqliteCatalog.CorrectionReason(reason);
        return await WriteAsync(async (connection, tx) =>
        {
            await LockCorrectionAsync(connection, tx, [identityId], null, ct).ConfigureAwait(false);
            var name = await RequireIdentityAsync(connection, tx, identityId, ct).ConfigureAwait(false);
            var members = (await IdentityFaceIdsAsync(connection, tx, identityId, ct).ConfigureAwait(false)).ToHashSet();
            IdentityCorrections.CheckSplit(identityId, faceIds, split, members);

            var now = SqliteCatalog.FormatTime(_clock.GetUtcNow());
            var created = (await InsertIdentitiesAsync(connection, tx, 1, now, ct).ConfigureAwait(false))[0];
            await FixIdentityFacesAsync(connection, tx, identityId, ct).ConfigureAwait(false);
            await using (var move = new NpgsqlCommand("UPDATE face_identities SET identity_id = @to, locked = 1 WHERE face_id = ANY(@faces)", connection, tx))
            {
                move.Parameters.AddWithValue("to", created);
                move.Parameters.AddWithValue("faces", faceIds.ToArray());
                await move.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }

            await TouchIdentitiesAsync(connection, tx, [identityId], now, ct).ConfigureAwait(false);
            await RecordCorrectionAsync(connection, tx, CorrectionKind.Split, identityId, created, faceIds, null, reason, by, name is not null, now, ct).ConfigureAwait(false);
            return (await ReadIdentitiesAsync(connection, tx, [created], ct).ConfigureAwait(false))[0];
        }, ct).ConfigureAwait(false);
    }

    public async Task<IdentityRecord> MoveFaceAsync(long faceId, long identityId, string? reason, string by, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(by);
        reason = SqliteCatalog.CorrectionReason(reason);
        return await WriteAsync(async (connection, tx) =>
        {
            await LockCorrectionAsync(connection, tx, [identityId], faceId, ct).ConfigureAwait(false);
            var name = await RequireIdentityAsync(connection, tx, identityId, ct).ConfigureAwait(false);
            long old;
            await using (var previous = new NpgsqlCommand("SELECT identity_id FROM face_identities WHERE face_id = @id", connection, tx))
            {
                previous.Parameters.AddWithValue("id", faceId);
                old = await previous.ExecuteScalarAsync(ct).ConfigureAwait(false) as long?
                    ?? throw new NetworkNotFoundException(string.Create(CultureInfo.InvariantCulture, $"Face {faceId} does not exist or is not clustered yet."));
            }

            var now = SqliteCatalog.FormatTime(_clock.GetUtcNow());
            await FixIdentityFacesAsync(connection, tx, identityId, ct).ConfigureAwait(false);
            await using (var move = new NpgsqlCommand("UPDATE face_identities SET identity_id = @to, locked = 1 WHERE face_id = @face", connection, tx))
            {
                move.Parameters.AddWithValue("to", identityId);
                move.Parameters.AddWithValue("face", faceId);
                await move.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }

            if (old != identityId)
            {
                if ((await IdentityFaceIdsAsync(connection, tx, old, ct).ConfigureAwait(false)).Count == 0)
                {
                    await DeleteIdentityAsync(connection, tx, old, ct).ConfigureAwait(false);
                }
                else
                {
                    await TouchIdentitiesAsync(connection, tx, [old], now, ct).ConfigureAwait(false);
                }
            }

            await TouchIdentitiesAsync(connection, tx, [identityId], now, ct).ConfigureAwait(false);
            await RecordCorrectionAsync(connection, tx, CorrectionKind.Move, identityId, old, [faceId], null, reason, by, name is not null, now, ct).ConfigureAwait(false);
            return (await ReadIdentitiesAsync(connection, tx, [identityId], ct).ConfigureAwait(false))[0];
        }, ct).ConfigureAwait(false);
    }

    public async Task<IdentityRecord> NameIdentityAsync(long identityId, string? name, string by, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(by);
        name = IdentityCorrections.IdentityName(name);

        return await WriteAsync(async (connection, tx) =>
        {
            await LockCorrectionAsync(connection, tx, [identityId], null, ct).ConfigureAwait(false);
            await RequireIdentityAsync(connection, tx, identityId, ct).ConfigureAwait(false);
            var faces = await IdentityFaceIdsAsync(connection, tx, identityId, ct).ConfigureAwait(false);
            var now = SqliteCatalog.FormatTime(_clock.GetUtcNow());
            await FixIdentityFacesAsync(connection, tx, identityId, ct).ConfigureAwait(false);
            await SetIdentityNameAsync(connection, tx, identityId, name, now, ct).ConfigureAwait(false);
            await RecordCorrectionAsync(connection, tx, CorrectionKind.Name, identityId, null, faces, name, null, by, name is not null, now, ct).ConfigureAwait(false);
            return (await ReadIdentitiesAsync(connection, tx, [identityId], ct).ConfigureAwait(false))[0];
        }, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Serialises the correction with every other network write, then locks the faces of <paramref name="identityIds"/>
    /// (and <paramref name="faceId"/>'s, with its current identity's) <c>FOR KEY SHARE</c>, so that no erasure removes
    /// one of them until the correction commits. A face erased just before is skipped and the reads that follow see
    /// the identity without it.
    /// </summary>
    private static async Task LockCorrectionAsync(NpgsqlConnection connection, NpgsqlTransaction tx, long[] identityIds, long? faceId, CancellationToken ct)
    {
        await LockAsync(connection, tx, WriteLock.Clustering, ct).ConfigureAwait(false);
        await using var command = new NpgsqlCommand("""
            SELECT f.id FROM faces f
            WHERE f.id = @face OR f.id IN (
                SELECT x.face_id FROM face_identities x
                WHERE x.identity_id = ANY(@ids) OR x.identity_id = (SELECT y.identity_id FROM face_identities y WHERE y.face_id = @face))
            ORDER BY f.id
            FOR KEY SHARE OF f
            """, connection, tx);
        command.Parameters.AddWithValue("ids", identityIds);
        command.Parameters.Add(NetworkId("face", faceId));
        await command.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    /// <summary>Fixes every face of the identity (an analyst has looked at it).</summary>
    private static async Task FixIdentityFacesAsync(NpgsqlConnection connection, NpgsqlTransaction tx, long identityId, CancellationToken ct)
    {
        await using var lockAll = new NpgsqlCommand("UPDATE face_identities SET locked = 1 WHERE identity_id = @id", connection, tx);
        lockAll.Parameters.AddWithValue("id", identityId);
        await lockAll.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    /// <summary>The identity's name (null when unnamed); <see cref="NetworkNotFoundException"/> when there is no such identity.</summary>
    private static async Task<string?> RequireIdentityAsync(NpgsqlConnection connection, NpgsqlTransaction tx, long identityId, CancellationToken ct)
    {
        await using var command = new NpgsqlCommand("SELECT id, name FROM identities WHERE id = @id", connection, tx);
        command.Parameters.AddWithValue("id", identityId);
        await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        return await reader.ReadAsync(ct).ConfigureAwait(false)
            ? NetworkText(reader, 1)
            : throw new NetworkNotFoundException(string.Create(CultureInfo.InvariantCulture, $"There is no identity {identityId}."));
    }

    /// <summary>The identity's faces, ascending.</summary>
    private static async Task<List<long>> IdentityFaceIdsAsync(NpgsqlConnection connection, NpgsqlTransaction tx, long identityId, CancellationToken ct)
    {
        await using var command = new NpgsqlCommand("SELECT face_id FROM face_identities WHERE identity_id = @id ORDER BY face_id", connection, tx);
        command.Parameters.AddWithValue("id", identityId);
        var faces = new List<long>();
        await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            faces.Add(reader.GetInt64(0));
        }

        return faces;
    }

    private static async Task SetIdentityNameAsync(NpgsqlConnection connection, NpgsqlTransaction tx, long identityId, string? name, string now, CancellationToken ct)
    {
        await using var update = new NpgsqlCommand("UPDATE identities SET name = @name, updated_at = @now WHERE id = @id", connection, tx);
        update.Parameters.AddWithValue("name", (object?)name ?? DBNull.Value);
        update.Parameters.AddWithValue("now", now);
        update.Parameters.AddWithValue("id", identityId);
        await update.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    private static async Task DeleteIdentityAsync(NpgsqlConnection connection, NpgsqlTransaction tx, long identityId, CancellationToken ct)
    {
        await using var delete = new NpgsqlCommand("DELETE FROM identities WHERE id = @id", connection, tx);
        delete.Parameters.AddWithValue("id", identityId);
        await delete.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Stores a correction, bumps the clustering version and audits it, in the correction's transaction. The audit
    /// event says whether the identity is named, never the name (as in SQLite: the log is read by people outside the case).
    /// </summary>
    private async Task RecordCorrectionAsync(
        NpgsqlConnection connection, NpgsqlTransaction tx, CorrectionKind kind, long identityId, long? otherIdentityId, IReadOnlyList<long> faceIds,
        string? name, string? reason, string by, bool named, string now, CancellationToken ct)
    {
        await using (var insert = new NpgsqlCommand("""
            INSERT INTO identity_corrections(kind, identity_id, other_identity_id, face_ids, name, reason, by, at)
            VALUES (@kind, @identity, @other, @faces, @name, @reason, @by, @at)
            """, connection, tx))
        {
            insert.Parameters.AddWithValue("kind", SqliteCatalog.CorrectionKindText(kind));
            insert.Parameters.AddWithValue("identity", identityId);
            insert.Parameters.Add(NetworkId("other", otherIdentityId));
            insert.Parameters.AddWithValue("faces", JsonSerializer.Serialize(faceIds));
            insert.Parameters.AddWithValue("name", (object?)name ?? DBNull.Value);
            insert.Parameters.AddWithValue("reason", (object?)reason ?? DBNull.Value);
            insert.Parameters.AddWithValue("by", by);
            insert.Parameters.AddWithValue("at", now);
            await insert.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }

        await ExecuteNetworkAsync(connection, tx, "UPDATE clustering_state SET version = version + 1 WHERE id = 1", ct).ConfigureAwait(false);

        var details = AuditDetails.Empty
            .With("kind", SqliteCatalog.CorrectionKindText(kind))
            .With("faces", (long)faceIds.Count)
            .With("named", named);
        if (otherIdentityId is { } other)
        {
            details = details.With("other", other);
        }

        if (reason is not null)
        {
            details = details.With("reason", SqliteCatalog.AuditTextPrefix(reason));
        }

        var subject = string.Create(CultureInfo.InvariantCulture, $"identity:{identityId}");
        await AppendAuditAsync(connection, tx, new NewAuditEvent(by, CorrectAuditAction, subject, details), ct).ConfigureAwait(false);
    }
}
