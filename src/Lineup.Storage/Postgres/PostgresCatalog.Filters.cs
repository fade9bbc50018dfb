using System.Data;
using Lineup.Core.Catalog;
using Lineup.Core.Indexing;
using Npgsql;

namespace Lineup.Storage.Postgres;

/// <summary>Search filters: which faces were seen in given collections, jurisdictions, domains and capture dates.</summary>
public sealed partial class PostgresCatalog : ISearchFilterCatalog
{
    /// <summary>
    /// Resolves <paramref name="filter"/> in one snapshot (a read-only REPEATABLE READ transaction): the sightings that
    /// meet every criterion, mapped to the images whose faces they show (a near-duplicate copy's sightings count for its
    /// original), then to those images' faces of <see cref="ModelId"/>. The snapshot matters here as it did not in
    /// SQLite's deferred transaction: ingest workers commit faces between statements, and the collection check, the
    /// largest face id and the face list must describe one catalog.
    /// </summary>
    public async Task<FaceKeySet> ResolveAsync(SearchFilter filter, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(filter);
        filter = filter.Normalize();
        if (filter.IsEmpty)
        {
            return FaceKeySet.All;
        }

        await using var connection = await OpenConnectionAsync(ct).ConfigureAwait(false);
        await using var tx = await connection.BeginTransactionAsync(IsolationLevel.RepeatableRead, ct).ConfigureAwait(false);
        await using (var readOnly = new NpgsqlCommand("SET TRANSACTION READ ONLY", connection, tx))
        {
            await readOnly.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }

        if (filter.Collections is { Count: > 0 } names)
        {
            await ThrowIfUnknownCollectionsAsync(connection, tx, names, ct).ConfigureAwait(false);
        }

        long maxFaceId;
        await using (var max = new NpgsqlCommand("SELECT coalesce(max(id), 0) FROM faces", connection, tx))
        {
            maxFaceId = (long)(await max.ExecuteScalarAsync(ct).ConfigureAwait(false))!;
        }

        await using var command = new NpgsqlCommand(null, connection, tx);
        command.CommandText = BuildFilterQuery(filter, command.Parameters);
        command.Parameters.AddWithValue("model", ModelId);

        var builder = new FaceKeySet.Builder(maxFaceId);
        await using (var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false))
        {
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                builder.Add(reader.GetInt64(0));
            }
        }

        await tx.CommitAsync(ct).ConfigureAwait(false);
        return builder.Build();
    }

    /// <summary>
    /// The query of a filter, shaped like SQLite's (<c>SqliteCatalog.BuildFilterQuery</c>): its sightings (<c>hit</c>),
    /// their images plus the originals of near-duplicate copies among them (<c>matched</c>), and those images' faces.
    /// </summary>
    /// <remarks>
    /// The domain ranges compare in byte order (<c>COLLATE "C"</c>), as SQLite does: the range trick below depends on
    /// '-' and '.' sorting just below '/', which a language collation (en_US and the like ignore punctuation at the
    /// first level) does not keep. The capture-time comparisons keep the column's collation, so
    /// <c>sightings_captured</c> serves them: the times are fixed-width with punctuation at the same places and differ
    /// only in digits, which every collation orders alike.
    /// </remarks>
    internal static string BuildFilterQuery(SearchFilter filter, NpgsqlParameterCollection parameters)
    {
        var common = new List<string>();
        if (filter.Collections is { Count: > 0 } collections)
        {
            common.Add("s.collection_id IN (SELECT c.id FROM collections c WHERE c.name = ANY(@collections))");
            parameters.AddWithValue("collections", collections.ToArray());
        }

        if (filter.Jurisdictions is { Count: > 0 } jurisdictions)
        {
            // A country code also selects its ISO 3166-2 subdivisions: US matches US and US-IL.
            common.Add("""
                s.collection_id IN (
                    SELECT c.id FROM collections c JOIN unnest(@jurisdictions) AS j(code)
                    ON upper(c.jurisdiction) = j.code OR left(upper(c.jurisdiction), length(j.code) + 1) = j.code || '-')
                """);
            parameters.AddWithValue("jurisdictions", jurisdictions.ToArray());
        }

        if (filter.CapturedFrom is { } from)
        {
            // Times are stored as fixed-width UTC text (FormatTime), so text order is time order; NULL never compares true.
            common.Add("s.captured_at >= @from");
            parameters.AddWithValue("from", SqliteCatalog.FormatTime(from));
        }

        if (filter.CapturedTo is { } to)
        {
            common.Add("s.captured_at <= @to");
            parameters.AddWithValue("to", SqliteCatalog.FormatTime(to));
        }

        var branches = new List<string>();
        if (filter.SourceDomains is { Count: > 0 } domains)
        {
            for (var i = 0; i < domains.Count; i++)
            {
                // Host labels hold [a-z0-9_-] and '.', and only '-' and '.' sort below '/': [d, d + "/") is d itself,
                // "d." + anything, and "d-" + anything, of which the last is dropped by the second test. One branch per
                // column keeps each a plain range on its own partial index, as in SQLite.
                var reversed = SourceDomain.Reverse(domains[i]);
                parameters.AddWithValue($"d{i}", reversed);
                parameters.AddWithValue($"d{i}sub", reversed + ".");
                parameters.AddWithValue($"d{i}end", reversed + "/");
                foreach (var column in (ReadOnlySpan<string>)["s.source_host_reversed", "s.page_host_reversed"])
                {
                    var c = $"{column} COLLATE \"C\"";
                    branches.Add(Branch([$"{c} >= @d{i} AND {c} < @d{i}end AND ({column} = @d{i} OR {c} >= @d{i}sub)", .. common]));
                }
            }
        }
        else
        {
            branches.Add(Branch(common));
        }

        return $"""
            WITH hit(image_id) AS MATERIALIZED (
                {string.Join("\n    UNION ALL\n    ", branches)}),
            matched(image_id) AS (
                SELECT image_id FROM hit
                UNION
                SELECT i.near_duplicate_of FROM images i
                WHERE i.near_duplicate_of IS NOT NULL AND i.id IN (SELECT image_id FROM hit))
            SELECT f.id FROM matched m JOIN faces f ON f.image_id = m.image_id
            WHERE f.model_id = @model
            """;

        static string Branch(IEnumerable<string> conditions) =>
            $"SELECT s.image_id FROM sightings s WHERE {string.Join(" AND ", conditions)}";
    }

    /// <summary>
    /// Refuses a filter naming a collection the catalog lacks, with SQLite's message. Unlike SQLite, it looks up only
    /// the filter's names, and lists the catalog's (in byte order, as SQLite sorts) only when one is missing.
    /// </summary>
    private static async Task ThrowIfUnknownCollectionsAsync(
        NpgsqlConnection connection, NpgsqlTransaction tx, IReadOnlyList<string> names, CancellationToken ct)
    {
        var present = new HashSet<string>(StringComparer.Ordinal);
        await using (var command = new NpgsqlCommand("SELECT name FROM collections WHERE name = ANY(@names)", connection, tx))
        {
            command.Parameters.AddWithValue("names", names.ToArray());
            await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                present.Add(reader.GetString(0));
            }
        }

        var unknown = names.Where(name => !present.Contains(name)).ToList();
        if (unknown.Count == 0)
        {
            return;
        }

        var known = new List<string>();
        long total = 0;
        await using (var command = new NpgsqlCommand(
            "SELECT name, count(*) OVER () FROM collections ORDER BY name COLLATE \"C\" LIMIT @limit", connection, tx))
        {
            command.Parameters.AddWithValue("limit", UnknownCollections.KnownNamesInError);
            await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                known.Add(reader.GetString(0));
                total = reader.GetInt64(1);
            }
        }

        throw UnknownCollections.Error(unknown, known, total);
    }
}
