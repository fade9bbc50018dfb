using Lineup.Core.Audit;
using Lineup.Core.Catalog;
using Microsoft.Data.Sqlite;

namespace Lineup.Storage;

/// <summary>The record of searches (<see cref="ISearchLog"/>): each search, its stored probe and its candidate list.</summary>
public sealed partial class SqliteCatalog : ISearchLog
{
    private const string SearchColumns =
        "id, at, by_user, probe_sha256, faces_in_probe, face, quality, quality_floor, quality_override, outcome, parameters, " +
        "model_id, gallery_size, candidates, above_threshold, duration_ms, case_id, case_number, probe_source, refusal, gallery_version, timings";

    public Task<long> RecordSearchAsync(SearchRecord search, CancellationToken ct = default) =>
        RecordSearchAsync(search, ReadOnlyMemory<byte>.Empty, [], ct);

    public async Task<long> RecordSearchAsync(
        SearchRecord search, ReadOnlyMemory<byte> probe, IReadOnlyList<StoredCandidate> candidates, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(search);
        ArgumentNullException.ThrowIfNull(candidates);
        ArgumentException.ThrowIfNullOrWhiteSpace(search.ProbeSha256);
        return await WriteAsync(async tx =>
        {
            using var insert = _writer.CreateCommand();
            insert.Transaction = tx;
            insert.CommandText = """
                INSERT INTO searches(at, by_user, probe_sha256, faces_in_probe, face, quality, quality_floor, quality_override,
                                     outcome, parameters, model_id, gallery_size, candidates, above_threshold, duration_ms,
                                     case_id, case_number, probe_source, refusal, gallery_version, timings)
                VALUES ($at, $by, $sha, $faces, $face, $quality, $floor, $override, $outcome, $parameters, $model, $gallery,
                        $candidates, $above, $ms, $case, $number, $source, $refusal, $version, $timings)
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
            insert.Parameters.AddWithValue("$case", (object?)search.CaseId ?? DBNull.Value);
            insert.Parameters.AddWithValue("$number", (object?)search.CaseNumber ?? DBNull.Value);
            insert.Parameters.AddWithValue("$source", (object?)search.ProbeSource ?? DBNull.Value);
            insert.Parameters.AddWithValue("$refusal", (object?)search.Refusal ?? DBNull.Value);
            insert.Parameters.AddWithValue("$version", search.GalleryVersion);
            insert.Parameters.AddWithValue("$timings", search.Timings);
            var id = (long)(await insert.ExecuteScalarAsync(ct).ConfigureAwait(false))!;

            if (!probe.IsEmpty)
            {
                using var keep = _writer.CreateCommand();
                keep.Transaction = tx;
                keep.CommandText = "INSERT INTO search_probes(search_id, bytes) VALUES ($id, $bytes)";
                keep.Parameters.AddWithValue("$id", id);
                keep.Parameters.Add("$bytes", SqliteType.Blob).Value = probe.ToArray();
                await keep.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }

            if (candidates.Count > 0)
            {
                using var add = _writer.CreateCommand();
                add.Transaction = tx;
                add.CommandText = """
                    INSERT INTO search_candidates(search_id, rank, face_id, image_id, similarity, estimated_fmr, above_threshold)
                    VALUES ($id, $rank, $face, $image, $similarity, $fmr, $above)
                    """;
                add.Parameters.AddWithValue("$id", id);
                var rank = add.Parameters.Add("$rank", SqliteType.Integer);
                var face = add.Parameters.Add("$face", SqliteType.Integer);
                var image = add.Parameters.Add("$image", SqliteType.Integer);
                var similarity = add.Parameters.Add("$similarity", SqliteType.Real);
                var fmr = add.Parameters.Add("$fmr", SqliteType.Real);
                var above = add.Parameters.Add("$above", SqliteType.Integer);
                foreach (var c in candidates)
                {
                    rank.Value = c.Rank;
                    face.Value = c.FaceId;
                    image.Value = c.ImageId;
                    similarity.Value = (double)c.Similarity;
                    fmr.Value = c.EstimatedFmr is { } f ? f : DBNull.Value;
                    above.Value = c.AboveThreshold ? 1 : 0;
                    await add.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                }
            }

            // In the same transaction: a search is never recorded without its audit event, nor the event without it.
            await AppendAuditAsync(tx, SearchAuditEvent(search, id), ct).ConfigureAwait(false);
            return id;
        }, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// The audit event of a recorded search: who searched, for which case, its id, and what came back. The probe is
    /// named by the first 16 hex digits of its SHA-256 (enough to match it to the search record, not to carry any
    /// image); no embedding, no image, no score of any face.
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
            .With("gallery_version", search.GalleryVersion)
            .With("quality_override", search.QualityOverride is not null);
        if (search.CaseNumber is { } number)
        {
            details = details.With("case", Truncate(number, AuditDetails.MaxTextLength));
        }

        if (search.ProbeSource is { } source)
        {
            details = details.With("probe_source", Truncate(source, 64));
        }

        if (search.Refusal is { } refusal)
        {
            details = details.With("refusal", refusal);
        }

        return new NewAuditEvent(search.By, AuditActions.Search, $"search:{id}", details);
    }

    internal static string Truncate(string text, int length) => text.Length <= length ? text : text[..length];

    public async Task<IReadOnlyList<SearchRecord>> ListSearchesAsync(int limit = 100, CancellationToken ct = default) =>
        await QuerySearchesAsync("1 = 1 ORDER BY id DESC LIMIT $p", limit, ct).ConfigureAwait(false);

    public async Task<SearchRecord?> GetSearchAsync(long id, CancellationToken ct = default) =>
        (await QuerySearchesAsync("id = $p", id, ct).ConfigureAwait(false)).FirstOrDefault();

    public async Task<IReadOnlyList<SearchRecord>> ListCaseSearchesAsync(long caseId, CancellationToken ct = default) =>
        await QuerySearchesAsync("case_id = $p ORDER BY id", caseId, ct).ConfigureAwait(false);

    private async Task<IReadOnlyList<SearchRecord>> QuerySearchesAsync(string condition, long parameter, CancellationToken ct)
    {
        await using var connection = await OpenReaderAsync(ct).ConfigureAwait(false);
        using var command = connection.CreateCommand();
        command.CommandText = $"SELECT {SearchColumns} FROM searches WHERE {condition}";
        command.Parameters.AddWithValue("$p", parameter);
        var searches = new List<SearchRecord>();
        using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            searches.Add(ReadSearch(reader));
        }

        return searches;
    }

    public async Task<IReadOnlyList<StoredCandidate>> GetCandidatesAsync(long searchId, CancellationToken ct = default)
    {
        await using var connection = await OpenReaderAsync(ct).ConfigureAwait(false);
        using var command = connection.CreateCommand();
        command.CommandText = """
            SELECT rank, face_id, image_id, similarity, estimated_fmr, above_threshold
            FROM search_candidates WHERE search_id = $id ORDER BY rank
            """;
        command.Parameters.AddWithValue("$id", searchId);
        var candidates = new List<StoredCandidate>();
        using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            candidates.Add(new StoredCandidate(
                reader.GetInt32(0), reader.GetInt64(1), reader.GetInt64(2), (float)reader.GetDouble(3),
                reader.IsDBNull(4) ? null : reader.GetDouble(4), reader.GetInt64(5) != 0));
        }

        return candidates;
    }

    public async Task<byte[]?> GetProbeAsync(long searchId, CancellationToken ct = default)
    {
        await using var connection = await OpenReaderAsync(ct).ConfigureAwait(false);
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT bytes FROM search_probes WHERE search_id = $id";
        command.Parameters.AddWithValue("$id", searchId);
        return await command.ExecuteScalarAsync(ct).ConfigureAwait(false) as byte[];
    }

    public async Task<long> GalleryVersionAsync(CancellationToken ct = default)
    {
        await using var connection = await OpenReaderAsync(ct).ConfigureAwait(false);
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT version FROM gallery_state WHERE id = 1";
        return (long)(await command.ExecuteScalarAsync(ct).ConfigureAwait(false))!;
    }

    /// <summary>Bumps the gallery version inside a write that changes the gallery (an ingest batch, an erasure).</summary>
    internal async Task BumpGalleryVersionAsync(SqliteTransaction tx, CancellationToken ct)
    {
        using var bump = _writer.CreateCommand();
        bump.Transaction = tx;
        bump.CommandText = "UPDATE gallery_state SET version = version + 1 WHERE id = 1";
        await bump.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
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
            CaseId = r.IsDBNull(16) ? null : r.GetInt64(16),
            CaseNumber = r.IsDBNull(17) ? null : r.GetString(17),
            ProbeSource = r.IsDBNull(18) ? null : r.GetString(18),
            Refusal = r.IsDBNull(19) ? null : r.GetString(19),
            GalleryVersion = r.GetInt64(20),
            Timings = r.GetString(21),
        };

    internal static string OutcomeText(SearchOutcome outcome) => SearchOutcomes.Code(outcome);

    private static SearchOutcome ParseOutcome(string text) =>
        SearchOutcomes.Parse(text) ?? throw new CatalogException($"Unknown search outcome '{text}' in the catalog.");
}
