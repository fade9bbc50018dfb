using Lineup.Core.Catalog;
using Npgsql;
using NpgsqlTypes;

namespace Lineup.Storage.Postgres;

/// <summary>The record of searches (<see cref="ISearchLog"/>): each search, its stored probe and its candidate list.</summary>
public sealed partial class PostgresCatalog : ISearchLog
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
        return await WriteAsync(async (connection, tx) =>
        {
            long id;
            await using (var insert = new NpgsqlCommand(
                """
                INSERT INTO searches(at, by_user, probe_sha256, faces_in_probe, face, quality, quality_floor, quality_override,
                                     outcome, parameters, model_id, gallery_size, candidates, above_threshold, duration_ms,
                                     case_id, case_number, probe_source, refusal, gallery_version, timings)
                VALUES (@at, @by, @sha, @faces, @face, @quality, @floor, @override, @outcome, @parameters, @model, @gallery,
                        @candidates, @above, @ms, @case, @number, @source, @refusal, @version, @timings)
                RETURNING id
                """, connection, tx))
            {
                var p = insert.Parameters;
                p.AddWithValue("at", SqliteCatalog.FormatTime(search.At));
                p.AddWithValue("by", search.By);
                p.AddWithValue("sha", search.ProbeSha256);
                p.AddWithValue("faces", search.FacesInProbe);
                p.AddWithValue("face", NpgsqlDbType.Integer, (object?)search.Face ?? DBNull.Value);
                p.AddWithValue("quality", NpgsqlDbType.Double, search.Quality is { } q ? (double)q : DBNull.Value);
                p.AddWithValue("floor", (double)search.QualityFloor);
                p.AddWithValue("override", NpgsqlDbType.Text, (object?)search.QualityOverride ?? DBNull.Value);
                p.AddWithValue("outcome", SqliteCatalog.OutcomeText(search.Outcome));
                p.AddWithValue("parameters", search.Parameters);
                p.AddWithValue("model", search.ModelId);
                p.AddWithValue("gallery", search.GallerySize);
                p.AddWithValue("candidates", search.Candidates);
                p.AddWithValue("above", search.AboveThreshold);
                p.AddWithValue("ms", search.DurationMs);
                p.AddWithValue("case", NpgsqlDbType.Bigint, (object?)search.CaseId ?? DBNull.Value);
                p.AddWithValue("number", NpgsqlDbType.Text, (object?)search.CaseNumber ?? DBNull.Value);
                p.AddWithValue("source", NpgsqlDbType.Text, (object?)search.ProbeSource ?? DBNull.Value);
                p.AddWithValue("refusal", NpgsqlDbType.Text, (object?)search.Refusal ?? DBNull.Value);
                p.AddWithValue("version", search.GalleryVersion);
                p.AddWithValue("timings", search.Timings);
                id = (long)(await insert.ExecuteScalarAsync(ct).ConfigureAwait(false))!;
            }

            if (!probe.IsEmpty)
            {
                await using var keep = new NpgsqlCommand("INSERT INTO search_probes(search_id, bytes) VALUES (@id, @bytes)", connection, tx);
                keep.Parameters.AddWithValue("id", id);
                keep.Parameters.Add(new NpgsqlParameter<ReadOnlyMemory<byte>>("bytes", NpgsqlDbType.Bytea) { TypedValue = probe });
                await keep.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }

            if (candidates.Count > 0)
            {
                await InsertCandidatesAsync(connection, tx, id, candidates, ct).ConfigureAwait(false);
            }

            // In the same transaction, last: a search is never recorded without its audit event, nor the event
            // without it, and the audit tree stays locked only for the append itself.
            await AppendAuditAsync(connection, tx, SqliteCatalog.SearchAuditEvent(search, id), ct).ConfigureAwait(false);
            return id;
        }, ct).ConfigureAwait(false);
    }

    /// <summary>The candidate list in one statement (arrays unnested server-side) rather than a round trip per candidate.</summary>
    private static async Task InsertCandidatesAsync(
        NpgsqlConnection connection, NpgsqlTransaction tx, long searchId, IReadOnlyList<StoredCandidate> candidates, CancellationToken ct)
    {
        var n = candidates.Count;
        var rank = new int[n];
        var face = new long[n];
        var image = new long[n];
        var similarity = new double[n];
        var fmr = new double?[n];
        var above = new int[n];
        for (var i = 0; i < n; i++)
        {
            var c = candidates[i];
            rank[i] = c.Rank;
            face[i] = c.FaceId;
            image[i] = c.ImageId;
            similarity[i] = c.Similarity;
            fmr[i] = c.EstimatedFmr;
            above[i] = c.AboveThreshold ? 1 : 0;
        }

        await using var add = new NpgsqlCommand(
            """
            INSERT INTO search_candidates(search_id, rank, face_id, image_id, similarity, estimated_fmr, above_threshold)
            SELECT @id, * FROM unnest(@rank, @face, @image, @similarity, @fmr, @above)
            """, connection, tx);
        add.Parameters.AddWithValue("id", searchId);
        add.Parameters.AddWithValue("rank", NpgsqlDbType.Array | NpgsqlDbType.Integer, rank);
        add.Parameters.AddWithValue("face", NpgsqlDbType.Array | NpgsqlDbType.Bigint, face);
        add.Parameters.AddWithValue("image", NpgsqlDbType.Array | NpgsqlDbType.Bigint, image);
        add.Parameters.AddWithValue("similarity", NpgsqlDbType.Array | NpgsqlDbType.Double, similarity);
        add.Parameters.AddWithValue("fmr", NpgsqlDbType.Array | NpgsqlDbType.Double, fmr);
        add.Parameters.AddWithValue("above", NpgsqlDbType.Array | NpgsqlDbType.Integer, above);
        await add.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<SearchRecord>> ListSearchesAsync(int limit = 100, CancellationToken ct = default) =>
        await QuerySearchesAsync("true ORDER BY id DESC LIMIT @p", limit, ct).ConfigureAwait(false);

    public async Task<SearchRecord?> GetSearchAsync(long id, CancellationToken ct = default) =>
        (await QuerySearchesAsync("id = @p", id, ct).ConfigureAwait(false)).FirstOrDefault();

    public async Task<IReadOnlyList<SearchRecord>> ListCaseSearchesAsync(long caseId, CancellationToken ct = default) =>
        await QuerySearchesAsync("case_id = @p ORDER BY id", caseId, ct).ConfigureAwait(false);

    private async Task<IReadOnlyList<SearchRecord>> QuerySearchesAsync(string condition, long parameter, CancellationToken ct)
    {
        await using var connection = await OpenConnectionAsync(ct).ConfigureAwait(false);
        await using var command = new NpgsqlCommand($"SELECT {SearchColumns} FROM searches WHERE {condition}", connection);
        command.Parameters.AddWithValue("p", parameter);
        var searches = new List<SearchRecord>();
        await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            searches.Add(ReadSearch(reader));
        }

        return searches;
    }

    public async Task<IReadOnlyList<StoredCandidate>> GetCandidatesAsync(long searchId, CancellationToken ct = default)
    {
        await using var connection = await OpenConnectionAsync(ct).ConfigureAwait(false);
        await using var command = new NpgsqlCommand(
            """
            SELECT rank, face_id, image_id, similarity, estimated_fmr, above_threshold
            FROM search_candidates WHERE search_id = @id ORDER BY rank
            """, connection);
        command.Parameters.AddWithValue("id", searchId);
        var candidates = new List<StoredCandidate>();
        await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            candidates.Add(new StoredCandidate(
                reader.GetInt32(0), reader.GetInt64(1), reader.GetInt64(2), (float)reader.GetDouble(3),
                reader.IsDBNull(4) ? null : reader.GetDouble(4), reader.GetInt32(5) != 0));
        }

        return candidates;
    }

    public async Task<byte[]?> GetProbeAsync(long searchId, CancellationToken ct = default)
    {
        await using var connection = await OpenConnectionAsync(ct).ConfigureAwait(false);
        await using var command = new NpgsqlCommand("SELECT bytes FROM search_probes WHERE search_id = @id", connection);
        command.Parameters.AddWithValue("id", searchId);
        return await command.ExecuteScalarAsync(ct).ConfigureAwait(false) as byte[];
    }

    public async Task<long> GalleryVersionAsync(CancellationToken ct = default)
    {
        await using var connection = await OpenConnectionAsync(ct).ConfigureAwait(false);
        await using var command = new NpgsqlCommand("SELECT version FROM gallery_state WHERE id = 1", connection);
        return (long)(await command.ExecuteScalarAsync(ct).ConfigureAwait(false))!;
    }

    /// <summary>A search from <see cref="SearchColumns"/>, starting at column 0.</summary>
    private static SearchRecord ReadSearch(NpgsqlDataReader r) =>
        new(
            SqliteCatalog.ParseTime(r.GetString(1)),
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

    private static SearchOutcome ParseOutcome(string text) =>
        SearchOutcomes.Parse(text) ?? throw new CatalogException($"Unknown search outcome '{text}' in the catalog.");

    private static string Truncate(string text, int length) => SqliteCatalog.Truncate(text, length);
}
