using Lineup.Core.Catalog;
using Npgsql;

namespace Lineup.Storage.Postgres;

/// <summary>
/// The reads behind the supervisor view and the disclosure report (<see cref="ISearchActivityLog"/>) on PostgreSQL:
/// searches of a period, every search that names a case, and the candidate lists of many searches at once.
/// </summary>
public sealed partial class PostgresCatalog : ISearchActivityLog
{
    public async Task<IReadOnlyList<SearchRecord>> ListSearchesBetweenAsync(DateTimeOffset from, DateTimeOffset to, CancellationToken ct = default)
    {
        if (to < from)
        {
            throw new ArgumentException($"The period ends ({to:u}) before it starts ({from:u}).", nameof(to));
        }

        // Times are stored in one fixed-width UTC form, so text order is time order and searches_at serves the range.
        return await ReadSearchesWhereAsync(
            "at >= @from AND at < @to ORDER BY at, id",
            command =>
            {
                command.Parameters.AddWithValue("from", SqliteCatalog.FormatTime(from));
                command.Parameters.AddWithValue("to", SqliteCatalog.FormatTime(to));
            },
            ct).ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<SearchRecord>> ListSearchesNamingCaseAsync(long caseId, string number, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(number);
        return await ReadSearchesWhereAsync(
            "case_id = @case OR (case_id IS NULL AND lower(case_number) = lower(@number)) ORDER BY id",
            command =>
            {
                command.Parameters.AddWithValue("case", caseId);
                command.Parameters.AddWithValue("number", number.Trim());
            },
            ct).ConfigureAwait(false);
    }

    public async Task<IReadOnlyDictionary<long, IReadOnlyList<StoredCandidate>>> GetCandidatesOfAsync(
        IReadOnlyCollection<long> searchIds, bool aboveThresholdOnly = false, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(searchIds);
        var lists = new Dictionary<long, IReadOnlyList<StoredCandidate>>();
        if (searchIds.Count == 0)
        {
            return lists;
        }

        // One array parameter for any number of ids (= ANY uses the primary key's index on search_id).
        await using var connection = await OpenConnectionAsync(ct).ConfigureAwait(false);
        await using var command = new NpgsqlCommand($"""
            SELECT search_id, rank, face_id, image_id, similarity, estimated_fmr, above_threshold
            FROM search_candidates
            WHERE search_id = ANY(@ids){(aboveThresholdOnly ? " AND above_threshold = 1" : "")}
            ORDER BY search_id, rank
            """, connection);
        command.Parameters.AddWithValue("ids", searchIds.ToArray());
        await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        List<StoredCandidate>? current = null;
        var currentId = long.MinValue;
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            var searchId = reader.GetInt64(0);
            if (current is null || searchId != currentId)
            {
                current = [];
                currentId = searchId;
                lists.Add(searchId, current);
            }

            current.Add(new StoredCandidate(
                reader.GetInt32(1), reader.GetInt64(2), reader.GetInt64(3), (float)reader.GetDouble(4),
                reader.IsDBNull(5) ? null : reader.GetDouble(5), reader.GetInt32(6) != 0));
        }

        return lists;
    }

    /// <summary>Searches matching <paramref name="condition"/> (which may end in ORDER BY), its parameters bound by <paramref name="bind"/>.</summary>
    private async Task<IReadOnlyList<SearchRecord>> ReadSearchesWhereAsync(string condition, Action<NpgsqlCommand> bind, CancellationToken ct)
    {
        await using var connection = await OpenConnectionAsync(ct).ConfigureAwait(false);
        await using var command = new NpgsqlCommand($"SELECT {SearchColumns} FROM searches WHERE {condition}", connection);
        bind(command);
        var searches = new List<SearchRecord>();
        await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            searches.Add(ReadSearch(reader));
        }

        return searches;
    }
}
