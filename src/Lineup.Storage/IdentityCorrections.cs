using System.Globalization;

namespace Lineup.Storage;

/// <summary>
/// The argument checks of analysts' corrections to the partition, shared by the SQLite and PostgreSQL catalogs so that
/// both refuse the same corrections with the same messages; each reads the identity's faces its own way.
/// </summary>
internal static class IdentityCorrections
{
    /// <summary>An analyst's name for an identity as kept: trimmed, null when blank; too long or with control characters is refused.</summary>
    public static string? IdentityName(string? name)
    {
        name = string.IsNullOrWhiteSpace(name) ? null : name.Trim();
        if (name is not null)
        {
            if (name.Length > SqliteCatalog.MaxIdentityNameLength)
            {
                throw new ArgumentException($"The name is {name.Length} characters; at most {SqliteCatalog.MaxIdentityNameLength} are allowed.", nameof(name));
            }

            SqliteCatalog.RequireNetworkText(name, "name", nameof(name));
        }

        return name;
    }

    /// <summary>Refuses merging an identity into itself.</summary>
    public static void CheckMerge(long into, long from)
    {
        if (into == from)
        {
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"Identity {into} cannot be merged into itself."), nameof(from));
        }
    }

    /// <summary>The faces a split moves; an empty list, or one naming a face twice, is refused before anything is read.</summary>
    public static HashSet<long> SplitFaces(IReadOnlyList<long> faceIds)
    {
        if (faceIds.Count == 0)
        {
            throw new ArgumentException("Give at least one face to split off.", nameof(faceIds));
        }

        var split = new HashSet<long>();
        foreach (var face in faceIds)
        {
            if (!split.Add(face))
            {
                throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"Face {face} is listed twice."), nameof(faceIds));
            }
        }

        return split;
    }

    /// <summary>
    /// Refuses a split naming a face outside identity <paramref name="identityId"/> (whose faces are
    /// <paramref name="members"/>), or one that would leave the identity empty.
    /// </summary>
    public static void CheckSplit(long identityId, IReadOnlyList<long> faceIds, HashSet<long> split, HashSet<long> members)
    {
        foreach (var face in faceIds)
        {
            if (!members.Contains(face))
            {
                throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"Face {face} is not in identity {identityId}."), nameof(faceIds));
            }
        }

        if (split.Count == members.Count)
        {
            throw new ArgumentException(
                string.Create(CultureInfo.InvariantCulture, $"Splitting off every face of identity {identityId} leaves it empty; keep at least one."), nameof(faceIds));
        }
    }
}
