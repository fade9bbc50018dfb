using Lineup.Core.Audit;
using Lineup.Core.Catalog;
using Microsoft.Data.Sqlite;

namespace Lineup.Storage;

/// <summary>The record of searches (<see cref="ISearchLog"/>).</summary>
public sealed partial class SqliteCatalog : ISearchLog
{
    private const string SearchColumns =
        "id, at, by_user, probe_sha256, faces_in_probe, face, quality, quality_floor, quality_override, outcome, parameters, " +
        "model_id, gallery_size, candidates, above_threshold, duration_ms";

    public async Task<long> RecordSearchAsync(SearchRecord search, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(search);
        ArgumentException.ThrowIfNullOrWhiteSpace(search.ProbeSha256);
        return await WriteAsync(async tx =>
        {
            using var insert = _writer.CreateCommand();
            insert.Transaction = tx;
            insert.CommandText = """
                INSERT INTO searches(at, by_user, probe_sha256, faces_in_probe, face, quality, quality_floor, quality_override,
                                     outcome, parameters, model_id, gallery_size, candidates, above_threshold, duration_ms)
                VALUES ($at, $by, $sha, $faces, $face, $quality, $floor, $override, $outcome, $parameters, $model, $gallery,
                        $candidates, $above, $ms)
                RETURNING id
                """;
            insert.Parameters.AddWithValue("$at", FormatTime(search.At));
            insert.Parameters.AddWithValue("$by", search.By);
            insert.Parameters.AddWithValue("$sha", search.ProbeSha256);
            insert.Parameters.AddWithValue("$faces", search.FacesInProbe);
            insert.Parameters.AddWithValue("$face", (object?)search.Face ?? DBNull.Value);
            insert.Parameters.AddWithValue("$quality", search.Quality is { } q ? (double)q : DBNull.Value);
            insert.Parameters.AddWithValue("$floor", (double)search.QualityFloor);
            insert.Parameters.AddWithValue("$override", (object?)search.QualityOverride ?? DBNull.Value);
            insert.Parameters.AddWithValue("$outcome", OutcomeText(search.Outcome));
            insert.Parameters.AddWithValue("$parameters", search.Parameters);
            insert.Parameters.AddWithValue("$model", search.ModelId);
            insert.Parameters.AddWithValue("$gallery", search.GallerySize);
            insert.Parameters.AddWithValue("$candidates", search.Candidates);
            insert.Parameters.AddWithValue("$above", search.AboveThreshold);
            insert.Parameters.AddWithValue("$ms", search.DurationMs);
            var id = (long)(await insert.ExecuteScalarAsync(ct).ConfigureAwait(false))!;

            // In the same transaction: a search is never recorded without its audit event, nor the event without it.
            await AppendAuditAsync(tx, SearchAuditEvent(search, id), ct).ConfigureAwait(false);
            return id;
        }, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// The audit event of a recorded search: who searched, its id, and what came back. The probe is named by the first
    /// 16 hex digits of its SHA-256 (enough to match it to the search record, not to carry any image); no embedding,
    /// no image, no score of any face.
    /// </summary>
    internal static NewAuditEvent SearchAuditEvent(SearchRecord search, long id)
    {
        var details = AuditDetails.Empty
            .With("outcome", OutcomeText(search.Outcome))
            .With("candidates", search.Candidates)
            .With("above_threshold", search.AboveThreshold)
            .With("faces_in_probe", search.FacesInProbe)
            .With("probe_sha256", search.ProbeSha256.Length > 16 ? search.ProbeSha256[..16] : search.ProbeSha256)
            .With("gallery_size", search.GallerySize)
            .With("quality_override", search.QualityOverride is not null);
        return new NewAuditEvent(search.By, AuditActions.Search, $"search:{id}", details);
    }

    public async Task<IReadOnlyList<SearchRecord>> ListSearchesAsync(int limit = 100, CancellationToken ct = default)
    {
        await using var connection = await OpenReaderAsync(ct).ConfigureAwait(false);
        using var command = connection.CreateCommand();
        command.CommandText = $"SELECT {SearchColumns} FROM searches ORDER BY id DESC LIMIT $limit";
        command.Parameters.AddWithValue("$limit", limit);
        var searches = new List<SearchRecord>();
        using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            searches.Add(ReadSearch(reader));
        }

        return searches;
    }

    private static SearchRecord ReadSearch(SqliteDataReader r) =>
        new(
            ParseTime(r.GetString(1)),
            r.GetString(2),
            r.GetString(3),
            r.GetInt32(4),
            r.IsDBNull(5) ? null : r.GetInt32(5),
            r.IsDBNull(6) ? null : (float)r.GetDouble(6),
            (float)r.GetDouble(7),
            r.IsDBNull(8) ? null : r.GetString(8),
            ParseOutcome(r.GetString(9)),
            r.GetString(10),
            r.GetString(11),
            r.GetInt64(12),
            r.GetInt32(13),
            r.GetInt32(14),
            r.GetDouble(15))
        {
            Id = r.GetInt64(0),
        };

    private static string OutcomeText(SearchOutcome outcome) => outcome switch
    {
        SearchOutcome.Candidates => "candidates",
        SearchOutcome.NoCandidateAboveThreshold => "no_candidate_above_threshold",
        SearchOutcome.RefusedLowQuality => "refused_low_quality",
        SearchOutcome.NoFace => "no_face",
        _ => throw new ArgumentOutOfRangeException(nameof(outcome), outcome, null),
    };

    private static SearchOutcome ParseOutcome(string text) => text switch
    {
        "candidates" => SearchOutcome.Candidates,
        "no_candidate_above_threshold" => SearchOutcome.NoCandidateAboveThreshold,
        "refused_low_quality" => SearchOutcome.RefusedLowQuality,
        "no_face" => SearchOutcome.NoFace,
        _ => throw new CatalogException($"Unknown search outcome '{text}' in the catalog."),
    };
}
