using System.Globalization;
using System.Text;
using Lineup.Core.Catalog;
using Microsoft.Data.Sqlite;

namespace Lineup.Storage;

/// <summary>
/// The reads behind the supervisor view and the disclosure report: searches of a period, every search that names a
/// case, and the candidate lists of many searches at once.
/// </summary>
public interface ISearchActivityLog
{
    /// <summary>Searches recorded at or after <paramref name="from"/> and before <paramref name="to"/>, oldest first.</summary>
    Task<IReadOnlyList<SearchRecord>> ListSearchesBetweenAsync(DateTimeOffset from, DateTimeOffset to, CancellationToken ct = default);

    /// <summary>
    /// Every search recorded for the case (refused ones included), and every search that named its number, ignoring case,
    /// while no case of that number existed (refused as an unknown case, so recorded without the case's id); oldest first.
    /// </summary>
    Task<IReadOnlyList<SearchRecord>> ListSearchesNamingCaseAsync(long caseId, string number, CancellationToken ct = default);

    /// <summary>
    /// The stored candidate lists of <paramref name="searchIds"/>, by rank; a search without a stored list (none, refused,
    /// expired) has no entry. <paramref name="aboveThresholdOnly"/> keeps only the candidates at or above the threshold.
    /// </summary>
    Task<IReadOnlyDictionary<long, IReadOnlyList<StoredCandidate>>> GetCandidatesOfAsync(
        IReadOnlyCollection<long> searchIds, bool aboveThresholdOnly = false, CancellationToken ct = default);
}

public sealed partial class SqliteCatalog : ISearchActivityLog
{
    public async Task<IReadOnlyList<SearchRecord>> ListSearchesBetweenAsync(DateTimeOffset from, DateTimeOffset to, CancellationToken ct = default)
    {
        if (to < from)
        {
            throw new ArgumentException($"The period ends ({to:u}) before it starts ({from:u}).", nameof(to));
        }

        // Times are stored in one fixed-width UTC form, so text order is time order and searches_at serves the range.
        return await ReadSearchesAsync(
            "at >= $from AND at < $to ORDER BY at, id",
            command =>
            {
                command.Parameters.AddWithValue("$from", FormatTime(from));
                command.Parameters.AddWithValue("$to", FormatTime(to));
            },
            ct).ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<SearchRecord>> ListSearchesNamingCaseAsync(long caseId, string number, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(number);
        return await ReadSearchesAsync(
            "case_id = $case OR (case_id IS NULL AND case_number = $number COLLATE NOCASE) ORDER BY id",
            command =>
            {
                command.Parameters.AddWithValue("$case", caseId);
                command.Parameters.AddWithValue("$number", number.Trim());
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

        // One JSON array parameter instead of one parameter per id: a month of searches can exceed SQLite's
        // parameter limit, and json_each keeps the statement the same for any number of ids.
        var ids = new StringBuilder("[");
        foreach (var id in searchIds)
        {
            ids.Append(ids.Length > 1 ? "," : "").Append(id.ToString(CultureInfo.InvariantCulture));
        }

        ids.Append(']');
        await using var connection = await OpenReaderAsync(ct).ConfigureAwait(false);
        using var command = connection.CreateCommand();
        command.CommandText = $"""
            SELECT search_id, rank, face_id, image_id, similarity, estimated_fmr, above_threshold
            FROM search_candidates
            WHERE search_id IN (SELECT value FROM json_each($ids)){(aboveThresholdOnly ? " AND above_threshold = 1" : "")}
            ORDER BY search_id, rank
            """;
        command.Parameters.AddWithValue("$ids", ids.ToString());
        using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
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
                reader.IsDBNull(5) ? null : reader.GetDouble(5), reader.GetInt64(6) != 0));
        }

        return lists;
    }

    private async Task<IReadOnlyList<SearchRecord>> ReadSearchesAsync(string condition, Action<SqliteCommand> bind, CancellationToken ct)
    {
        await using var connection = await OpenReaderAsync(ct).ConfigureAwait(false);
        using var command = connection.CreateCommand();
        command.CommandText = $"SELECT {SearchColumns} FROM searches WHERE {condition}";
        bind(command);
        var searches = new List<SearchRecord>();
        using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            searches.Add(ReadSearch(reader));
        }

        return searches;
    }
}
