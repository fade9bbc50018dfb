using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Lineup.Core.Indexing;

namespace Lineup.Core.Catalog;

/// <summary>
/// Restricts a search to faces whose photo was seen in certain places or times. A face passes when its image, or a
/// near-duplicate copy of it, has at least one sighting that meets <b>every</b> given criterion at once (so
/// "collection press, domain example.com, 2023" means a press sighting on example.com captured in 2023, not three
/// unrelated sightings). Within one criterion the values are alternatives. A null or empty list does not restrict.
/// </summary>
/// <param name="Collections">Collection names (exact); a name the catalog does not know is an error, not an empty result.</param>
/// <param name="Jurisdictions">ISO 3166 codes of the collections (<c>DE</c>, <c>US-IL</c>); a country code also matches its
/// subdivisions (<c>US</c> matches <c>US-IL</c>).</param>
/// <param name="SourceDomains">Hosts (<c>example.com</c>) matched, with their subdomains, against the host of a sighting's
/// source URL or page URL.</param>
/// <param name="CapturedFrom">Earliest capture time (inclusive). Sightings without a capture time never pass a date bound.</param>
/// <param name="CapturedTo">Latest capture time (inclusive).</param>
public sealed partial record SearchFilter(
    IReadOnlyList<string>? Collections = null,
    IReadOnlyList<string>? Jurisdictions = null,
    IReadOnlyList<string>? SourceDomains = null,
    DateTimeOffset? CapturedFrom = null,
    DateTimeOffset? CapturedTo = null)
{
    /// <summary>
    /// Reads a capture-date bound as people type it: a bare date (yyyy-mm-dd; as an upper bound it includes the whole day)
    /// or an ISO 8601 time (UTC unless it says otherwise). Null or blank: no bound.
    /// </summary>
    /// <param name="name">Names the input in the error (an option, a form field).</param>
    /// <exception cref="ArgumentException">The text is neither.</exception>
    public static DateTimeOffset? ParseCaptureBound(string? text, string name, bool endOfDay)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return null;
        }

        if (DateOnly.TryParseExact(text, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var date))
        {
            var start = new DateTimeOffset(date.ToDateTime(TimeOnly.MinValue), TimeSpan.Zero);
            return endOfDay ? start.AddDays(1).AddTicks(-1) : start;
        }

        return DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var time)
            ? time
            : throw new ArgumentException($"{name}: '{text}' is not a date (yyyy-mm-dd) or an ISO 8601 time.");
    }

    /// <summary>The filter that passes every face.</summary>
    public static SearchFilter None { get; } = new();

    /// <summary>True when nothing is restricted.</summary>
    public bool IsEmpty =>
        Collections is null or { Count: 0 } && Jurisdictions is null or { Count: 0 } && SourceDomains is null or { Count: 0 }
        && CapturedFrom is null && CapturedTo is null;

    /// <summary>
    /// Checks every value and returns the filter in canonical form: names trimmed, codes upper case, domains normalised
    /// (<see cref="SourceDomain.Normalize"/>), repeats removed, empty lists as null. Catalogs resolve only normalised
    /// filters; calling it twice is harmless.
    /// </summary>
    /// <exception cref="ArgumentException">An empty collection name, or a date range whose start is after its end.</exception>
    /// <exception cref="FormatException">A jurisdiction that is not an ISO 3166 code, or a domain that is not a bare host.</exception>
    public SearchFilter Normalize()
    {
        var collections = Distinct(Collections, static name =>
            string.IsNullOrWhiteSpace(name)
                ? throw new ArgumentException("A collection name in the filter is empty.", nameof(Collections))
                : name.Trim());
        var jurisdictions = Distinct(Jurisdictions, static code =>
        {
            var canonical = code?.Trim().ToUpperInvariant() ?? string.Empty;
            return JurisdictionCode().IsMatch(canonical)
                ? canonical
                : throw new FormatException($"Jurisdiction '{code}' is not an ISO 3166 code such as DE, GB or US-IL.");
        });
        var domains = Distinct(SourceDomains, static domain =>
            SourceDomain.Normalize(domain ?? throw new FormatException("A source domain in the filter is null.")));

        if (CapturedFrom is { } from && CapturedTo is { } to && from > to)
        {
            throw new ArgumentException(
                $"The capture date range starts after it ends: from {Format(from)} to {Format(to)}.", nameof(CapturedFrom));
        }

        return new SearchFilter(collections, jurisdictions, domains, CapturedFrom, CapturedTo);
    }

    /// <summary>A short human-readable account, for logs and result headers ("no filter" when empty).</summary>
    public string Describe()
    {
        if (IsEmpty)
        {
            return "no filter";
        }

        var parts = new List<string>(4);
        if (Collections is { Count: > 0 })
        {
            parts.Add($"{(Collections.Count == 1 ? "collection" : "collections")} {string.Join(", ", Collections)}");
        }

        if (Jurisdictions is { Count: > 0 })
        {
            parts.Add($"{(Jurisdictions.Count == 1 ? "jurisdiction" : "jurisdictions")} {string.Join(", ", Jurisdictions)}");
        }

        if (SourceDomains is { Count: > 0 })
        {
            parts.Add($"seen on {string.Join(", ", SourceDomains)} (with subdomains)");
        }

        var dates = (CapturedFrom, CapturedTo) switch
        {
            ({ } from, { } to) => $"captured {Format(from)} to {Format(to)}",
            ({ } from, null) => $"captured from {Format(from)}",
            (null, { } to) => $"captured until {Format(to)}",
            _ => null,
        };
        if (dates is not null)
        {
            parts.Add(dates);
        }

        return string.Join("; ", parts);
    }

    /// <summary>Lists by content (a record compares lists by reference), so equal filters are equal.</summary>
    public bool Equals(SearchFilter? other) =>
        other is not null && SameItems(Collections, other.Collections) && SameItems(Jurisdictions, other.Jurisdictions)
        && SameItems(SourceDomains, other.SourceDomains) && CapturedFrom == other.CapturedFrom && CapturedTo == other.CapturedTo;

    public override int GetHashCode()
    {
        var hash = new HashCode();
        foreach (var list in (ReadOnlySpan<IReadOnlyList<string>?>)[Collections, Jurisdictions, SourceDomains])
        {
            foreach (var item in list ?? [])
            {
                hash.Add(item, StringComparer.Ordinal);
            }

            hash.Add('|');
        }

        hash.Add(CapturedFrom);
        hash.Add(CapturedTo);
        return hash.ToHashCode();
    }

    private bool PrintMembers(StringBuilder builder)
    {
        builder.Append(Describe());
        return true;
    }

    private static string[]? Distinct(IReadOnlyList<string>? values, Func<string, string> canonical)
    {
        if (values is null || values.Count == 0)
        {
            return null;
        }

        var result = new List<string>(values.Count);
        foreach (var value in values)
        {
            var item = canonical(value);
            if (!result.Contains(item, StringComparer.Ordinal))
            {
                result.Add(item);
            }
        }

        return [.. result];
    }

    private static bool SameItems(IReadOnlyList<string>? a, IReadOnlyList<string>? b) =>
        (a ?? []).SequenceEqual(b ?? [], StringComparer.Ordinal);

    /// <summary>A date when the instant is a UTC midnight (how date-only bounds arrive), else the full instant.</summary>
    private static string Format(DateTimeOffset time) =>
        time.Offset == TimeSpan.Zero && time.TimeOfDay == TimeSpan.Zero
            ? time.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)
            : time.ToString("yyyy-MM-dd HH:mm:ss zzz", CultureInfo.InvariantCulture);

    /// <summary>Alpha-2 country, optionally with an ISO 3166-2 subdivision; the same rule as <c>ingest --jurisdiction</c>.</summary>
    [GeneratedRegex("^[A-Z]{2}(-[A-Z0-9]{1,3})?$", RegexOptions.CultureInvariant)]
    private static partial Regex JurisdictionCode();
}

/// <summary>A catalog that can turn a <see cref="SearchFilter"/> into the face ids that pass it.</summary>
public interface ISearchFilterCatalog
{
    /// <summary>
    /// The ids of the faces (of the catalog's model, the ones the index holds) that pass <paramref name="filter"/>,
    /// ready for <see cref="IVectorIndex.Search(ReadOnlySpan{float}, Span{VectorHit}, FaceKeySet)"/>. An empty filter
    /// gives <see cref="FaceKeySet.All"/>.
    /// </summary>
    /// <exception cref="CatalogException">The filter names a collection the catalog does not have.</exception>
    /// <exception cref="ArgumentException">The filter has an invalid value (see <see cref="SearchFilter.Normalize"/>).</exception>
    /// <exception cref="FormatException">As above.</exception>
    Task<FaceKeySet> ResolveAsync(SearchFilter filter, CancellationToken ct = default);
}
