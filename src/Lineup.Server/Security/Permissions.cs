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

    /// <summary>Read cases: everyone reads the cases they are assigned to; holders of <see cref="CasesManage"/> or
    /// <see cref="Oversight"/> read every case.</summary>
    public const string CasesRead = "cases.read";

    /// <summary>Open, assign, reauthorise, hold and close cases.</summary>
    public const string CasesManage = "cases.manage";

    /// <summary>Confirm or reject candidates of searches in assigned cases (the two-person rule).</summary>
    public const string Review = "review";

    /// <summary>Export a confirmed lead (never an unconfirmed candidate).</summary>
    public const string Export = "export";

    /// <summary>Disclosure reports of a case.</summary>
    public const string Reports = "reports";

    /// <summary>The supervisor view (activity and flags) and the audit log's verification status.</summary>
    public const string Oversight = "oversight";

    /// <summary>Retention settings, legal-hold-aware sweeps.</summary>
    public const string Retention = "retention";

    /// <summary>The opt-out registry.</summary>
    public const string OptOut = "optout";

    /// <summary>Network analysis in an open case: identities, associates, paths, communities, corrections, exports.</summary>
    public const string Network = "network";

    /// <summary>Any signed-in user (their own identity, signing out).</summary>
    public const string SignedIn = "signed-in";

    public const string ClaimType = "lineup:permission";

    public static IReadOnlyList<string> All { get; } =
        [Search, GalleryRead, SearchesRead, Admin, CasesRead, CasesManage, Review, Export, Reports, Oversight, Retention, OptOut, Network];

    /// <summary>
    /// Analysts search in their cases, read what they found, query the network in them and export confirmed leads; reviewers read the gallery and
    /// decide candidates in their cases; supervisors run cases, read the gallery, the search record, the activity flags
    /// and reports, query the network and export; auditors read the search record, the activity, the audit status and reports (they
    /// inspect use, not people); admins run the installation (users, ingest, retention, opt-outs, cases) but do not
    /// search or review.
    /// </summary>
    public static IReadOnlySet<string> Of(Role role) => role switch
    {
        Role.Analyst => new HashSet<string> { Search, GalleryRead, CasesRead, Export, Network },
        Role.Reviewer => new HashSet<string> { GalleryRead, CasesRead, Review },
        Role.Supervisor => new HashSet<string> { GalleryRead, SearchesRead, CasesRead, CasesManage, Reports, Oversight, Export, Network },
        Role.Auditor => new HashSet<string> { SearchesRead, CasesRead, Reports, Oversight },
        Role.Admin => new HashSet<string> { GalleryRead, Admin, CasesRead, CasesManage, Retention, OptOut },
        _ => new HashSet<string>(),
    };

    public static IReadOnlySet<string> Of(IEnumerable<Role> roles) => roles.SelectMany(Of).ToHashSet();
}
