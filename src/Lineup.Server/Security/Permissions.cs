using Lineup.Core.Security;

namespace Lineup.Server.Security;

/// <summary>
/// What a role allows. Endpoints name a permission (an authorisation policy of the same name), never a role, so the
/// map below is the whole authorisation model and the authorisation-matrix tests read it.
/// </summary>
public static class Permissions
{
    /// <summary>1:N search, 1:1 verification, probe face detection.</summary>
    public const string Search = "search";

    /// <summary>Read the gallery: collections, images, faces, their previews and provenance, statistics.</summary>
    public const string GalleryRead = "gallery.read";

    /// <summary>Read the record of searches (who searched what, when, with what outcome).</summary>
    public const string SearchesRead = "searches.read";

    /// <summary>Users, API keys, collections, ingest.</summary>
    public const string Admin = "admin";

    /// <summary>Any signed-in user (their own identity, signing out).</summary>
    public const string SignedIn = "signed-in";

    public const string ClaimType = "lineup:permission";

    public static IReadOnlyList<string> All { get; } = [Search, GalleryRead, SearchesRead, Admin];

    /// <summary>
    /// Analysts search and read what they found; reviewers read the gallery to check a candidate; supervisors read the
    /// gallery and the search record; auditors read only the search record (they inspect use, not people); admins run
    /// the installation but do not search.
    /// </summary>
    public static IReadOnlySet<string> Of(Role role) => role switch
    {
        Role.Analyst => new HashSet<string> { Search, GalleryRead },
        Role.Reviewer => new HashSet<string> { GalleryRead },
        Role.Supervisor => new HashSet<string> { GalleryRead, SearchesRead },
        Role.Auditor => new HashSet<string> { SearchesRead },
        Role.Admin => new HashSet<string> { GalleryRead, Admin },
        _ => new HashSet<string>(),
    };

    public static IReadOnlySet<string> Of(IEnumerable<Role> roles) => roles.SelectMany(Of).ToHashSet();
}
