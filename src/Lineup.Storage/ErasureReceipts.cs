using System.Globalization;
using System.Text;
using Lineup.Core.Audit;
using Lineup.Core.Catalog;

namespace Lineup.Storage;

/// <summary>
/// The checks and the audit receipt of an erasure, shared by the SQLite and PostgreSQL catalogs: the receipt is the
/// record that the data is gone, so both backends must refuse the same requests and write the same details whatever
/// their deletes look like.
/// </summary>
internal static class ErasureReceipts
{
    /// <summary>The faces an erasure asks for, distinct and in ascending order; an empty list is refused.</summary>
    public static List<long> WantedFaces(IReadOnlyList<long> faceIds)
    {
        if (faceIds.Count == 0)
        {
            throw new ArgumentException("Give at least one face id to erase.", nameof(faceIds));
        }

        return [.. faceIds.Distinct().Order()];
    }

    /// <summary>Refuses the whole erasure when any of <paramref name="wanted"/> is not among the <paramref name="known"/> faces.</summary>
    public static void ThrowIfUnknownFaces(List<long> wanted, IReadOnlyList<long> known)
    {
        if (known.Count != wanted.Count)
        {
            var unknown = wanted.Except(known).ToList();
            throw new CatalogException(unknown.Count == 1
                ? string.Create(CultureInfo.InvariantCulture, $"There is no face {unknown[0]}.")
                : $"There are no faces {string.Join(", ", unknown.Take(20).Select(i => i.ToString(CultureInfo.InvariantCulture)))}{(unknown.Count > 20 ? ", …" : "")}; nothing was erased.");
        }
    }

    /// <summary>The details of the receipt (action <see cref="AuditActions.Erasure"/>): counts, then the ids erased.</summary>
    public static AuditDetails Details(IReadOnlyList<long> images, IReadOnlyList<long> faces, long sightings) => AuditDetails.Empty
        .With("images", (long)images.Count)
        .With("faces", (long)faces.Count)
        .With("sightings", sightings)
        .With("image_ids", IdList(images))
        .With("face_ids", IdList(faces));

    /// <summary>Ids as "1,2,3" for the audit receipt, cut to the longest text a detail may hold.</summary>
    public static string IdList(IReadOnlyList<long> ids)
    {
        var builder = new StringBuilder();
        foreach (var id in ids)
        {
            var text = id.ToString(CultureInfo.InvariantCulture);
            if (builder.Length + text.Length + 2 > AuditDetails.MaxTextLength)
            {
                builder.Append(",…");
                break;
            }

            builder.Append(builder.Length == 0 ? "" : ",").Append(text);
        }

        return builder.ToString();
    }
}
