using Lineup.Core.Catalog;

namespace Lineup.Storage;

/// <summary>
/// The refusal of a search filter naming collections the catalog lacks, shared by the SQLite and PostgreSQL catalogs so
/// that both say the same thing; each looks the names up its own way (SQLite reads every name, PostgreSQL only the
/// filter's and then the first few).
/// </summary>
internal static class UnknownCollections
{
    /// <summary>How many known collection names an "unknown collection" error lists, so a large catalog's error stays short.</summary>
    public const int KnownNamesInError = 20;

    /// <summary>
    /// The error for <paramref name="unknown"/> (non-empty), listing the first <see cref="KnownNamesInError"/> of
    /// <paramref name="known"/> (the catalog's names in byte order, possibly already cut to that many) and how many of
    /// the <paramref name="knownTotal"/> are left out.
    /// </summary>
    public static CatalogException Error(IReadOnlyList<string> unknown, IReadOnlyList<string> known, long knownTotal)
    {
        var shown = known.Take(KnownNamesInError).ToList();
        var listed = shown.Count == 0
            ? "the catalog has no collections"
            : $"the catalog has {string.Join(", ", shown)}{(knownTotal > shown.Count ? $" and {knownTotal - shown.Count} more" : string.Empty)}";
        return new CatalogException(
            $"Unknown {(unknown.Count == 1 ? "collection" : "collections")} {string.Join(", ", unknown.Select(n => $"'{n}'"))} in the search filter; {listed}.");
    }
}
